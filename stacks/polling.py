"""The one way yadockeri waits for Docker: ask, and ask again a moment later.

Docker has no events for most of what yadockeri waits for (task states, a container that is
gone, a job that finished), so every wait is a poll with a deadline. Pure control flow; what to
ask and what a timeout means are the caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(done: Callable[[], T | None], *, timeout: float, interval: float,
               timed_out: Callable[[], T], stop: Callable[[], bool] | None = None) -> T | None:
    """Call done() until it returns something other than None, and return that. After `timeout`
    seconds, return what timed_out() returns (or raise what it raises). `stop()` true ends the
    wait early with None. done() is always asked at least once, at once."""
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if result is not None:
            return result
        if stop is not None and stop():
            return None
        if time.monotonic() >= deadline:
            return timed_out()
        time.sleep(interval)
