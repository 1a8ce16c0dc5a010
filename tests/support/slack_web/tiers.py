"""Slack's rate limits, enforced as Slack enforces them, without being scripted: each Web API
method is limited per workspace by its tier (calls in any 60 s window), and chat.postMessage to
about one message a second per channel with short bursts. A call past its limit gets HTTP 429
with the Retry-After Slack would give. https://docs.slack.dev/apis/web-api/rate-limits
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .base import ratelimited

TIER = {1: 1, 2: 20, 3: 50, 4: 100}  # calls per minute ("+" in Slack's words: at least this)
METHOD_TIERS = {
    "chat.update": 3, "chat.delete": 3, "chat.postEphemeral": 4, "chat.getPermalink": 4,
    "conversations.info": 3, "conversations.join": 3, "conversations.history": 3, "conversations.replies": 3,
    "conversations.open": 3, "users.info": 4, "auth.test": 4,
    "views.open": 4, "views.update": 4, "views.push": 4, "views.publish": 4,
    "files.getUploadURLExternal": 4, "files.completeUploadExternal": 4,
}
POST_RATE, POST_BURST = 1.0, 5.0  # chat.postMessage per channel: 1 a second, bursts of a few


class Tiers:
    def __init__(self) -> None:
        self.enabled = True
        self._windows: dict[str, deque[float]] = {}
        self._posts: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)

    def check(self, method: str, params: dict[str, Any], now: float) -> None:
        """Count this call, or raise a 429 (not counted, as on Slack)."""
        if not self.enabled:
            return
        if method == "chat.postMessage":
            self._post(str(params.get("channel") or ""), now)
            return
        tier = METHOD_TIERS.get(method)
        if tier is None:
            return
        window = self._windows.setdefault(method, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= TIER[tier]:
            raise ratelimited(max(1, math.ceil(window[0] + 60 - now)))
        window.append(now)

    def _post(self, channel: str, now: float) -> None:
        tokens, at = self._posts.get(channel, (POST_BURST, now))
        tokens = min(POST_BURST, tokens + (now - at) * POST_RATE)
        if tokens < 1:
            self._posts[channel] = (tokens, now)
            raise ratelimited(max(1, math.ceil((1 - tokens) / POST_RATE)))
        self._posts[channel] = (tokens - 1, now)
