"""The Bolt app: the listeners of bot/listeners on top of a Bot."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse

from stacks.errors import ConfigError

from .gate import AckFirst
from .identity import SlackIdentity
from .interaction import BOT_KEY
from .listeners import register_listeners
from .runtime import Bot

LISTENER_THREADS = 16  # listeners only ack and hand off, but an ack waits for a free one


def build_app(bot: Bot, *, socket_mode: bool = False) -> App:
    secret = bot.settings.slack_signing_secret
    if not socket_mode and secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set: HTTP mode needs it to check that requests come from "
                          "Slack (or set SLACK_APP_TOKEN to use Socket Mode)")
    identity = SlackIdentity(bot.client)
    identity.verify()
    app = GatedApp(
        bot.gate,
        client=bot.client,
        authorize=identity.authorize(),  # Slack away at start does not stop the bot (bot/identity.py)
        signing_secret=secret.get_secret_value() if secret else "",
        process_before_response=False,  # ack first; the listener goes on after the answer left
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="yadockeri-listener"),
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("yadockeri.bolt"),
    )

    def with_bot(context: BoltContext, next: Callable[[], Any]) -> Any:
        context[BOT_KEY] = bot
        return next()

    app.use(with_bot)
    register_listeners(app)
    return app


class GatedApp(App):
    """Bolt's App whose every request (HTTP and Socket Mode both call dispatch) holds the bot's
    gate until it is acked: the bot's own work waits meanwhile.

    Not a Bolt middleware: a global middleware's `next()` only marks that the chain goes on; Bolt
    runs the listener, and waits for its ack, after the whole chain has returned (App.dispatch,
    slack_bolt 1.x), so a middleware would let go of the gate before any listener ran. Wrapping
    the ack instead would leak the gate on every request no listener acks (unhandled, an error,
    Bolt's ack timeout): only dispatch sees every request end. tests/test_bot_gate.py holds this."""

    def __init__(self, gate: AckFirst, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gate = gate

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        with self._gate.request():
            return super().dispatch(req)
