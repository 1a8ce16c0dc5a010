"""Listeners, registered the way slack-samples/bolt-python-starter-template does it: one
package per kind, one callback per file. A callback parses, acks, calls one operation (which
calls one engine function) and renders the answer; slow work goes to the bot's pool."""

from slack_bolt import App

from . import actions, commands, events, views


def register_listeners(app: App) -> None:
    commands.register(app)
    actions.register(app)
    views.register(app)
    events.register(app)
