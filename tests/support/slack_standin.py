"""A local, strict stand-in for the Slack Web API.

    with SlackStandin() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        client.chat_postMessage(channel="C123", text="hi")
        assert slack.messages("C123")[0]["text"] == "hi"

It answers like Slack: same response shapes, same error names, HTTP 404 `unknown_method`, HTTP 429 with
`Retry-After`, Block Kit validation (`invalid_blocks` for messages, `invalid_arguments` for views, see
`blockkit.py`), the bot token's scopes (`missing_scope`; by default those slack/manifest.yml asks for, see
`slack_web/scopes.py`), channel membership (`channel_not_found`; `not_in_channel` for a file shared in a public
channel the bot is not in, where chat:write.public lets it post messages), archived, read-only and thread-only
channels, direct messages by user id, trigger ids that expire after 3 s and work once, response URLs that take
5 posts within 30 minutes (`response_url_ttl`), modals the user closed (`close_view`), and the 3-step external
file upload. Every call is recorded (`calls()`), and the state it leaves (messages after updates and deletes,
views, files) can be inspected.

Bodies may be JSON (token only in the `Authorization: Bearer` header, as Slack requires) or form-encoded /
multipart (token in the header or a `token` field). As on Slack, only write methods read JSON bodies.
Parameters that Slack takes as JSON strings in forms (`blocks`, `attachments`, `view`, `files`, `metadata`)
are decoded, so recorded params look the same whichever encoding the client chose.

With `socket_mode=True` a `SocketModeStandin` runs alongside, and `apps.connections.open` (app-level token
`app_token` only) hands out URLs to it.

This module is the stand-in's face to tests (start, configure, inspect); its parts are in `slack_web/`.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from email.message import Message
from http import HTTPStatus
from typing import Any, TypeVar

from tests.support.waiting import wait_truthy

from .slack_web.auth import AuthApi
from .slack_web.base import (
    ApiError,
    Channel,
    HttpReply,
    Params,
    RateLimit,
    RecordedCall,
    ResponseUrl,
    ResponseUrlPost,
    UploadedFile,
    User,
)
from .slack_web.chat import ChatApi
from .slack_web.conversations import ConversationsApi
from .slack_web.files import FilesApi
from .slack_web.front import Server, WebFront
from .slack_web.history import HistoryApi
from .slack_web.outages import Outages
from .slack_web.views import ViewsApi
from .slack_web.workspace import State, Workspace
from .socket_mode_standin import SocketModeStandin

__all__ = ["ApiError", "Channel", "HttpReply", "Params", "RecordedCall", "ResponseUrlPost", "SlackStandin",
           "UploadedFile", "User"]

T = TypeVar("T")


class SlackStandin(Workspace):
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
        scopes: Iterable[str] | None = None,
        response_url_ttl: float = 30 * 60,
    ) -> None:
        """`scopes`: those granted to the bot token (default: the bot scopes of slack/manifest.yml);
        `response_url_ttl`: seconds a response_url takes posts (Slack: 30 minutes)."""
        super().__init__(
            bot_token=bot_token, app_token=app_token, channels=channels, users=users, team_id=team_id,
            team_name=team_name, team_domain=team_domain, app_id=app_id, bot_id=bot_id, bot_user_id=bot_user_id,
            bot_user_name=bot_user_name, trigger_ttl=trigger_ttl,
            socket_mode=SocketModeStandin(app_id=app_id, host=host) if socket_mode else None,
            scopes=scopes, response_url_ttl=response_url_ttl,
        )
        self.host = host
        self._views = ViewsApi(self)
        files = FilesApi(self, lambda: self.origin)
        families = (AuthApi(self), ChatApi(self), ConversationsApi(self), HistoryApi(self), self._views, files)
        self._front = WebFront(self, {name: m for api in families for name, m in api.methods().items()}, files,
                               lambda: self.origin)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._outages = Outages()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SlackStandin:
        if self._server is not None:
            return self
        if self.socket_mode is not None:
            self.socket_mode.start()
        self._server = Server((self.host, 0), self.handle_http, self._outages)
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

    def handle_http(self, path: str, headers: Message, body: bytes) -> HttpReply:
        return self._front.handle(path, headers, body)

    # -- configuration --------------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str | None = None, *, is_member: bool = True,
                    is_private: bool = False, is_archived: bool = False, read_only: bool = False,
                    thread_only: bool = False) -> Channel:
        """read_only: an announcement channel the bot may not post in; thread_only: only replies in threads."""
        with self.lock:
            channel = Channel(channel_id, name or channel_id.lower(), is_member, is_private, is_archived=is_archived,
                              read_only=read_only, thread_only=thread_only)
            self.channels[channel_id] = channel
            return channel

    def set_member(self, channel_id: str, is_member: bool) -> None:
        """Put the bot in a channel or take it out."""
        with self.lock:
            self.channels[channel_id].is_member = is_member

    def direct_channel(self, user_id: str) -> str:
        """The id (D...) of the direct messages between the bot and a user: its `messages()` are what
        the bot posted there (chat.postMessage with channel=<user id>: the app's Messages tab)."""
        with self.lock:
            return self.im_channel(user_id)

    def add_user(self, user_id: str, name: str, *, is_admin: bool = False, real_name: str = "") -> User:
        with self.lock:
            user = User(user_id, name, real_name or name, is_admin=is_admin)
            self.users[user_id] = user
            return user

    def new_trigger_id(self, user_id: str | None = "U123") -> str:
        """A trigger_id as Slack puts in interaction payloads: usable once, for `trigger_ttl` seconds."""
        with self.lock:
            return self._views.new_trigger_id(user_id)

    def new_response_url(self) -> str:
        """A response_url (as in slash command and interaction payloads) whose posts are recorded."""
        with self.lock:
            url = f"{self.origin}/commands/{self.team_id}/{self.next_id()}/{secrets.token_hex(12)}"
            self.state.response_urls[url] = ResponseUrl(time.monotonic())
            return url

    def outage(self, seconds: float, mode: str = "503") -> None:
        """For `seconds`, every request gets: `503` (HTTP 503), `timeout` (no answer until the outage
        ends, then the connection closes), `reset` (the connection closes unanswered) or `dropped`
        (the call is done, then the connection closes before the answer)."""
        self._outages.start(seconds, mode)

    def end_outage(self) -> None:
        self._outages.end()

    def tier_limits(self, enabled: bool) -> None:
        """Slack's per-method limits (slack_web/tiers.py) are on unless a test turns them off."""
        with self.lock:
            self._front.tiers.enabled = enabled

    def close_view(self, view_id: str) -> None:
        """The user closed a modal (Cancel or X): from now on Slack answers `not_found` to views.update of it."""
        with self.lock:
            if self.state.views[view_id]["type"] != "modal":
                raise ValueError(f"{view_id} is not a modal")
            self.state.closed_views.add(view_id)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and `Retry-After: retry_after`.

        As on Slack, calls made before Retry-After has passed after a 429 get a 429 too."""
        with self.lock:
            self.state.rate_limits[method] = RateLimit(times, retry_after)

    # -- recordings and state -------------------------------------------------------------------

    def method_names(self) -> list[str]:
        """The Web API methods it answers."""
        return self._front.method_names()

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        with self.lock:
            return [c for c in self.state.calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Current messages of a channel (updates applied, deletions gone), thread replies included, by ts."""
        with self.lock:
            return copy.deepcopy(list(self.state.messages.get(channel, {}).values()))

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages(channel) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def ephemeral_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy([e for e in self.state.ephemerals if channel is None or e["channel"] == channel])

    def views(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.state.views.values()))

    def view(self, view_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.state.views[view_id])

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self.lock:
            view_id = self.state.home_views.get(user_id)
            return copy.deepcopy(self.state.views[view_id]) if view_id else None

    def files(self) -> list[UploadedFile]:
        with self.lock:
            return [copy.copy(f) for f in self.state.files.values()]

    def responses(self, url: str | None = None, *, refused: bool = False) -> list[ResponseUrlPost]:
        """What was posted to response URLs made by `new_response_url()` and taken (refused: too, the
        posts answered 404 `expired_url`)."""
        with self.lock:
            return [r for r in self.state.responses
                    if (url is None or r.url == url) and (refused or r.status == HTTPStatus.OK)]

    def clear(self) -> None:
        """Forget calls, messages, views, files, triggers and rate limits; keep channels, users and tokens."""
        with self.lock:
            self.state = State()
        if self.socket_mode is not None:
            self.socket_mode.clear()

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
        """Poll `predicate` (which should only read the stand-in) until it returns something truthy."""
        return wait_truthy(predicate, timeout, what)

    def wait_for_call(self, method: str, timeout: float = 5.0,
                      where: Callable[[RecordedCall], bool] = lambda call: True) -> RecordedCall:
        """The first recorded call of `method` matching `where`, waiting up to `timeout` for it."""
        def find() -> RecordedCall | None:
            return next((c for c in self.calls(method) if where(c)), None)
        found = self.wait_for(find, timeout, f"a {method} call")
        assert found is not None  # wait_for returns only a truthy result
        return found
