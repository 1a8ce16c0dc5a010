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
        if socket_mode:
            assert settings.slack_app_token is not None
            server = SocketModeServer(app, settings.slack_app_token.get_secret_value(), port=settings.bot_port).start()
            print(f"yadockeri bot: Socket Mode connected; health on :{settings.bot_port}/healthz", flush=True)
        else:
            server = serve_http(app, port=settings.bot_port)
            print(f"yadockeri bot: HTTP mode on :{server.port}/slack/events (health: /healthz)", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        print("yadockeri bot: stopping", file=sys.stderr, flush=True)
        if server is not None:
            server.stop()
        scheduler.stop()
        bot.close()
    return 0
