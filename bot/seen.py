"""Events already acted on: Slack delivers an event again when it did not get our 200 within
3 s (`X-Slack-Retry-Num`), with the same `event_id`. A mention must deploy once, however many
times it arrives.

Kept in the database (through the engine's store, a day), so that a retry arriving after a
restart of the bot acts no more either; in memory too, so that a retry in the same process
never waits for the database."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

KEEP_SECONDS = 3600.0
MAX_KEYS = 10_000


class SeenKeys:
    def __init__(self, keep: float = KEEP_SECONDS, limit: int = MAX_KEYS,
                 first_time: Callable[[str], bool] | None = None) -> None:
        self._durable = first_time  # the store's: across restarts and processes
        self._keep = keep
        self._limit = limit
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when first seen, oldest first

    def first_time(self, key: str) -> bool:
        """True the first time `key` is given (within the last hour), False after."""
        now = time.monotonic()
        with self._lock:
            while self._seen and (len(self._seen) >= self._limit or next(iter(self._seen.values())) < now - self._keep):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
        return self._durable is None or self._durable(key)
