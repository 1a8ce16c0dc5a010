"""The tests' one wait: poll until something truthy, or raise (the stand-ins' TimeoutError,
helpers.wait_until's AssertionError)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(predicate: Callable[[], T], timeout: float, interval: float,
               timed_out: Callable[[], BaseException]) -> T:
    """The predicate's first truthy value, asked every `interval` seconds (once more at the
    deadline); `timed_out()` is raised when none came. Every wait of the tests goes through here."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise timed_out()
        time.sleep(interval)


def wait_truthy(predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll `predicate` (which should only read a stand-in) until it returns something truthy."""
    return poll_until(predicate, timeout, 0.01, lambda: TimeoutError(f"{what} not met within {timeout}s"))
