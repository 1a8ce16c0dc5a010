"""A deployment's Server-Sent Events: each step as it happens, then the end state and URL.

The engine's feed (stacks/feed.py) wakes the stream when its deployment changes in this
process; the stream then reads the deployment (the store wrote first) and sends what is new.
A deployment run by another process is read every FALLBACK seconds instead. An idle stream gets
a keep-alive comment every YADOCKERI_API_KEEPALIVE seconds, so proxies keep it open. Streams are
coroutines, not threads: many can stay open.

    event: step     data: {"deployment": 7, "name": "build", "state": "ok", "seconds": 3.1, "detail": "..."}
    event: state    data: {"deployment": 7, "state": "running"}
    event: end      data: {"deployment": 7, "state": "succeeded", "url": "http://...", "error": null}
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from stacks.engine import Engine

from . import views

FALLBACK = 1.0  # seconds between reads of a deployment this process does not run


def message(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def stream(engine: Engine, deployment_id: int, keepalive: float) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def woken(deployment: int, what: str) -> None:  # in the job's thread
        loop.call_soon_threadsafe(wake.set)

    unsubscribe = engine.feed.subscribe(deployment_id, woken)
    sent: dict[int, tuple[str, str | None]] = {}
    state: str | None = None
    quiet_since = time.monotonic()
    try:
        while True:
            wake.clear()  # before the read: a change after it wakes the next one
            record = await run_in_threadpool(engine.deployment, deployment_id)
            out = []
            for index, step in enumerate(record.steps):
                if sent.get(index) != (step.state, step.detail):
                    sent[index] = (step.state, step.detail)
                    out.append(message("step", {"deployment": deployment_id, "name": step.name, "state": step.state,
                                                "seconds": step.seconds, "detail": step.detail}))
            if record.state != state:
                state = record.state
                out.append(message("state", {"deployment": deployment_id, "state": state}))
            for text in out:
                yield text
            if record.state in views.FINISHED:
                url = views.deployment(record, engine.settings).url
                yield message("end", {"deployment": deployment_id, "state": record.state, "url": url,
                                      "error": record.error})
                return
            if out:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= keepalive:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            try:
                await asyncio.wait_for(wake.wait(), timeout=min(FALLBACK, keepalive))
            except TimeoutError:
                pass
    finally:
        unsubscribe()
