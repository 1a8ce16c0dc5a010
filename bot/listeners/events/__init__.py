from slack_bolt import App

from .app_home_opened import app_home_opened
from .app_mention import app_mention


def register(app: App) -> None:
    app.event("app_home_opened")(app_home_opened)
    app.event("app_mention")(app_mention)
