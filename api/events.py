"""A deployment's Server-Sent Events: each step as it happens, then the end state and URL.

One watch per followed deployment, however many streams follow it: the engine's feed
(stacks/feed.py) wakes it when the deployment changes in this process, it reads the deployment
once (the store wrote first) and hands the record to every stream, which sends what is new to
it. A deployment run by another process is read every FALLBACK seconds instead. An idle stream
gets a keep-alive comment every YADOCKERI_API_KEEPALIVE seconds, so proxies keep it open.
Streams are coroutines, not threads: many can stay open.

    event: state    data: {"deployment": 7, "state": "running"}
    event: step     data: {"deployment": 7, "name": "build", "state": "ok", "seconds": 3.1, "detail": "..."}
    event: end      data: {"deployment": 7, "state": "succeeded", "url": "http://...", "error": null}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool

from stacks.engine import Engine
from stacks.store import DeploymentRecord

from . import views

FALLBACK = 1.0  # seconds between reads of a deployment this process does not run


def message(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


class Watch:
    """Reads one deployment when it changes and hands the record to every stream following it."""

    def __init__(self, engine: Engine, deployment_id: int, on_idle: Callable[[Watch], None]) -> None:
        self.engine, self.id = engine, deployment_id
        self.queues: set[asyncio.Queue[DeploymentRecord]] = set()
        self._wake = asyncio.Event()
        self._on_idle = on_idle
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = engine.feed.subscribe(deployment_id, self._changed)
        self._task = asyncio.create_task(self._run())

    def _changed(self, deployment_id: int, what: str) -> None:  # in the job's thread
        self._loop.call_soon_threadsafe(self._wake.set)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        try:
            while self.queues:
                self._wake.clear()  # before the read: a change after it wakes the next one
                record = await run_in_threadpool(self.engine.deployment, self.id)
                for queue in list(self.queues):
                    queue.put_nowait(record)
                if record.state in views.FINISHED:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=FALLBACK)
        finally:
            self._unsubscribe()
            self._on_idle(self)


class Watches:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._watches: dict[int, Watch] = {}

    def follow(self, deployment_id: int) -> asyncio.Queue[DeploymentRecord]:
        queue: asyncio.Queue[DeploymentRecord] = asyncio.Queue()
        watch = self._watches.get(deployment_id)
        if watch is None:
            watch = self._watches[deployment_id] = Watch(self.engine, deployment_id, self._idle)
        watch.queues.add(queue)
        watch.wake()  # a new follower gets the deployment as it is now
        return queue

    def leave(self, deployment_id: int, queue: asyncio.Queue[DeploymentRecord]) -> None:
        watch = self._watches.get(deployment_id)
        if watch is not None:
            watch.queues.discard(queue)

    def _idle(self, watch: Watch) -> None:
        if self._watches.get(watch.id) is watch:
            del self._watches[watch.id]


async def stream(watches: Watches, deployment_id: int, keepalive: float) -> AsyncIterator[str]:
    queue = watches.follow(deployment_id)
    sent: dict[int, tuple[str, str | None]] = {}
    state: str | None = None
    try:
        while True:
            try:
                record = await asyncio.wait_for(queue.get(), timeout=keepalive)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            out = []
            if record.state != state:
                state = record.state
                out.append(message("state", {"deployment": deployment_id, "state": state}))
            for index, step in enumerate(record.steps):
                if sent.get(index) != (step.state, step.detail):
                    sent[index] = (step.state, step.detail)
                    out.append(message("step", {"deployment": deployment_id, "name": step.name, "state": step.state,
                                                "seconds": step.seconds, "detail": step.detail}))
            for text in out:
                yield text
            if record.state in views.FINISHED:
                url = views.deployment(record, watches.engine.settings).url
                yield message("end", {"deployment": deployment_id, "state": record.state, "url": url,
                                      "error": record.error})
                return
    finally:
        watches.leave(deployment_id, queue)

