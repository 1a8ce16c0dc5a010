"""Many stacks at once for the benches that need them (bench/idle.py, bench/scale.py): deploy a
wave, put some to sleep as the scheduler would, time an action."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from stacks.engine import Actor, Engine
from stacks.models import utcnow

ADMIN = Actor(id="cli:bench", source="cli", admin=True)


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def deploy_many(engine: Engine, names: list[str], timeout: float = 900) -> None:
    """Deploy every stack (as many at once as the engine's workers), each until it is live."""
    handles = [engine.deploy(name, "main", ADMIN) for name in names]
    for handle in handles:
        record = handle.wait(timeout)
        if record.state != "succeeded":
            raise SystemExit(f"deploy of {record.stack} failed: {record.error}")


def put_to_sleep(engine: Engine, names: list[str], timeout: float = 600) -> None:
    """Make the stacks idle past YADOCKERI_SLEEP_AFTER; one scheduler pass sleeps them."""
    long_ago = utcnow() - timedelta(seconds=engine.settings.sleep_after + 60)
    for name in names:
        engine.store.update_stack(name, last_activity_at=long_ago)
    engine.idle_pass()
    deadline = time.monotonic() + timeout
    while not all(engine.store.require_stack(n).asleep for n in names):
        if time.monotonic() > deadline:
            raise SystemExit("stacks did not fall asleep")
        time.sleep(0.5)
