"""The stand-in's HTTP side: a threading server whose every request goes to `Front.handle`, which
answers a planned failure, or checks the token (401), the Accept header (a violation), the route (404),
the JSON body (400) and the repository (404), then runs the endpoint; every request is recorded."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .base import Answer, ApiError, Handler, HttpReply, RecordedCall, Request
from .world import World

MEDIA_TYPE = "application/vnd.github+json"
BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})
REPO_PREFIX = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


class Front:
    """Routes one request to its endpoint, under the world's lock."""

    def __init__(self, world: World, routes: list[tuple[str, str, Handler]]) -> None:
        self._world = world
        self._routes = [(method, re.compile(f"{REPO_PREFIX}{suffix}"), handler) for method, suffix, handler in routes]

    def handle(self, method: str, target: str, headers: Message, raw: bytes) -> HttpReply:
        arrived = time.monotonic()
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        recorded = _recordable(raw)
        with self._world.lock:
            try:
                answer = self._answer(method, url.path, query, headers, raw)
            except ApiError as error:
                answer = Answer(error.status, error.body())
            self._world.call_log.append(RecordedCall(method, url.path, query, recorded, answer.status,
                                                  copy.deepcopy(answer.body), arrived))
        if answer.body is None:
            return answer.status, answer.headers, b""
        reply_headers = {"Content-Type": "application/json; charset=utf-8",
                         "X-GitHub-Media-Type": "github.v3; format=json", **answer.headers}
        return answer.status, reply_headers, json.dumps(answer.body).encode("utf-8")

    def _answer(self, method: str, path: str, query: dict[str, str], headers: Message, raw: bytes) -> Answer:
        failure = self._world.planned_failure(method, path)
        if failure is not None:
            return Answer(failure, {"message": "Server Error"})
        self._authenticate(headers.get("Authorization"))
        self._check_accept(method, path, headers.get("Accept"))
        handler, params = self._route(method, path)
        body = self._body(method, path, headers.get("Content-Type"), raw)
        repo = self._world.find_repo(f"{params.pop('owner')}/{params.pop('name')}")
        return handler(Request(repo, params, query, body, path))

    def _authenticate(self, authorization: str | None) -> None:
        """`Authorization: Bearer <token>` or `token <token>`, with the one token the stand-in accepts."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self._world.token:
            raise ApiError(401, "Bad credentials")

    def _check_accept(self, method: str, path: str, accept: str | None) -> None:
        """GitHub answers without it, but its docs ask for it, and the answer's shape depends on it."""
        media_types = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
        if MEDIA_TYPE not in media_types:
            self._world.violation_log.append(f"{method} {path}: Accept is {accept!r}, not {MEDIA_TYPE}")

    def _route(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler, {k: unquote(v) for k, v in match.groupdict().items()}
        raise ApiError(404, "Not Found")  # as GitHub answers paths and methods it has no endpoint for

    def _body(self, method: str, path: str, content_type: str | None, raw: bytes) -> dict[str, Any]:
        if method not in BODY_METHODS:
            return {}
        if not raw.strip():
            return {}  # GitHub then names the first required field missing
        media_type = (content_type or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            self._world.violation_log.append(f"{method} {path}: Content-Type is {content_type!r}, not application/json")
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Problems parsing JSON") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, "Problems parsing JSON")
        return parsed


def _recordable(raw: bytes) -> Any:
    """The body as recorded: parsed JSON, else its text (None for no body)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # clients may open many connections at once; the default 5 drops some (1 s SYN retry)

    def __init__(self, address: tuple[str, int], answer: Callable[[str, str, Message, bytes], HttpReply]) -> None:
        super().__init__(address, _Handler)
        self.answer = answer


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.answer(self.command, self.path, self.headers, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass
