"""`yadockeri bot`: run the Slack bot until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from stacks.engine import Engine

from .app import build_app
from .runtime import Bot
from .server import HttpServer, SocketModeServer, serve_http

log = logging.getLogger(__name__)


def bind_address(configured: str | None, *, socket_mode: bool) -> str:
    """YADOCKERI_BOT_BIND, else: HTTP mode listens on every address (Slack posts to it through
    whatever is in front); Socket Mode only serves /healthz, which the container's own
    HEALTHCHECK asks on 127.0.0.1."""
    if configured:
        return configured
    return "127.0.0.1" if socket_mode else "0.0.0.0"


def run_bot(engine: Engine) -> int:
    """Socket Mode when SLACK_APP_TOKEN is set, else HTTP mode on YADOCKERI_BOT_PORT; with the
    scheduler (sleep, wake, reap; stacks/scheduler.py) running beside it."""
    from stacks.scheduler import Scheduler

    logging.getLogger("yadockeri").setLevel(logging.INFO)
    logging.getLogger("bot").setLevel(logging.INFO)
    settings = engine.settings
    socket_mode = settings.slack_app_token is not None
    bot = Bot(engine)
    app = build_app(bot, socket_mode=socket_mode)
    bot.start(engine.interrupted_at_start)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = Scheduler(engine).start()
    server: SocketModeServer | HttpServer | None = None
    try:
        host = bind_address(settings.bot_bind, socket_mode=socket_mode)
        if socket_mode:
            assert settings.slack_app_token is not None
            server = SocketModeServer(app, settings.slack_app_token.get_secret_value(), host=host,
                                      port=settings.bot_port).start()
            print(f"yadockeri bot: Socket Mode connected; health on {host}:{settings.bot_port}/healthz", flush=True)
        else:
            assert settings.slack_signing_secret is not None  # build_app refused to start without it
            server = serve_http(app, signing_secret=settings.slack_signing_secret.get_secret_value(), host=host,
                                port=settings.bot_port)
            print(f"yadockeri bot: HTTP mode on {host}:{server.port}/slack/events (health: /healthz)", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        print("yadockeri bot: stopping", file=sys.stderr, flush=True)
        if server is not None:
            server.stop()
        scheduler.stop()
        bot.close()
    return 0
