"""conversations.history and conversations.replies: what the bot may read back of a channel it is
in (top-level messages newest first; a thread oldest first), with message metadata only when
`include_all_metadata` is asked for, as on Slack."""

from __future__ import annotations

import copy
from typing import Any

from .base import ApiError, Method, Params
from .workspace import Workspace

MAX_LIMIT = 999


class HistoryApi:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def methods(self) -> dict[str, Method]:
        return {"conversations.history": self.history, "conversations.replies": self.replies}

    def history(self, params: Params) -> dict[str, Any]:
        messages = [m for m in self._readable(params) if m.get("thread_ts") in (None, m["ts"])]
        return self._page(sorted(messages, key=lambda m: float(m["ts"]), reverse=True), params)

    def replies(self, params: Params) -> dict[str, Any]:
        ts = params.get("ts")
        if not isinstance(ts, str) or not ts:
            raise ApiError("invalid_arguments")
        messages = [m for m in self._readable(params) if m["ts"] == ts or m.get("thread_ts") == ts]
        if not any(m["ts"] == ts for m in messages):
            raise ApiError("thread_not_found")
        return self._page(sorted(messages, key=lambda m: float(m["ts"])), params)

    def _readable(self, params: Params) -> list[dict[str, Any]]:
        channel = self._ws.known_channel(params.get("channel"))
        if not self._ws.channels[channel].is_member:
            raise ApiError("not_in_channel")  # a bot reads only the channels it is in
        oldest, latest = _float(params.get("oldest"), 0.0), _float(params.get("latest"), float("inf"))
        return [m for m in self._ws.state.messages.get(channel, {}).values() if oldest <= float(m["ts"]) <= latest]

    def _page(self, messages: list[dict[str, Any]], params: Params) -> dict[str, Any]:
        limit = max(1, min(MAX_LIMIT, int(_float(params.get("limit"), 100))))
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("true", "1")
        shown = [copy.deepcopy(m) for m in messages[:limit]]
        if not with_metadata:
            for message in shown:
                message.pop("metadata", None)
        return {"ok": True, "messages": shown, "has_more": len(messages) > limit,
                "response_metadata": {"next_cursor": ""}}


def _float(value: Any, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments") from None
