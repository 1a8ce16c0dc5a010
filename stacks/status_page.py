"""The one thing the router may ask of yadockeri: "what about stack X?", when it cannot reach
X's web process. It answers a page for that state, and wakes X if it sleeps.

Served on its own port (YADOCKERI_STATUS_PORT), apart from the Slack endpoint. It answers
`GET /_yadockeri/stack/<name>` and nothing else; the router sends it only the stack label
(no client headers, cookies, paths or bodies), and the page never says more than the state.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .router import PAGE_HEADER, STACK_LABEL_RE, STATUS_PATH
from .store import StackRecord

log = logging.getLogger(__name__)

_PATH = re.compile(rf"^{re.escape(STATUS_PATH)}(?P<stack>{STACK_LABEL_RE})$")
RETRY_SECONDS = 5


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
                    f"{stack} ({record.branch}) is being deployed right now; this page reloads itself.", True)
    if record.state == "destroying":
        return Page(503, "destroying", f"{stack} is being destroyed", f"{stack} is being destroyed.", False)
    if record.state == "failed" or record.commit is None:
        return Page(503, "failed", f"{stack} is not running",
                    f"The last deploy of {stack} ({record.branch}) failed. Its thread in Slack, or "
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

    def __init__(self, lookup: Callable[[str], StackRecord | None], wake: Callable[[str], object]) -> None:
        self.lookup = lookup
        self.wake = wake

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
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


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the router's access log has them
        pass


class StatusServer:
    """StatusApp on a port, in a thread. Its load is one request per unreachable-stack request,
    so the standard library's threading WSGI server is enough. start()/stop()."""

    def __init__(self, app: StatusApp, *, host: str = "0.0.0.0", port: int = 8081) -> None:
        self._server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.2,), name="yadockeri-status",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> "StatusServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
