"""The list of stacks as JSON, made once and served to every caller until something changes in
this process (the engine's feed says a deployment did) or SECONDS pass (a change made by another
process). Fifty clients asking at once cost one read of the database, not fifty."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

SECONDS = 1.0


class Snapshot:
    def __init__(self, make: Callable[[], bytes], seconds: float = SECONDS) -> None:
        self._make = make
        self._seconds = seconds
        self._body: bytes | None = None
        self._made_at = 0.0
        self._generation = 0  # bumped by forget(): a body made before it is not kept
        self._lock: asyncio.Lock | None = None

    def forget(self, *_: object) -> None:
        """Something changed: the next caller makes the list again (callable from any thread)."""
        self._generation += 1
        self._body = None

    async def body(self) -> bytes:
        kept = self._kept()
        if kept is not None:
            return kept
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one maker; the others wait for its answer
            kept = self._kept()
            if kept is not None:
                return kept
            generation = self._generation
            body = await run_in_threadpool(self._make)
            if generation == self._generation:
                self._body, self._made_at = body, time.monotonic()
            return body

    def _kept(self) -> bytes | None:
        body = self._body
        return body if body is not None and time.monotonic() - self._made_at < self._seconds else None
