"""The stand-ins' wait (Slack's and GitHub's): poll until something truthy, or TimeoutError."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_truthy(predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll `predicate` (which should only read a stand-in) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        time.sleep(0.01)
