"""Events already acted on: Slack delivers an event again when it did not get our 200 within
3 s (`X-Slack-Retry-Num`), with the same `event_id`. A mention must deploy once, however many
times it arrives.

In memory, bounded, each id forgotten after an hour (Slack retries within minutes). After a
restart of the bot a late retry would act again; every command a mention runs is safe to
repeat (a second deploy of the same branch queues behind the first)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

KEEP_SECONDS = 3600.0
MAX_KEYS = 10_000


class SeenKeys:
    def __init__(self, keep: float = KEEP_SECONDS, limit: int = MAX_KEYS) -> None:
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
            return True
