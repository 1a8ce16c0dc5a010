"""How the bot is served: HTTP mode (waitress, a production WSGI server, through Bolt's WSGI
adapter) or Socket Mode (a WebSocket to Slack, no public endpoint). Both also answer
GET /healthz on the bot port: 200 while the bot is serving, 503 otherwise."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import create_server
from waitress import wasyncore

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
HTTP_THREADS = 16


def wsgi_app(app: App | None, healthy: Callable[[], bool]) -> Callable:
    """/slack/events to Bolt (commands, interactivity, events); /healthz; anything else 404."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH) if app is not None else None

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            ok = healthy()
            body = b"ok\n" if ok else b"not serving\n"
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [body]
        if slack is not None and path == EVENTS_PATH:
            return slack(environ, start_response)
        body = b"Not Found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                          ("Content-Length", str(len(body)))])
        return [body]

    return application


class HttpServer:
    """waitress serving a WSGI app in a thread; `stop()` ends it."""

    def __init__(self, application: Callable, *, host: str = "0.0.0.0", port: int = 3000,
                 threads: int = HTTP_THREADS) -> None:
        self._server = create_server(application, host=host, port=port, threads=threads, ident="yadockeri",
                                     connection_limit=1000, channel_timeout=30)
        self._thread = threading.Thread(target=self._run, name="yadockeri-http", daemon=True)
        self.serving = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def _run(self) -> None:
        self.serving.set()
        try:
            self._server.run()
        except Exception:  # closing the sockets while the loop polls them
            log.debug("waitress loop ended", exc_info=True)
        finally:
            self.serving.clear()

    def start(self) -> "HttpServer":
        self._thread.start()
        self.serving.wait(5)
        return self

    def stop(self) -> None:
        self.serving.clear()
        self._server.task_dispatcher.shutdown()  # type: ignore[union-attr]
        wasyncore.close_all(self._server._map)  # type: ignore[union-attr]
        self._thread.join(timeout=10)


def serve_http(app: App, *, host: str = "0.0.0.0", port: int = 3000, threads: int = HTTP_THREADS) -> HttpServer:
    """HTTP mode: Slack posts to http(s)://HOST:PORT/slack/events."""
    holder: list[HttpServer] = []
    server = HttpServer(wsgi_app(app, lambda: bool(holder) and holder[0].serving.is_set()),
                        host=host, port=port, threads=threads)
    holder.append(server)
    return server.start()


class SocketModeServer:
    """Socket Mode: the bot connects to Slack; /healthz says whether it is connected."""

    def __init__(self, app: App, app_token: str, *, host: str = "0.0.0.0", port: int | None = 3000) -> None:
        self.handler = SocketModeHandler(app, app_token=app_token, concurrency=HTTP_THREADS)
        self.health: HttpServer | None = None
        if port is not None:
            self.health = HttpServer(wsgi_app(None, self.connected), host=host, port=port, threads=2)

    def connected(self) -> bool:
        try:
            return bool(self.handler.client.is_connected())
        except Exception:
            return False

    def start(self) -> "SocketModeServer":
        self.handler.connect()
        if self.health is not None:
            self.health.start()
        return self

    def stop(self) -> None:
        if self.health is not None:
            self.health.stop()
        self.handler.close()
