"""The workspace the stand-in plays: its identity (team, app, bot, tokens, granted scopes), its
channels and users, and the state its calls leave (messages, views, files, triggers, rate limits,
response URLs), with the rules every method family shares for what exists and where the bot may
post (`channel_not_found`, `not_in_channel`, `is_archived`, `restricted_action_read_only_channel`,
`restricted_action_thread_only_channel`, `user_not_found`, `cannot_dm_bot`).
One re-entrant lock guards it all: each call runs whole under it."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from typing import Any

from ..socket_mode_standin import SocketModeStandin
from . import scopes as scopes_module
from .base import (
    ApiError,
    Channel,
    RateLimit,
    RecordedCall,
    ResponseUrl,
    ResponseUrlPost,
    Trigger,
    UploadedFile,
    User,
)


class State:
    """What calls leave behind; `SlackStandin.clear()` starts a new one."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, str] = {}
        self.files: dict[str, UploadedFile] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.responses: list[ResponseUrlPost] = []  # every post to a response URL, refused ones too
        self.triggers: dict[str, Trigger] = {}
        self.rate_limits: dict[str, RateLimit] = {}
        self.blocked_until: dict[str, float] = {}
        self.last_ts_micros = 0
        self.closed_views: set[str] = set()  # modals the user closed (Cancel, X)
        self.ids = itertools.count(1)


class Workspace:
    """Identity, channels and users (kept by `clear()`), and the `state` calls leave."""

    def __init__(
        self, *, bot_token: str, app_token: str, channels: Iterable[Channel] | None, users: Iterable[User] | None,
        team_id: str, team_name: str, team_domain: str, app_id: str, bot_id: str, bot_user_id: str,
        bot_user_name: str, trigger_ttl: float, socket_mode: SocketModeStandin | None,
        scopes: Iterable[str] | None = None, response_url_ttl: float = 30 * 60,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.app_id, self.bot_id = app_id, bot_id
        self.bot_user_id, self.bot_user_name = bot_user_id, bot_user_name
        self.trigger_ttl = trigger_ttl
        self.response_url_ttl = response_url_ttl
        self.scopes = list(scopes) if scopes is not None else scopes_module.manifest_bot_scopes()
        self.socket_mode = socket_mode
        self.lock = threading.RLock()
        self.channels = {c.id: c for c in (channels or [Channel("C123", "yadockeri")])}
        default_users = [User("U123", "akira", "Akira")]
        self.users = {u.id: u for u in (users or default_users)}
        self.users.setdefault(bot_user_id, User(bot_user_id, bot_user_name, bot_user_name, is_bot=True))
        self.state = State()

    def next_id(self) -> int:
        return next(self.state.ids)

    def next_ts(self) -> str:
        """As on Slack: the time of posting (epoch seconds, microseconds), unique in the workspace."""
        micros = max(self.state.last_ts_micros + 100, int(time.time() * 1_000_000))
        self.state.last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def known_channel(self, channel_id: Any) -> str:
        """A channel the bot can see: unknown ones, and private ones it is not in, are `channel_not_found`."""
        channel = self.channels.get(channel_id) if isinstance(channel_id, str) else None
        if channel is None or (channel.is_private and not channel.is_member):
            raise ApiError("channel_not_found")
        return channel.id

    def require_scope(self, scope: str | None) -> None:
        scopes_module.require(scope, self.scopes)

    def member_channel(self, channel_ref: Any) -> str:
        """A channel the bot is in (by id, or `#name`), not archived: for ephemeral messages."""
        channel = self.channels[self.known_channel(self._by_name(channel_ref))]
        if channel.is_archived:
            raise ApiError("is_archived")
        if not channel.is_member:
            raise ApiError("not_in_channel")
        return channel.id

    def writable_channel(self, channel_ref: Any, thread_ts: Any = None) -> str:
        """A channel the bot is in and may post in: for shared files, which chat:write.public does
        not cover."""
        channel_id = self.member_channel(channel_ref)
        self._check_restrictions(self.channels[channel_id], thread_ts)
        return channel_id

    def postable_channel(self, channel_ref: Any, thread_ts: Any = None) -> str:
        """Where chat.postMessage may post: a channel the bot is in; a public one it is not in with
        chat:write.public; a user id (the direct message of the app's Messages tab)."""
        channel_ref = self._by_name(channel_ref)
        if isinstance(channel_ref, str) and channel_ref[:1] in ("U", "W") and channel_ref not in self.channels:
            return self.im_channel(channel_ref)
        channel = self.channels[self.known_channel(channel_ref)]
        if channel.is_archived:
            raise ApiError("is_archived")
        if not channel.is_member and scopes_module.PUBLIC_WITHOUT_JOINING not in self.scopes:
            raise ApiError("not_in_channel")  # what Slack answers without chat:write.public
        self._check_restrictions(channel, thread_ts)
        return channel.id

    def im_channel(self, user_id: str) -> str:
        """The direct message channel between the bot and a user (made on first use, as Slack does)."""
        user = self.users.get(user_id)
        if user is None:
            raise ApiError("channel_not_found")
        if user.is_bot:
            raise ApiError("cannot_dm_bot")
        channel_id = "D" + user.id[1:]
        self.channels.setdefault(channel_id, Channel(channel_id, user.id, is_private=True, im_user=user.id))
        return channel_id

    def _by_name(self, channel_ref: Any) -> Any:
        if isinstance(channel_ref, str) and channel_ref.startswith("#"):
            return next((c.id for c in self.channels.values() if c.name == channel_ref[1:]), None)
        return channel_ref

    @staticmethod
    def _check_restrictions(channel: Channel, thread_ts: Any) -> None:
        if channel.read_only:
            raise ApiError("restricted_action_read_only_channel")
        if channel.thread_only and not thread_ts:
            raise ApiError("restricted_action_thread_only_channel")

    def user(self, user_id: Any) -> User:
        user = self.users.get(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise ApiError("user_not_found")
        return user

    def bot_message(self, ts: str, text: str | None, blocks: list[Any] | None,
                    thread_ts: str | None = None) -> dict[str, Any]:
        """A message as the bot posts it (chat.postMessage, a file share)."""
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
