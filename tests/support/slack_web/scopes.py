"""The OAuth scopes of the bot token: which one each method needs, and the ones granted (by default
the bot scopes of slack/manifest.yml, so the stand-in refuses what the installed app could not do).

A method whose scope is not granted answers, as Slack does,
`{"ok": false, "error": "missing_scope", "needed": "<scope>", "provided": "<granted, comma separated>"}`.
Some needs are not a scope per method and are checked where they arise: chat.postMessage in a
public channel the bot is not in needs `chat:write.public` (without it Slack answers
`not_in_channel`); a direct message by user id needs only `chat:write` (`im:write` is for
conversations.open).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .base import Channel, missing_scope

MANIFEST = Path(__file__).resolve().parents[3] / "slack" / "manifest.yml"

# A scope, None (no scope needed), or a scope by channel kind (of the `channel` param) for the
# methods Slack checks against the kind of conversation. Every method the stand-in answers has a
# row (tests/test_slack_standin.py checks), so a new method says what it needs.
ByKind = dict[str, str]
METHOD_SCOPES: dict[str, str | ByKind | None] = {
    "api.test": None,
    "auth.test": None,
    "apps.connections.open": None,  # the app-level token's connections:write, not a bot scope
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.delete": "chat:write",
    "chat.getPermalink": None,
    "conversations.info": {"public": "channels:read", "private": "groups:read", "im": "im:read"},
    "conversations.join": "channels:join",
    "conversations.open": "im:write",
    "conversations.history": {"public": "channels:history", "private": "groups:history", "im": "im:history"},
    "conversations.replies": {"public": "channels:history", "private": "groups:history", "im": "im:history"},
    "users.info": "users:read",
    "views.open": None,
    "views.push": None,
    "views.update": None,
    "views.publish": None,
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.upload": "files:write",
}
PUBLIC_WITHOUT_JOINING = "chat:write.public"


def manifest_bot_scopes(path: Path = MANIFEST) -> list[str]:
    """The bot scopes slack/manifest.yml asks for, in its order."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [str(scope) for scope in manifest["oauth_config"]["scopes"]["bot"]]


def kind(channel: Channel) -> str:
    return "im" if channel.is_im else "private" if channel.is_private else "public"


def needed_scope(method: str, params: dict[str, Any], channels: dict[str, Channel]) -> str | None:
    """The scope `method` needs for these params; None when none, or when the channel it names is
    unknown (the method itself then answers `channel_not_found`)."""
    need = METHOD_SCOPES.get(method)
    if not isinstance(need, dict):
        return need
    ref = params.get("channel")
    channel = channels.get(ref) if isinstance(ref, str) else None
    return need[kind(channel)] if channel is not None else None


def require(scope: str | None, granted: list[str]) -> None:
    if scope is not None and scope not in granted:
        raise missing_scope(scope, granted)
