"""How the bot is served: HTTP mode (waitress, a production WSGI server, through Bolt's WSGI
adapter) or Socket Mode (a WebSocket to Slack, no public endpoint). Both also answer
GET /healthz on the bot port: 200 while the bot is serving, 503 otherwise.

Anyone who can reach the HTTP port can send anything, so nothing is parsed before it is known
to come from Slack: waitress refuses bodies over MAX_BODY before buffering them (413), and the
WSGI layer in front of Bolt reads at most MAX_BODY bytes, checks Slack's signature over those
raw bytes (401 if it is wrong, missing or older than 5 minutes) and only then hands them to
Bolt, which parses them.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
HTTP_THREADS = 16

# Limits of the HTTP port. Slack's requests are a few KB (a view submission with its blocks
# some tens of KB), so a body over MAX_BODY is not Slack's.
MAX_BODY = 256 * 1024
MAX_HEADERS = 16 * 1024
INBUF_OVERFLOW = 64 * 1024  # bodies above this (and <= MAX_BODY) wait in a temp file, not in memory
CHANNEL_TIMEOUT = 15  # seconds a connection may stay silent (mid-request too) before it is closed
CLEANUP_INTERVAL = 5  # how often waitress looks for such connections
CONNECTION_LIMIT = 100  # open connections; more wait in the listen backlog until one closes

Response = Iterable[bytes]


def _plain(start_response: Callable, status: str, text: str) -> Response:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


class BodyTooLarge(Exception):
    pass


def read_body(environ: dict, limit: int = MAX_BODY) -> bytes:
    """The request body, read whole but never more than `limit` bytes: BodyTooLarge (413) when the
    declared length is over it (nothing read then) or more arrives; ValueError for a bad length."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared:
        length = int(declared)  # ValueError: not a number
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise BodyTooLarge
    elif not environ.get("wsgi.input_terminated"):
        return b""  # PEP 3333: no length and no terminated stream means no body
    else:
        length = limit + 1  # a dechunked stream: read until it ends, one byte past the limit at most
    stream = environ["wsgi.input"]
    chunks, size = [], 0
    while size < length:
        chunk = stream.read(min(length - size, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise BodyTooLarge
    return b"".join(chunks)


def slack_endpoint(app: App, signing_secret: str, *, limit: int = MAX_BODY) -> Callable:
    """Bolt's WSGI adapter behind a bounded read and Slack's signature check (see the module)."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)
    verifier = SignatureVerifier(signing_secret)

    def endpoint(environ: dict, start_response: Callable) -> Response:
        if environ.get("REQUEST_METHOD") != "POST":
            return _plain(start_response, "404 Not Found", "Not Found\n")  # Slack only POSTs
        try:
            body = read_body(environ, limit)
        except BodyTooLarge:
            return _plain(start_response, "413 Request Entity Too Large", "Request body too large\n")
        except ValueError:
            return _plain(start_response, "400 Bad Request", "Bad Content-Length\n")
        if not _signed(verifier, body, environ):
            return _plain(start_response, "401 Unauthorized", "Invalid request signature\n")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return bolt(environ, start_response)

    return endpoint


def _signed(verifier: SignatureVerifier, body: bytes, environ: dict) -> bool:
    """v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}"), compared in constant time, timestamp
    within 5 minutes (slack_sdk's SignatureVerifier, as Bolt checks it)."""
    try:
        return verifier.is_valid(body, environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                                 environ.get("HTTP_X_SLACK_SIGNATURE"))
    except (ValueError, UnicodeDecodeError):  # a timestamp that is not a number, a body that is not UTF-8
        return False


def wsgi_app(app: App | None, healthy: Callable[[], bool], *, signing_secret: str | None = None) -> Callable:
    """/slack/events to Bolt (commands, interactivity, events); /healthz; anything else 404."""
    slack = None
    if app is not None:
        if not signing_secret:
            raise ValueError("the Slack endpoint needs the signing secret")
        slack = slack_endpoint(app, signing_secret)

    def application(environ: dict, start_response: Callable) -> Response:
        path = environ.get("PATH_INFO") or "/"
        if path == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            ok = healthy()
            return _plain(start_response, "200 OK" if ok else "503 Service Unavailable",
                          "ok\n" if ok else "not serving\n")
        if slack is not None and path == EVENTS_PATH:
            return slack(environ, start_response)
        return _plain(start_response, "404 Not Found", "Not Found\n")

    return application


class HttpServer:
    """waitress serving a WSGI app in a thread; `stop()` ends it."""

    def __init__(self, application: Callable, *, host: str = "0.0.0.0", port: int = 3000,
                 threads: int = HTTP_THREADS) -> None:
        # One host and port: a single-socket server, which has effective_port and _map (its stubs
        # type the union with the multi-socket one, which has neither).
        self._server: Any = create_server(
            application, host=host, port=port, threads=threads, ident="yadockeri",
            # waitress refuses a body of max_request_body_size bytes or more: MAX_BODY itself passes
            max_request_body_size=MAX_BODY + 1, max_request_header_size=MAX_HEADERS,
            inbuf_overflow=INBUF_OVERFLOW, channel_timeout=CHANNEL_TIMEOUT, cleanup_interval=CLEANUP_INTERVAL,
            connection_limit=CONNECTION_LIMIT,
        )
        self._thread = threading.Thread(target=self._run, name="yadockeri-http", daemon=True)
        self.serving = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def _run(self) -> None:
        self.serving.set()
        try:
            self._server.run()
        except Exception:  # closing the sockets while the loop polls them
            log.debug("waitress loop ended", exc_info=True)
        finally:
            self.serving.clear()

    def start(self) -> HttpServer:
        self._thread.start()
        self.serving.wait(5)
        return self

    def stop(self) -> None:
        self.serving.clear()
        self._server.task_dispatcher.shutdown()
        wasyncore.close_all(self._server._map)
        self._thread.join(timeout=10)


def serve_http(app: App, *, signing_secret: str, host: str = "0.0.0.0", port: int = 3000,
               threads: int = HTTP_THREADS) -> HttpServer:
    """HTTP mode: Slack posts to http(s)://HOST:PORT/slack/events."""
    holder: list[HttpServer] = []
    server = HttpServer(wsgi_app(app, lambda: bool(holder) and holder[0].serving.is_set(),
                                 signing_secret=signing_secret),
                        host=host, port=port, threads=threads)
    holder.append(server)
    return server.start()


class SocketModeServer:
    """Socket Mode: the bot connects to Slack; /healthz says whether it is connected."""

    def __init__(self, app: App, app_token: str, *, host: str = "127.0.0.1", port: int | None = 3000) -> None:
        self.handler = SocketModeHandler(app, app_token=app_token, concurrency=HTTP_THREADS)
        self.health: HttpServer | None = None
        if port is not None:
            self.health = HttpServer(wsgi_app(None, self.connected), host=host, port=port, threads=2)

    def connected(self) -> bool:
        try:
            return bool(self.handler.client.is_connected())
        except Exception:  # noqa: BLE001 - health: any failure of the client means not connected
            return False

    def start(self) -> SocketModeServer:
        self.handler.connect()
        if self.health is not None:
            self.health.start()
        return self

    def stop(self) -> None:
        if self.health is not None:
            self.health.stop()
        self.handler.close()
