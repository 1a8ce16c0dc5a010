"""The Bolt app: the listeners of bot/listeners on top of a Bot."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse

from stacks.errors import ConfigError

from .listeners import register_listeners
from .runtime import Bot

LISTENER_THREADS = 16  # listeners only ack and hand off, but an ack waits for a free one


def build_app(bot: Bot, *, socket_mode: bool = False) -> App:
    secret = bot.settings.slack_signing_secret
    if not socket_mode and secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set: HTTP mode needs it to check that requests come from "
                          "Slack (or set SLACK_APP_TOKEN to use Socket Mode)")
    app = App(
        client=bot.client,
        signing_secret=secret.get_secret_value() if secret else "",
        process_before_response=False,  # ack first; the listener goes on after the answer left
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="yadockeri-listener"),
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("yadockeri.bolt"),
    )

    def with_bot(context: BoltContext, next: Callable[[], Any]) -> Any:
        context["yadockeri"] = bot
        return next()

    app.use(with_bot)
    register_listeners(app)
    dispatch = app.dispatch

    def dispatch_acking_first(request: BoltRequest) -> BoltResponse:
        with bot.gate.request():  # the bot's work waits while requests are being acked
            return dispatch(request)

    app.dispatch = dispatch_acking_first  # type: ignore[method-assign]  (HTTP and Socket Mode both call it)
    return app
