"""Who calls: `Authorization: Bearer <token>` resolved to the token's actor (stacks/api_tokens.py,
which remembers a resolved token for a few seconds: then no thread and no database are needed),
and each token's rate (YADOCKERI_API_RATE, a token bucket; past it, 429 with Retry-After).
Failed authentications are limited per client address at the same rate, before any lookup."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from stacks.api_tokens import ApiTokens
from stacks.errors import PermissionDenied
from stacks.runner import Actor

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

    def _fill(self, key: str, now: float) -> Bucket:
        bucket = self._buckets.setdefault(key, Bucket(self.capacity, now))
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.per_second)
        bucket.at = now
        return bucket

    def take(self, key: str) -> float:
        """0 if the request may go on (and it is counted), else the seconds until it may."""
        with self._lock:
            bucket = self._fill(key, time.monotonic())
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.per_second

    def wait(self, key: str) -> float:
        """The seconds until a request may go on, without counting one."""
        with self._lock:
            bucket = self._fill(key, time.monotonic())
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.per_second


def bearer(header: str | None) -> str:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "send your token as `Authorization: Bearer <token>` (get one with `/yadockeri token` "
                            "in Slack, or from an admin)", {"WWW-Authenticate": "Bearer"})
    return token.strip()


def too_many(wait: float, message: str) -> ApiError:
    return ApiError(429, f"{message}; try again in {math.ceil(wait)}s", {"Retry-After": str(math.ceil(wait))})


class Authenticator:
    def __init__(self, tokens: ApiTokens, rate: str) -> None:
        self.tokens = tokens
        self.limiter = RateLimiter(rate)  # per token
        self.failures = RateLimiter(rate)  # per client address, for requests that fail to authenticate

    async def actor(self, header: str | None, client: str) -> Actor:
        """The caller's actor; 401 for no, unknown, revoked or expired tokens; 429 past a rate."""
        refused = self.failures.wait(client)
        if refused > 0:
            raise too_many(refused, f"too many requests without a valid token from {client}")
        try:
            token = bearer(header)
            resolve = self.tokens.actor_of
            actor, record = resolve(token) if self.tokens.cached(token) else await run_in_threadpool(resolve, token)
        except PermissionDenied as error:
            self.failures.take(client)
            raise ApiError(401, str(error), {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        except ApiError:
            self.failures.take(client)
            raise
        wait = self.limiter.take(record.name)
        if wait > 0:
            raise too_many(wait, f"token `{record.name}` is past its rate ({self.limiter.capacity:g} requests, "
                                 f"then {self.limiter.per_second:g}/s)")
        return actor
