"""The stand-in's HTTP side: a threading server whose every request goes to `WebFront.handle`, which
routes `/api/<method>` (token and its scopes checked, rate limit applied, call recorded; HTTP 404
`unknown_method`, HTTP 429 with `Retry-After`, `missing_scope`), `/upload/v1/<key>` (file bytes) and
`/commands/...` (response URLs: at most 5 posts, within their time to live; then HTTP 404 `expired_url`)."""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .. import blockkit
from .base import ApiError, HttpReply, Method, Params, RecordedCall, ResponseUrlPost, ratelimited, text_reply
from .files import FilesApi
from .outages import Outages
from .parsing import bearer_token, parse_params
from .scopes import needed_scope
from .tiers import Tiers
from .workspace import Workspace

NO_AUTH_METHODS = frozenset({"api.test"})
RESPONSE_URL_USES = 5  # posts Slack takes on one response_url
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Methods whose docs list application/json among accepted content types; others only read forms.
JSON_METHODS = frozenset(
    {"api.test", "auth.test", "apps.connections.open", "chat.postMessage", "chat.update", "chat.postEphemeral",
     "chat.delete", "conversations.join", "views.open", "views.update", "views.push", "views.publish"}
)


class WebFront:
    """Routes one HTTP request to the method it names, under the workspace's lock."""

    def __init__(self, workspace: Workspace, methods: dict[str, Method], files: FilesApi,
                 origin: Callable[[], str], tiers: Tiers | None = None) -> None:
        self._ws = workspace
        self.tiers = tiers or Tiers()
        self._methods = methods
        self._files = files
        self._origin = origin

    def method_names(self) -> list[str]:
        return sorted(self._methods)

    def handle(self, path: str, headers: Message, body: bytes) -> HttpReply:
        arrived = time.monotonic()
        url = urlsplit(path)
        if url.path.startswith("/api/"):
            return self._handle_api(url.path[len("/api/"):], url.query, headers, body, arrived)
        if url.path.startswith("/upload/v1/"):
            return self._files.receive_upload(url.path[len("/upload/v1/"):], body)
        if url.path.startswith("/commands/"):
            return self._handle_response_url(url.path, body, arrived)
        return text_reply(HTTPStatus.NOT_FOUND, "not found")

    def _handle_api(self, method: str, query: str, headers: Message, body: bytes, arrived: float) -> HttpReply:
        with self._ws.lock:
            params: Params = {}
            token: str | None = None
            try:
                params, body_token = parse_params(headers.get("Content-Type"), body, query, method in JSON_METHODS)
                token = bearer_token(headers.get("Authorization")) or body_token
                handler = self._methods.get(method)
                if handler is None:
                    raise ApiError("unknown_method", status=HTTPStatus.NOT_FOUND, req_method=method)
                self._authenticate(method, token)
                if token == self._ws.bot_token:
                    self._ws.require_scope(needed_scope(method, params, self._ws.channels))
                self._check_rate_limit(method, arrived)
                self.tiers.check(method, params, arrived)
                status, extra_headers, response = 200, {}, handler(params)
            except ApiError as failure:
                status, extra_headers, response = failure.status, failure.headers, failure.body()
            self._ws.state.calls.append(RecordedCall(method, params, arrived, status, copy.deepcopy(response), token,
                                                     dict(extra_headers) or None))
        reply_headers = {"Content-Type": "application/json; charset=utf-8", **extra_headers}
        return status, reply_headers, json.dumps(response).encode("utf-8")

    def _authenticate(self, method: str, token: str | None) -> None:
        if method in NO_AUTH_METHODS:
            return
        if not token:
            raise ApiError("not_authed")
        wanted, other = self._ws.bot_token, self._ws.app_token
        if method in APP_TOKEN_METHODS:
            wanted, other = other, wanted
        if token == wanted:
            return
        raise ApiError("not_allowed_token_type" if token == other else "invalid_auth")

    def _check_rate_limit(self, method: str, now: float) -> None:
        state = self._ws.state
        blocked_until = state.blocked_until.get(method, 0.0)
        if now < blocked_until:
            raise ratelimited(math.ceil(blocked_until - now))
        plan = state.rate_limits.get(method)
        if plan is not None and plan.remaining > 0:
            plan.remaining -= 1
            state.blocked_until[method] = now + plan.retry_after
            raise ratelimited(plan.retry_after)

    def _handle_response_url(self, path: str, body: bytes, arrived: float) -> HttpReply:
        with self._ws.lock:
            url = f"{self._origin()}{path}"
            grant = self._ws.state.response_urls.get(url)
            if grant is None:
                return text_reply(HTTPStatus.NOT_FOUND, "no_service")
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return text_reply(HTTPStatus.BAD_REQUEST, "invalid_payload")
            if not isinstance(payload, dict):
                return text_reply(HTTPStatus.BAD_REQUEST, "invalid_payload")
            if arrived - grant.issued_at > self._ws.response_url_ttl or grant.uses >= RESPONSE_URL_USES:
                self._ws.state.responses.append(ResponseUrlPost(url, payload, arrived, HTTPStatus.NOT_FOUND))
                return text_reply(HTTPStatus.NOT_FOUND, "expired_url")
            if payload.get("blocks") is not None and blockkit.block_errors(payload["blocks"], blockkit.MESSAGE):
                return text_reply(HTTPStatus.BAD_REQUEST, "invalid_blocks")
            grant.uses += 1
            self._ws.state.responses.append(ResponseUrlPost(url, payload, arrived))
        return text_reply(HTTPStatus.OK, "ok")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], answer: Callable[[str, Message, bytes], HttpReply],
                 outages: Outages | None = None) -> None:
        super().__init__(address, _Handler)
        self.answer = answer
        self.outages = outages or Outages()


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        outage = self.server.outages.now()
        if outage is not None:
            self._suffer(outage.mode, outage.until, body)
            return
        status, headers, payload = self.server.answer(self.path, self.headers, body)
        self._reply(status, headers, payload)

    def _suffer(self, mode: str, until: float, body: bytes) -> None:
        """Play an outage: 503, no answer until it ends, a reset, or the call done and its answer lost."""
        if mode == "503":
            self._reply(503, {"Content-Type": "text/html"}, b"<html><body>Service Unavailable</body></html>")
        elif mode == "timeout":
            time.sleep(max(0.0, until - time.monotonic()))  # no answer while it lasts, then none at all
        elif mode == "dropped":
            self.server.answer(self.path, self.headers, body)  # done, but the answer never leaves
        self.close_connection = True

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass
