"""conversations.info, conversations.join, conversations.open and users.info: what the bot may see of
channels and users, and the direct message channel with a user."""

from __future__ import annotations

from typing import Any

from .base import ApiError, Method, Params
from .workspace import Workspace


class ConversationsApi:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def methods(self) -> dict[str, Method]:
        return {
            "conversations.info": self.info,
            "conversations.join": self.join,
            "conversations.open": self.open,
            "users.info": self.users_info,
        }

    def info(self, params: Params) -> dict[str, Any]:
        return {"ok": True, "channel": self._channel_object(self._ws.known_channel(params.get("channel")))}

    def join(self, params: Params) -> dict[str, Any]:
        channel = self._ws.channels.get(params.get("channel") or "")
        if channel is None or (channel.is_private and not channel.is_member):
            raise ApiError("channel_not_found")
        if channel.is_private:
            raise ApiError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise ApiError("is_archived")
        answer: dict[str, Any] = {"ok": True}
        if channel.is_member:
            answer.update(warning="already_in_channel", response_metadata={"warnings": ["already_in_channel"]})
        channel.is_member = True
        answer["channel"] = self._channel_object(channel.id)
        return answer

    def open(self, params: Params) -> dict[str, Any]:
        """The direct message with one user (`users`; a group DM of several is not played here)."""
        users = params.get("users")
        if not isinstance(users, str) or not users:
            raise ApiError("users_list_not_supplied")
        if "," in users:
            raise ApiError("fatal_error", status=500, detail="the stand-in plays no group DMs")
        channel_id = self._ws.im_channel(self._ws.user(users).id)
        return {"ok": True, "channel": {"id": channel_id}}

    def users_info(self, params: Params) -> dict[str, Any]:
        ws = self._ws
        user = ws.user(params.get("user"))
        return {"ok": True, "user": {
            "id": user.id, "team_id": ws.team_id, "name": user.name, "deleted": False,
            "real_name": user.real_name, "tz": user.tz, "is_admin": user.is_admin, "is_owner": False,
            "is_bot": user.is_bot, "is_app_user": False,
            "profile": {"real_name": user.real_name, "display_name": user.name, "team": ws.team_id},
        }}

    def _channel_object(self, channel_id: str) -> dict[str, Any]:
        channel = self._ws.channels[channel_id]
        if channel.is_im:
            return {"id": channel.id, "is_im": True, "user": channel.im_user, "created": 1_600_000_000,
                    "is_user_deleted": False, "is_archived": False, "context_team_id": self._ws.team_id}
        return {
            "id": channel.id, "name": channel.name, "name_normalized": channel.name,
            "is_channel": True, "is_group": False, "is_im": False, "is_mpim": False,
            "is_private": channel.is_private, "is_archived": channel.is_archived, "is_general": False,
            "is_member": channel.is_member, "created": 1_600_000_000, "creator": "U123",
            "context_team_id": self._ws.team_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
