"""Who calls: `Authorization: Bearer <token>` resolved to the token's actor (stacks/api_tokens.py),
and each token's rate (YADOCKERI_API_RATE, a token bucket; past it, 429 with Retry-After)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from stacks.errors import PermissionDenied
from stacks.runner import Actor
from stacks.tokens import TokenRecord

from .errors import ApiError

PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass
class Bucket:
    tokens: float
    at: float


class RateLimiter:
    """N requests per period per key, with bursts up to N (a token bucket)."""

    def __init__(self, rate: str) -> None:
        count, _, period = rate.partition("/")
        self.capacity = float(count)
        self.per_second = float(count) / PERIODS[period]
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if the request may go on, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key, Bucket(self.capacity, now))
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.per_second)
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.per_second


def bearer(header: str | None) -> str:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "send your token as `Authorization: Bearer <token>` (get one with `/yadockeri token` "
                            "in Slack, or from an admin)", {"WWW-Authenticate": "Bearer"})
    return token.strip()


def authenticate(resolve: Callable[[str], tuple[Actor, TokenRecord]], limiter: RateLimiter, header: str | None) -> Actor:
    """The caller's actor; 401 for no, unknown, revoked or expired tokens; 429 past the rate."""
    try:
        actor, record = resolve(bearer(header))
    except PermissionDenied as error:
        raise ApiError(401, str(error), {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    wait = limiter.take(record.name)
    if wait > 0:
        raise ApiError(429, f"token `{record.name}` is past its rate ({limiter.capacity:g} requests, "
                            f"then {limiter.per_second:g}/s); try again in {math.ceil(wait)}s",
                       {"Retry-After": str(math.ceil(wait))})
    return actor
