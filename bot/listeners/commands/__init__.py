from slack_bolt import App

from .yadockeri_command import yadockeri_command


def register(app: App) -> None:
    app.command("/yadockeri")(yadockeri_command)
