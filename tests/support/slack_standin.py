"""A local, strict stand-in for the Slack Web API.

    with SlackStandin() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        client.chat_postMessage(channel="C123", text="hi")
        assert slack.messages("C123")[0]["text"] == "hi"

It answers like Slack: same response shapes, same error names, HTTP 404 `unknown_method`, HTTP 429 with
`Retry-After`, Block Kit validation (`invalid_blocks` for messages, `invalid_arguments` for views, see
`blockkit.py`), channel membership (`channel_not_found`, `not_in_channel`), trigger ids that expire after 3 s and
work once, and the 3-step external file upload. Every call is recorded (`calls()`), and the state it leaves
(messages after updates and deletes, views, files) can be inspected.

Bodies may be JSON (token only in the `Authorization: Bearer` header, as Slack requires) or form-encoded /
multipart (token in the header or a `token` field). As on Slack, only write methods read JSON bodies.
Parameters that Slack takes as JSON strings in forms (`blocks`, `attachments`, `view`, `files`, `metadata`)
are decoded, so recorded params look the same whichever encoding the client chose.

With `socket_mode=True` a `SocketModeStandin` runs alongside, and `apps.connections.open` (app-level token
`app_token` only) hands out URLs to it.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import mimetypes
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from . import blockkit
from .socket_mode_standin import SocketModeStandin

T = TypeVar("T")
Params = dict[str, Any]
HttpReply = tuple[int, dict[str, str], bytes]

JSON_ENCODED_PARAMS = ("blocks", "attachments", "view", "files", "metadata")
NO_AUTH_METHODS = frozenset({"api.test"})
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Methods whose docs list application/json among accepted content types; others only read forms.
JSON_METHODS = frozenset(
    {"api.test", "auth.test", "apps.connections.open", "chat.postMessage", "chat.update", "chat.postEphemeral",
     "chat.delete", "conversations.join", "views.open", "views.update", "views.push", "views.publish"}
)
TRIGGER_ID = re.compile(r"\d+\.\d+\.[0-9a-f]+")
FIRST_TS_MICROS = 1_700_000_000_000_100


@dataclass(frozen=True)
class RecordedCall:
    method: str
    params: Params  # as parsed (JSON-string params decoded), without the token
    at: float  # time.monotonic() at arrival
    status: int  # HTTP status of the answer
    response: dict[str, Any]
    token: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error")


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True  # is the bot in it
    is_private: bool = False


@dataclass
class User:
    id: str
    name: str
    real_name: str = ""
    is_admin: bool = False
    is_bot: bool = False
    tz: str = "Asia/Tokyo"


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int  # as announced in files.getUploadURLExternal
    upload_key: str
    content: bytes | None = None  # what was POSTed to the upload URL
    title: str | None = None
    completed: bool = False
    channel_id: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass(frozen=True)
class ResponseUrlPost:
    url: str
    payload: dict[str, Any]
    at: float


@dataclass
class _Trigger:
    id: str
    issued_at: float
    user_id: str | None
    used: bool = False


@dataclass
class _RateLimit:
    remaining: int
    retry_after: int


class ApiError(Exception):
    """A Slack error answer: `{"ok": false, "error": ...}` plus extra fields."""

    def __init__(self, error: str, *, status: int = 200, headers: dict[str, str] | None = None, **fields: Any):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.fields}


class SlackStandin:
    """Local HTTP server answering Slack Web API methods (see module docstring)."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-1-standin-bot-token",
        app_token: str = "xapp-1-A0STANDIN-1-standin-app-token",
        channels: Iterable[Channel] | None = None,
        users: Iterable[User] | None = None,
        team_id: str = "T0STANDIN",
        team_name: str = "Standin Workspace",
        team_domain: str = "standin",
        app_id: str = "A0STANDIN",
        bot_id: str = "B0STANDIN",
        bot_user_id: str = "U0BOT",
        bot_user_name: str = "yadockeri",
        trigger_ttl: float = 3.0,
        socket_mode: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.app_id, self.bot_id = app_id, bot_id
        self.bot_user_id, self.bot_user_name = bot_user_id, bot_user_name
        self.trigger_ttl = trigger_ttl
        self.host = host
        self.socket_mode: SocketModeStandin | None = None
        if socket_mode:
            self.socket_mode = SocketModeStandin(app_id=app_id, host=host)

        self._lock = threading.RLock()
        self._channels = {c.id: c for c in (channels or [Channel("C123", "yadockeri")])}
        default_users = [User("U123", "akira", "Akira")]
        self._users = {u.id: u for u in (users or default_users)}
        self._users.setdefault(bot_user_id, User(bot_user_id, bot_user_name, bot_user_name, is_bot=True))
        self._methods: dict[str, Callable[[Params], dict[str, Any]]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.upload": self._files_upload,
        }
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._calls: list[RecordedCall] = []
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, str] = {}
        self._files: dict[str, UploadedFile] = {}
        self._response_urls: set[str] = set()
        self._responses: list[ResponseUrlPost] = []
        self._triggers: dict[str, _Trigger] = {}
        self._rate_limits: dict[str, _RateLimit] = {}
        self._blocked_until: dict[str, float] = {}
        self._ts_counter = itertools.count(FIRST_TS_MICROS, 100)
        self._ids = itertools.count(1)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SlackStandin:
        if self._server is not None:
            return self
        if self.socket_mode is not None:
            self.socket_mode.start()
        self._server = _Server((self.host, 0), _Handler, standin=self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="slack-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = self._thread = None
        if self.socket_mode is not None:
            self.socket_mode.stop()

    def __enter__(self) -> SlackStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStandin is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """For `WebClient(base_url=...)`: `http://127.0.0.1:PORT/api/`."""
        return f"{self.origin}/api/"

    # -- configuration --------------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str | None = None, *, is_member: bool = True,
                    is_private: bool = False) -> Channel:
        with self._lock:
            channel = Channel(channel_id, name or channel_id.lower(), is_member, is_private)
            self._channels[channel_id] = channel
            return channel

    def set_member(self, channel_id: str, is_member: bool) -> None:
        """Put the bot in a channel or take it out."""
        with self._lock:
            self._channels[channel_id].is_member = is_member

    def add_user(self, user_id: str, name: str, *, is_admin: bool = False, real_name: str = "") -> User:
        with self._lock:
            user = User(user_id, name, real_name or name, is_admin=is_admin)
            self._users[user_id] = user
            return user

    def new_trigger_id(self, user_id: str | None = "U123") -> str:
        """A trigger_id as Slack puts in interaction payloads: usable once, for `trigger_ttl` seconds."""
        with self._lock:
            trigger_id = f"{7_000_000_000_000 + next(self._ids)}.4200000000.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = _Trigger(trigger_id, time.monotonic(), user_id)
            return trigger_id

    def new_response_url(self) -> str:
        """A response_url (as in slash command and interaction payloads) whose posts are recorded."""
        with self._lock:
            url = f"{self.origin}/commands/{self.team_id}/{next(self._ids)}/{secrets.token_hex(12)}"
            self._response_urls.add(url)
            return url

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and `Retry-After: retry_after`.

        As on Slack, calls made before Retry-After has passed after a 429 get a 429 too."""
        with self._lock:
            self._rate_limits[method] = _RateLimit(times, retry_after)

    # -- recordings and state -------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Current messages of a channel (updates applied, deletions gone), thread replies included, by ts."""
        with self._lock:
            return copy.deepcopy(list(self._messages.get(channel, {}).values()))

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages(channel) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def ephemeral_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy([e for e in self._ephemerals if channel is None or e["channel"] == channel])

    def views(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._views.values()))

    def view(self, view_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._views[view_id])

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_views.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def files(self) -> list[UploadedFile]:
        with self._lock:
            return [copy.copy(f) for f in self._files.values()]

    def responses(self, url: str | None = None) -> list[ResponseUrlPost]:
        """What was posted to response URLs made by `new_response_url()`."""
        with self._lock:
            return [r for r in self._responses if url is None or r.url == url]

    def clear(self) -> None:
        """Forget calls, messages, views, files, triggers and rate limits; keep channels, users and tokens."""
        with self._lock:
            self._reset_state()
        if self.socket_mode is not None:
            self.socket_mode.clear()

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
        """Poll `predicate` (which should only read the stand-in) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} not met within {timeout}s")
            time.sleep(0.01)

    def wait_for_call(self, method: str, timeout: float = 5.0,
                      where: Callable[[RecordedCall], bool] = lambda call: True) -> RecordedCall:
        """The first recorded call of `method` matching `where`, waiting up to `timeout` for it."""
        def find() -> RecordedCall | None:
            return next((c for c in self.calls(method) if where(c)), None)
        found = self.wait_for(find, timeout, f"a {method} call")
        assert found is not None  # wait_for returns only a truthy result
        return found

    # -- HTTP entry point -----------------------------------------------------------------------

    def handle_http(self, path: str, headers: Message, body: bytes) -> HttpReply:
        arrived = time.monotonic()
        url = urlsplit(path)
        if url.path.startswith("/api/"):
            return self._handle_api(url.path[len("/api/"):], url.query, headers, body, arrived)
        if url.path.startswith("/upload/v1/"):
            return self._handle_upload(url.path[len("/upload/v1/"):], body)
        if url.path.startswith("/commands/"):
            return self._handle_response_url(url.path, body, arrived)
        return _text_reply(HTTPStatus.NOT_FOUND, "not found")

    def _handle_api(self, method: str, query: str, headers: Message, body: bytes, arrived: float) -> HttpReply:
        with self._lock:
            params: Params = {}
            token: str | None = None
            try:
                params, body_token = _parse_params(headers.get("Content-Type"), body, query, method in JSON_METHODS)
                token = _bearer_token(headers.get("Authorization")) or body_token
                handler = self._methods.get(method)
                if handler is None:
                    raise ApiError("unknown_method", status=HTTPStatus.NOT_FOUND, req_method=method)
                self._authenticate(method, token)
                self._check_rate_limit(method, arrived)
                status, extra_headers, response = 200, {}, handler(params)
            except ApiError as failure:
                status, extra_headers, response = failure.status, failure.headers, failure.body()
            self._calls.append(RecordedCall(method, params, arrived, status, copy.deepcopy(response), token))
        reply_headers = {"Content-Type": "application/json; charset=utf-8", **extra_headers}
        return status, reply_headers, json.dumps(response).encode("utf-8")

    def _authenticate(self, method: str, token: str | None) -> None:
        if method in NO_AUTH_METHODS:
            return
        if not token:
            raise ApiError("not_authed")
        wanted, other = self.bot_token, self.app_token
        if method in APP_TOKEN_METHODS:
            wanted, other = other, wanted
        if token == wanted:
            return
        raise ApiError("not_allowed_token_type" if token == other else "invalid_auth")

    def _check_rate_limit(self, method: str, now: float) -> None:
        blocked_until = self._blocked_until.get(method, 0.0)
        if now < blocked_until:
            raise _ratelimited(math.ceil(blocked_until - now))
        plan = self._rate_limits.get(method)
        if plan is not None and plan.remaining > 0:
            plan.remaining -= 1
            self._blocked_until[method] = now + plan.retry_after
            raise _ratelimited(plan.retry_after)

    # -- auth and socket mode -------------------------------------------------------------------

    def _api_test(self, params: Params) -> dict[str, Any]:
        return {"ok": True, "args": params}

    def _auth_test(self, params: Params) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_user_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: Params) -> dict[str, Any]:
        if self.socket_mode is None:
            raise ApiError("fatal_error", status=500, detail="start SlackStandin(socket_mode=True) to use Socket Mode")
        return {"ok": True, "url": self.socket_mode.new_connection_url()}

    # -- chat -----------------------------------------------------------------------------------

    def _chat_post_message(self, params: Params) -> dict[str, Any]:
        channel = self._writable_channel(params.get("channel"))
        text, blocks = _message_content(params)
        thread_ts = params.get("thread_ts") or None
        message = self._bot_message(self._next_ts(), text, blocks, thread_ts)
        self._messages.setdefault(channel, {})[message["ts"]] = message
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, params: Params) -> dict[str, Any]:
        channel = self._known_channel(params.get("channel"))
        message = self._find_message(channel, params.get("ts"))
        text, blocks = _message_content(params)
        if "text" in params:
            message["text"] = text or ""
        if "blocks" in params:
            message["blocks"] = blocks
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"],
                "message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, params: Params) -> dict[str, Any]:
        channel = self._writable_channel(params.get("channel"))
        user = self._user(params.get("user"))
        text, blocks = _message_content(params)
        message_ts = self._next_ts()
        self._ephemerals.append({"channel": channel, "user": user.id, "message_ts": message_ts,
                                 "text": text or "", "blocks": blocks, "thread_ts": params.get("thread_ts")})
        return {"ok": True, "message_ts": message_ts}

    def _chat_delete(self, params: Params) -> dict[str, Any]:
        channel = self._known_channel(params.get("channel"))
        message = self._find_message(channel, params.get("ts"))
        del self._messages[channel][message["ts"]]
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _chat_get_permalink(self, params: Params) -> dict[str, Any]:
        channel = self._known_channel(params.get("channel"))
        message = self._find_message(channel, params.get("message_ts"))
        permalink = f"https://{self.team_domain}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _bot_message(self, ts: str, text: str | None, blocks: list[Any] | None,
                     thread_ts: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text or "",
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {"id": self.bot_id, "app_id": self.app_id, "name": self.bot_user_name,
                            "team_id": self.team_id, "deleted": False},
        }
        if blocks is not None:
            message["blocks"] = blocks
        if thread_ts:
            message["thread_ts"] = thread_ts
        return message

    def _find_message(self, channel: str, ts: Any) -> dict[str, Any]:
        message = self._messages.get(channel, {}).get(ts) if isinstance(ts, str) else None
        if message is None:
            raise ApiError("message_not_found")
        return message

    def _next_ts(self) -> str:
        micros = next(self._ts_counter)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # -- conversations and users ----------------------------------------------------------------

    def _conversations_info(self, params: Params) -> dict[str, Any]:
        return {"ok": True, "channel": self._channel_object(self._known_channel(params.get("channel")))}

    def _conversations_join(self, params: Params) -> dict[str, Any]:
        channel = self._channels.get(params.get("channel") or "")
        if channel is None or (channel.is_private and not channel.is_member):
            raise ApiError("channel_not_found")
        if channel.is_private:
            raise ApiError("method_not_supported_for_channel_type")
        answer: dict[str, Any] = {"ok": True}
        if channel.is_member:
            answer.update(warning="already_in_channel", response_metadata={"warnings": ["already_in_channel"]})
        channel.is_member = True
        answer["channel"] = self._channel_object(channel.id)
        return answer

    def _users_info(self, params: Params) -> dict[str, Any]:
        user = self._user(params.get("user"))
        return {"ok": True, "user": {
            "id": user.id, "team_id": self.team_id, "name": user.name, "deleted": False,
            "real_name": user.real_name, "tz": user.tz, "is_admin": user.is_admin, "is_owner": False,
            "is_bot": user.is_bot, "is_app_user": False,
            "profile": {"real_name": user.real_name, "display_name": user.name, "team": self.team_id},
        }}

    def _known_channel(self, channel_id: Any) -> str:
        """A channel the bot can see: unknown ones, and private ones it is not in, are `channel_not_found`."""
        channel = self._channels.get(channel_id) if isinstance(channel_id, str) else None
        if channel is None or (channel.is_private and not channel.is_member):
            raise ApiError("channel_not_found")
        return channel.id

    def _writable_channel(self, channel_ref: Any) -> str:
        """A channel the bot may post in (by id, or `#name`)."""
        if isinstance(channel_ref, str) and channel_ref.startswith("#"):
            channel_ref = next((c.id for c in self._channels.values() if c.name == channel_ref[1:]), None)
        channel_id = self._known_channel(channel_ref)
        if not self._channels[channel_id].is_member:
            raise ApiError("not_in_channel")
        return channel_id

    def _channel_object(self, channel_id: str) -> dict[str, Any]:
        channel = self._channels[channel_id]
        return {
            "id": channel.id, "name": channel.name, "name_normalized": channel.name,
            "is_channel": True, "is_group": False, "is_im": False, "is_mpim": False,
            "is_private": channel.is_private, "is_archived": False, "is_general": False,
            "is_member": channel.is_member, "created": 1_600_000_000, "creator": "U123",
            "context_team_id": self.team_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }

    def _user(self, user_id: Any) -> User:
        user = self._users.get(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise ApiError("user_not_found")
        return user

    # -- views ----------------------------------------------------------------------------------

    def _views_open(self, params: Params) -> dict[str, Any]:
        trigger = self._usable_trigger(params.get("trigger_id"))
        view = _view_param(params, blockkit.MODAL)
        self._check_external_id(view)
        trigger.used = True  # exchanged only by a call that succeeds
        return {"ok": True, "view": self._store_view(view)}

    def _views_push(self, params: Params) -> dict[str, Any]:
        return self._views_open(params)

    def _views_update(self, params: Params) -> dict[str, Any]:
        current = self._view_to_update(params.get("view_id"), params.get("external_id"))
        view = _view_param(params, current["type"])
        _check_hash(current, params.get("hash"))
        self._check_external_id(view, replacing=current["id"])
        return {"ok": True, "view": self._store_view(view, replacing=current)}

    def _views_publish(self, params: Params) -> dict[str, Any]:
        user = self._user(params.get("user_id"))
        view = _view_param(params, blockkit.HOME)
        current_id = self._home_views.get(user.id)
        current = self._views[current_id] if current_id else None
        if current is not None:
            _check_hash(current, params.get("hash"))
        self._check_external_id(view, replacing=current_id)
        stored = self._store_view(view, replacing=current)
        self._home_views[user.id] = stored["id"]
        return {"ok": True, "view": stored}

    def _usable_trigger(self, trigger_id: Any) -> _Trigger:
        if not trigger_id:
            raise _invalid_arguments(["invalid `trigger_id` [json-pointer:/trigger_id]"])
        well_formed = isinstance(trigger_id, str) and TRIGGER_ID.fullmatch(trigger_id)
        trigger = self._triggers.get(trigger_id) if well_formed else None
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued_at > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        return trigger

    def _check_external_id(self, view: dict[str, Any], replacing: str | None = None) -> None:
        external_id = view.get("external_id")
        if external_id and any(v["external_id"] == external_id and v["id"] != replacing for v in self._views.values()):
            raise ApiError("duplicate_external_id")

    def _view_to_update(self, view_id: Any, external_id: Any) -> dict[str, Any]:
        if not view_id and not external_id:
            raise _invalid_arguments(["missing required field: view_id or external_id [json-pointer:/view_id]"])
        if view_id:
            found = self._views.get(view_id)
        else:
            found = next((v for v in self._views.values() if v["external_id"] == external_id), None)
        if found is None:
            raise ApiError("not_found")
        return found

    def _store_view(self, view: dict[str, Any], replacing: dict[str, Any] | None = None) -> dict[str, Any]:
        view_id = replacing["id"] if replacing else f"V0{next(self._ids):08X}"
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": replacing["previous_view_id"] if replacing else None,
            "root_view_id": replacing["root_view_id"] if replacing else view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views[view_id] = stored
        return copy.deepcopy(stored)

    # -- files ----------------------------------------------------------------------------------

    def _files_get_upload_url_external(self, params: Params) -> dict[str, Any]:
        filename, length = params.get("filename"), str(params.get("length", ""))
        if not filename or not length.isdigit():
            raise _invalid_arguments(["missing required field: filename and length"])
        file = UploadedFile(f"F0{next(self._ids):08X}", filename, int(length), secrets.token_urlsafe(16))
        self._files[file.id] = file
        return {"ok": True, "upload_url": f"{self.origin}/upload/v1/{file.upload_key}", "file_id": file.id}

    def _files_complete_upload_external(self, params: Params) -> dict[str, Any]:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise _invalid_arguments(["missing required field: files [json-pointer:/files]"])
        files = [self._uploaded_file(entry.get("id")) for entry in entries]
        channel = self._writable_channel(params["channel_id"]) if params.get("channel_id") else None
        for file, entry in zip(files, entries, strict=True):
            file.title = entry.get("title") or file.filename
            file.completed = True
            file.channel_id, file.thread_ts = channel, params.get("thread_ts") or None
            file.initial_comment = params.get("initial_comment")
        if channel is not None:
            self._share_files(channel, files, params.get("initial_comment"), params.get("thread_ts") or None)
        return {"ok": True, "files": [self._file_object(f) for f in files]}

    def _files_upload(self, params: Params) -> dict[str, Any]:
        raise ApiError("method_deprecated")

    def _uploaded_file(self, file_id: Any) -> UploadedFile:
        file = self._files.get(file_id) if isinstance(file_id, str) else None
        if file is None or file.content is None or file.completed:
            raise ApiError("file_not_found")
        return file

    def _share_files(self, channel: str, files: list[UploadedFile], comment: str | None, thread_ts: str | None) -> None:
        message = self._bot_message(self._next_ts(), comment, None, thread_ts)
        message.update(subtype="file_share", upload=True, files=[self._file_object(f) for f in files])
        self._messages.setdefault(channel, {})[message["ts"]] = message

    def _file_object(self, file: UploadedFile) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(file.filename)[0] or "application/octet-stream"
        return {
            "id": file.id, "created": 1_700_000_000, "timestamp": 1_700_000_000, "name": file.filename,
            "title": file.title, "mimetype": mimetype, "filetype": file.filename.rsplit(".", 1)[-1],
            "user": self.bot_user_id, "size": len(file.content or b""),
            "url_private": f"https://files.slack.com/files-pri/{self.team_id}-{file.id}/{file.filename}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{file.id}/{file.filename}",
        }

    def _handle_upload(self, upload_key: str, body: bytes) -> HttpReply:
        with self._lock:
            file = next((f for f in self._files.values() if f.upload_key == upload_key), None)
            if file is None or file.completed:
                return _text_reply(HTTPStatus.NOT_FOUND, "not found")
            file.content = body
        return _text_reply(HTTPStatus.OK, f"OK - {len(body)}")

    # -- response_url ---------------------------------------------------------------------------

    def _handle_response_url(self, path: str, body: bytes, arrived: float) -> HttpReply:
        with self._lock:
            url = f"{self.origin}{path}"
            if url not in self._response_urls:
                return _text_reply(HTTPStatus.NOT_FOUND, "no_service")
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return _text_reply(HTTPStatus.BAD_REQUEST, "invalid_payload")
            if not isinstance(payload, dict):
                return _text_reply(HTTPStatus.BAD_REQUEST, "invalid_payload")
            if payload.get("blocks") is not None and blockkit.block_errors(payload["blocks"], blockkit.MESSAGE):
                return _text_reply(HTTPStatus.BAD_REQUEST, "invalid_blocks")
            self._responses.append(ResponseUrlPost(url, payload, arrived))
        return _text_reply(HTTPStatus.OK, "ok")


# -- request parsing ------------------------------------------------------------------------------


def _parse_params(content_type: str | None, body: bytes, query: str, json_allowed: bool) -> tuple[Params, str | None]:
    """(params, token found in the body). JSON bodies never carry the token (Slack: use the header)."""
    params: Params = {k: v for k, v in _form_fields(query).items() if k != "token"}  # no tokens in URLs
    media_type = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
    if media_type == "application/json":
        if json_allowed:
            params.update(_json_object(body))
        return _decode_json_params(params), None
    if media_type == "multipart/form-data":
        fields = _multipart_fields(content_type or "", body)
    else:
        fields = _form_fields(body.decode("utf-8", "replace"))
    token = fields.pop("token", None)
    params.update(fields)
    return _decode_json_params(params), token if isinstance(token, str) else None


def _json_object(body: bytes) -> Params:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        raise ApiError("invalid_json") from None
    if not isinstance(parsed, dict):
        raise ApiError("invalid_json")
    return parsed


def _form_fields(encoded: str) -> Params:
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(encoded, keep_blank_values=True).items()}


def _multipart_fields(content_type: str, body: bytes) -> Params:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: Params = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)  # the part's bytes (None only for a nested multipart)
        data = payload if isinstance(payload, bytes) else b""
        fields[str(name)] = data if part.get_filename() else data.decode("utf-8", "replace")
    return fields


def _decode_json_params(params: Params) -> Params:
    for name in JSON_ENCODED_PARAMS:
        value = params.get(name)
        if isinstance(value, str):
            try:
                params[name] = json.loads(value)
            except ValueError:
                pass  # left as a string; the method answers with its own format error
    return params


def _bearer_token(authorization: str | None) -> str | None:
    if authorization and authorization.startswith("Bearer "):
        return authorization[len("Bearer "):].strip() or None
    return None


# -- validation helpers ---------------------------------------------------------------------------


def _message_content(params: Params) -> tuple[str | None, list[Any] | None]:
    """(text, blocks) of a chat.* call, checked like Slack does."""
    text, blocks = params.get("text"), params.get("blocks")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors = blockkit.block_errors(blocks, blockkit.MESSAGE)
        if errors:
            raise ApiError("invalid_blocks", errors=errors,
                           response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
    if not text and not blocks and not params.get("attachments"):
        raise ApiError("no_text")
    if isinstance(text, str) and len(text) > blockkit.MAX_MESSAGE_TEXT:
        raise ApiError("msg_too_long")
    return (str(text) if text is not None else None), blocks


def _view_param(params: Params, expected_type: str) -> dict[str, Any]:
    view = params.get("view")
    if view is None:
        raise _invalid_arguments(["missing required field: view [json-pointer:/view]"])
    errors = blockkit.view_errors(view, expected_type)
    if errors:
        raise _invalid_arguments(errors)
    return view


def _check_hash(current: dict[str, Any], given: Any) -> None:
    if given and given != current["hash"]:
        raise ApiError("hash_conflict")


def _invalid_arguments(errors: list[str]) -> ApiError:
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})


def _ratelimited(retry_after: int) -> ApiError:
    return ApiError("ratelimited", status=HTTPStatus.TOO_MANY_REQUESTS, headers={"Retry-After": str(retry_after)})


def _text_reply(status: int, text: str) -> HttpReply:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8")


# -- HTTP server ----------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, standin: SlackStandin):
        super().__init__(address, handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.standin.handle_http(self.path, self.headers, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass
