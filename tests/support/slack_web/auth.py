"""api.test, auth.test, and apps.connections.open (a Socket Mode URL, when the stand-in runs one)."""

from __future__ import annotations

from typing import Any

from .base import ApiError, Method, Params
from .workspace import Workspace


class AuthApi:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def methods(self) -> dict[str, Method]:
        return {
            "api.test": self.api_test,
            "auth.test": self.auth_test,
            "apps.connections.open": self.apps_connections_open,
        }

    def api_test(self, params: Params) -> dict[str, Any]:
        return {"ok": True, "args": params}

    def auth_test(self, params: Params) -> dict[str, Any]:
        ws = self._ws
        return {
            "ok": True,
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": ws.bot_user_name,
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, params: Params) -> dict[str, Any]:
        if self._ws.socket_mode is None:
            raise ApiError("fatal_error", status=500, detail="start SlackStandin(socket_mode=True) to use Socket Mode")
        return {"ok": True, "url": self._ws.socket_mode.new_connection_url()}
