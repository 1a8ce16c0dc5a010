"""The one thing the router may ask of yadockeri: "what about stack X?", when it cannot reach
X's web process. It answers a page for that state, and wakes X if it sleeps.

Served on its own port (YADOCKERI_STATUS_PORT), apart from the Slack endpoint. It answers
`GET /_yadockeri/stack/<name>` and nothing else; the router sends it only the stack label
(no client headers, cookies, paths or bodies), and the page never says more than the state.
The router proves itself with a token (X-Yadockeri-Router): without it, 403 at once, before
any lookup or wake.

Whatever can reach the port may be hostile (stack containers reach it through the host), and
the process serving it also runs the bot and the scheduler. So StatusServer reads request
heads in one thread with a selector, and only complete heads take a worker: a connection has
REQUEST_SECONDS to send its whole head (at most MAX_HEAD bytes, GET or HEAD, no body) or is
closed; at most MAX_CONNECTIONS are open at once, and when a new one arrives at the limit, the
oldest still sending its head is closed to make room (so a flood of half requests cannot keep
the router out: its own request is complete within a moment of connecting).
"""

from __future__ import annotations

import errno
import hmac
import html
import io
import logging
import re
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import unquote

from .router import PAGE_HEADER, ROUTER_TOKEN_HEADER, STACK_LABEL_RE, STATUS_PATH
from .store import StackRecord

log = logging.getLogger(__name__)

_PATH = re.compile(rf"^{re.escape(STATUS_PATH)}(?P<stack>{STACK_LABEL_RE})$")
RETRY_SECONDS = 5
_TOKEN_KEY = "HTTP_" + ROUTER_TOKEN_HEADER.upper().replace("-", "_")

# Limits of the status port (see the module's docstring).
REQUEST_SECONDS = 5.0  # to send the whole request head, and again to take the answer
MAX_HEAD = 8 * 1024  # request line and headers
MAX_CONNECTIONS = 256  # open at once
WORKERS = 4  # complete requests answered at once (a database lookup, maybe a wake)


@dataclass(frozen=True)
class Page:
    status: int
    kind: str  # the X-Yadockeri-Page header: sleeping, deploying, failed, unavailable, unknown-stack
    title: str
    message: str
    retry: bool  # Retry-After, and a browser page that refreshes itself


def page_for(stack: str, record: StackRecord | None) -> Page:
    """Pure: which page a stack in this state gets."""
    if record is None:
        return Page(404, "unknown-stack", f"No stack named {stack}",
                    f"No stack named {stack} here. Deploy one with /yadockeri deploy {stack} <branch> in Slack "
                    f"or yadockeri deploy {stack} <branch>.", False)
    if record.asleep or record.state == "sleeping":
        return Page(503, "sleeping", f"{stack} is waking up",
                    f"{stack} was asleep because nobody used it for a while. It is waking up now: "
                    "this page reloads itself in a few seconds.", True)
    if record.state == "deploying":
        return Page(503, "deploying", f"{stack} is being deployed",
                    f"{stack} is being deployed right now; this page reloads itself.", True)
    if record.state == "destroying":
        return Page(503, "destroying", f"{stack} is being destroyed", f"{stack} is being destroyed.", False)
    if record.state == "failed" or record.commit is None:
        return Page(503, "failed", f"{stack} is not running",
                    f"The last deploy of {stack} failed. Its thread in Slack, or "
                    f"yadockeri status {stack}, says why; /yadockeri redeploy {stack} tries again.", False)
    return Page(503, "unavailable", f"{stack} is not answering",
                f"{stack} runs, but its web process is not answering right now (it may be restarting); "
                "this page reloads itself.", True)


def render(page: Page, *, browser: bool) -> tuple[str, list[tuple[str, str]], bytes]:
    headers = [(PAGE_HEADER, page.kind), ("Cache-Control", "no-store")]
    if page.retry:
        headers.append(("Retry-After", str(RETRY_SECONDS)))
    if not browser:
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
        return _status_line(page.status), headers, (page.message + "\n").encode()
    refresh = f'<meta http-equiv="refresh" content="{RETRY_SECONDS}">' if page.retry else ""
    body = (f"<!doctype html><html lang=en><head><meta charset=utf-8>{refresh}<title>{html.escape(page.title)}</title>"
            f"</head><body style=\"font-family: sans-serif; margin: 3em\"><h1>{html.escape(page.title)}</h1>"
            f"<p>{html.escape(page.message)}</p><p><small>yadockeri</small></p></body></html>\n")
    headers.append(("Content-Type", "text/html; charset=utf-8"))
    return _status_line(page.status), headers, body.encode()


def _status_line(status: int) -> str:
    return {404: "404 Not Found", 503: "503 Service Unavailable"}[status]


class StatusApp:
    """The WSGI app: a stack's page, and a wake-up for a sleeping stack."""

    def __init__(self, lookup: Callable[[str], StackRecord | None], wake: Callable[[str], object], *,
                 router_token: str | None = None) -> None:
        self.lookup = lookup
        self.wake = wake
        self._token = router_token.encode() if router_token else None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self._token is not None and not hmac.compare_digest(
                environ.get(_TOKEN_KEY, "").encode("latin-1", "replace"), self._token):
            start_response("403 Forbidden", [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]  # not the router: no lookup, no wake
        match = _PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or match is None:
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        stack = match.group("stack")
        record = self.lookup(stack)
        page = page_for(stack, record)
        if page.kind == "sleeping":
            try:
                self.wake(stack)
            except Exception:  # the page still says it wakes; the next request tries again
                log.exception("waking %s failed", stack)
        status, headers, body = render(page, browser="text/html" in environ.get("HTTP_ACCEPT", ""))
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]


# The server ------------------------------------------------------------------------------------
@dataclass
class _Pending:
    """A connection still sending its request head."""

    sock: socket.socket
    address: tuple
    deadline: float
    head: bytearray = field(default_factory=bytearray)


class _BadRequest(Exception):
    def __init__(self, status: str, extra: list[tuple[str, str]] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.extra = extra or []


class StatusServer:
    """StatusApp on a port, in a thread (see the module for its limits). start()/stop()."""

    def __init__(self, app: Callable, *, host: str = "0.0.0.0", port: int = 8081,
                 max_connections: int = MAX_CONNECTIONS, request_seconds: float = REQUEST_SECONDS,
                 max_head: int = MAX_HEAD, workers: int = WORKERS) -> None:
        self.app = app
        self.max_connections = max_connections
        self.request_seconds = request_seconds
        self.max_head = max_head
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=128)
        self._listener.setblocking(False)
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, "wakeup")
        self._pending: dict[socket.socket, _Pending] = {}  # oldest first: deadlines in insertion order
        self._answering = 0  # connections a worker has
        self._lock = threading.Lock()
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="yadockeri-status")
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="yadockeri-status", daemon=True)

    @property
    def host(self) -> str:
        return str(self._listener.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pending) + self._answering

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._thread.is_alive():
            self._wakeup_w.send(b"x")
            self._thread.join(5)
        self._workers.shutdown(wait=True)  # each worker is bounded by request_seconds
        for sock in (self._listener, self._wakeup_r, self._wakeup_w):
            sock.close()
        self._selector.close()

    # The selector thread: accept, read heads, expire -----------------------------------------
    def _loop(self) -> None:
        while not self._stopping:
            try:
                self._turn()
            except Exception:  # a bug must not leave the router without its endpoint
                log.exception("status endpoint loop failed; going on")
                time.sleep(0.1)
        for pending in list(self._pending.values()):
            self._drop(pending)

    def _turn(self) -> None:
        timeout = 1.0
        if self._pending:
            timeout = max(0.0, min(timeout, next(iter(self._pending.values())).deadline - time.monotonic()))
        for key, _ in self._selector.select(timeout):
            if key.data == "accept":
                self._accept()
            elif key.data == "wakeup":
                self._wakeup_r.recv(64)
            else:
                self._read(self._pending.get(cast(socket.socket, key.fileobj)))
        self._expire()

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of file descriptors, say: try again a little later
                log.warning("status endpoint cannot accept: %s", error)
                time.sleep(0.1)  # the listener stays readable: do not spin on it
                return
            if self.open_connections >= self.max_connections:
                if not self._pending:  # every one is being answered: this one waits for nothing
                    sock.close()
                    continue
                self._drop(next(iter(self._pending.values())))  # the oldest half request makes room
            sock.setblocking(False)
            pending = _Pending(sock, address, time.monotonic() + self.request_seconds)
            with self._lock:
                self._pending[sock] = pending
            self._selector.register(sock, selectors.EVENT_READ, "read")

    def _read(self, pending: _Pending | None) -> None:
        if pending is None:
            return
        try:
            data = pending.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(pending)
            return
        pending.head += data
        end = pending.head.find(b"\r\n\r\n")
        if end < 0 and len(pending.head) <= self.max_head:
            return
        self._selector.unregister(pending.sock)
        with self._lock:
            del self._pending[pending.sock]
            self._answering += 1
        head = bytes(pending.head[:end]) if 0 <= end <= self.max_head else None
        try:
            self._workers.submit(self._answer, pending, head)
        except RuntimeError:  # stopping
            self._done(pending.sock)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if oldest.deadline > now:
                return
            self._drop(oldest)

    def _drop(self, pending: _Pending) -> None:
        with self._lock:
            self._pending.pop(pending.sock, None)
        try:
            self._selector.unregister(pending.sock)
        except (KeyError, ValueError):
            pass
        pending.sock.close()

    def _done(self, sock: socket.socket) -> None:
        sock.close()
        with self._lock:
            self._answering -= 1

    # A worker: one complete head, one answer, close ------------------------------------------
    def _answer(self, pending: _Pending, head: bytes | None) -> None:
        sock = pending.sock
        try:
            sock.setblocking(True)
            sock.settimeout(self.request_seconds)  # a client that does not read its answer
            if head is None:
                response = _plain_response("431 Request Header Fields Too Large")
            else:
                try:
                    environ = _environ(head, pending.address, self._listener.getsockname())
                except _BadRequest as bad:
                    response = _plain_response(bad.status, bad.extra)
                else:
                    response = self._run_app(environ)
            sock.sendall(response)
        except OSError:
            pass  # the client left, or did not take the answer in time
        finally:
            self._done(sock)

    def _run_app(self, environ: dict) -> bytes:
        started: list = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Callable:
            started[:] = [status, headers]
            return lambda data: None  # the old write() callable: StatusApp does not use it

        try:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                getattr(result, "close", lambda: None)()
        except Exception:
            log.exception("status endpoint failed on %s", environ.get("PATH_INFO"))
            return _plain_response("500 Internal Server Error")
        status, headers = started
        lines = [f"HTTP/1.1 {status}"] + [f"{name}: {value}" for name, value in headers
                                         if name.lower() != "connection"] + ["Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + (b"" if environ["REQUEST_METHOD"] == "HEAD" else body)


def _plain_response(status: str, extra: list[tuple[str, str]] | None = None) -> bytes:
    headers = [("Content-Type", "text/plain"), ("Content-Length", "0"), *(extra or []), ("Connection", "close")]
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n").encode("latin-1")


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)


def _environ(head: bytes, client: tuple, server: tuple) -> dict:
    """A WSGI environ from a request head (no body: GET and HEAD only)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise _BadRequest("400 Bad Request")
    method, target, protocol = parts
    if method not in ("GET", "HEAD"):
        raise _BadRequest("405 Method Not Allowed", [("Allow", "GET, HEAD")])
    path, _, query = target.partition("?")
    environ: dict = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(path, "latin-1"), "QUERY_STRING": query,
        "SERVER_PROTOCOL": protocol, "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]) if client else "", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not _HEADER_NAME.match(name):
            raise _BadRequest("400 Bad Request")
        if name.lower() in ("content-length", "transfer-encoding") and value.strip() not in ("", "0"):
            raise _BadRequest("400 Bad Request")  # a body: never asked for, never read
        key = "HTTP_" + name.upper().replace("-", "_")
        if "_" in name:  # X_Yadockeri_Router must not pass for X-Yadockeri-Router
            continue
        environ[key] = f"{environ[key]},{value.strip()}" if key in environ else value.strip()
    return environ


def bindable(address: str) -> bool:
    """Whether this host has `address` (so a server can listen on it)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as error:
            if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                return False
            raise
    return True
