"""How many Slack calls the outbox may make, per method and workspace, before Slack says 429.

Slack limits Web API methods per method and workspace in tiers (Tier 3, `chat.update`: about 50
a minute) and `chat.postMessage` to about one message a second per channel, with short bursts.
One token bucket per key keeps the outbox below each, with a little room, so that a burst of
deployments shares the budget instead of meeting 429s; a 429 still blocks its key for
Retry-After. A call whose bucket is empty waits: the outbox then gives the next token to the
message that waited longest, final states first, ticks of the elapsed time last (`spare`).
https://docs.slack.dev/apis/web-api/rate-limits
"""

from __future__ import annotations

from dataclasses import dataclass

# (sustained calls per second, burst): below Slack's limits, each in any 60 s window
LIMITS: dict[str, tuple[float, float]] = {
    "chat.update": (44 / 60, 5),  # Tier 3: 50+ per minute per workspace
    "chat.postMessage": (1.0, 4),  # special: 1 per second per channel, short bursts
    "files.upload": (18 / 60, 2),  # Tier 2 for files.getUploadURLExternal and completeUploadExternal: 20+ per minute
    "conversations.history": (44 / 60, 3),  # Tier 3
    "conversations.replies": (44 / 60, 3),  # Tier 3
}
PER_CHANNEL = frozenset({"chat.postMessage"})


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    at: float
    blocked_until: float = 0.0

    def refill(self, now: float) -> None:
        if now > self.at:  # (after a 429, `at` is the end of Retry-After: nothing accrues before)
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now


class Budget:
    """Not thread-safe: the outbox calls it under its own lock."""

    def __init__(self, limits: dict[str, tuple[float, float]] | None = None) -> None:
        self._limits = LIMITS if limits is None else limits
        self._buckets: dict[str, _Bucket] = {}
        self.rate_limited = 0  # 429s received

    @staticmethod
    def key(method: str, channel: str) -> str:
        return f"{method} {channel}" if method in PER_CHANNEL else method

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            rate, capacity = self._limits.get(key.split(" ")[0], (1000.0, 1000.0))
            bucket = self._buckets[key] = _Bucket(rate, capacity, capacity, now)
        bucket.refill(now)
        return bucket

    def ready_at(self, key: str, now: float, *, spare: float = 0.0) -> float:
        """When a call of this key may go (now or later); `spare` tokens must stay after it."""
        bucket = self._bucket(key, now)
        need = 1.0 + spare
        if need > bucket.capacity:
            need = bucket.capacity
        wait = 0.0 if bucket.tokens >= need else (need - bucket.tokens) / bucket.rate
        return max(now + wait, bucket.blocked_until)

    def take(self, key: str, now: float) -> None:
        bucket = self._bucket(key, now)
        bucket.tokens -= 1.0

    def blocked(self, key: str, now: float, retry_after: float) -> None:
        """Slack said 429: nothing of this key before Retry-After, and the bucket starts empty."""
        bucket = self._bucket(key, now)
        bucket.blocked_until = max(bucket.blocked_until, now + retry_after)
        bucket.tokens = 0.0
        bucket.at = bucket.blocked_until
        self.rate_limited += 1
