from slack_bolt import App

from ...blocks.modals import DEPLOY_CALLBACK, ENV_CALLBACK
from .deploy_submitted import deploy_submitted
from .env_submitted import env_submitted


def register(app: App) -> None:
    app.view(DEPLOY_CALLBACK)(deploy_submitted)
    app.view(ENV_CALLBACK)(env_submitted)
