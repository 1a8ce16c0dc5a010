import re

from slack_bolt import App

from ...blocks.common import DEPLOY_FORM, DESTROY, DESTROY_CANCEL, DESTROY_CONFIRMED, ENV, KEEP_FOR, LOGS, OPEN, REDEPLOY, STATUS
from .deploy_form_button import deploy_form_button
from .destroy_button import destroy_button
from .destroy_prompt import destroy_cancel, destroy_confirmed
from .env_button import env_button
from .home_page import home_page
from .keep_button import keep_button
from .list_page import list_page
from .logs_button import logs_button
from .open_button import open_button
from .redeploy_button import redeploy_button
from .status_button import status_button


def register(app: App) -> None:
    app.action(OPEN)(open_button)
    app.action(REDEPLOY)(redeploy_button)
    app.action(ENV)(env_button)
    app.action(LOGS)(logs_button)
    app.action(DESTROY)(destroy_button)
    app.action(DESTROY_CONFIRMED)(destroy_confirmed)
    app.action(DESTROY_CANCEL)(destroy_cancel)
    app.action(DEPLOY_FORM)(deploy_form_button)
    app.action(STATUS)(status_button)
    for keep_action in KEEP_FOR:
        app.action(keep_action)(keep_button)
    app.action(re.compile(r"^list_page_(prev|next)$"))(list_page)
    app.action(re.compile(r"^home_page_(prev|next)$"))(home_page)
