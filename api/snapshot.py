"""The list of stacks as JSON, made once and served to every caller until something changes.

A change in this process (the engine's feed says a deployment did; the API's own keep) makes
the next caller wait for a new list: a client that just asked for a deploy sees its stack. A
list older than SECONDS (a change made by another process) is still served while one new list
is made in the background, so that callers never queue behind the database all at once.
Fifty clients asking at once cost one read of the database, not fifty."""

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
        self._generation = 0  # bumped by forget(): a body made before it is never served again
        self._body_generation = -1
        self._lock: asyncio.Lock | None = None
        self._refreshing: asyncio.Task[bytes] | None = None

    def forget(self, *_: object) -> None:
        """Something changed: the next caller waits for a new list (callable from any thread)."""
        self._generation += 1

    async def body(self) -> bytes:
        body = self._body
        if body is not None and self._body_generation == self._generation:
            if time.monotonic() - self._made_at >= self._seconds and self._refreshing is None:
                self._refreshing = asyncio.create_task(self._remake())
            return body  # current, or at most SECONDS behind another process's change
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one maker; the others wait for its answer
            if self._body is not None and self._body_generation == self._generation:
                return self._body
            return await self._remake()

    async def _remake(self) -> bytes:
        try:
            generation = self._generation
            body = await run_in_threadpool(self._make)
            if generation == self._generation:
                self._body, self._made_at, self._body_generation = body, time.monotonic(), generation
            return body
        finally:
            self._refreshing = None
