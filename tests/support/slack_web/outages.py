"""Slack having a bad day: for a while every request gets HTTP 503, hangs, has its connection
reset, or is processed and then loses its answer (the connection drops before the reply)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

MODES = ("503", "timeout", "reset", "dropped")


@dataclass
class Outage:
    mode: str
    until: float


class Outages:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Outage | None = None
        self.hit = 0  # requests that met an outage

    def start(self, seconds: float, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"outage mode is one of {MODES}")
        with self._lock:
            self._current = Outage(mode, time.monotonic() + seconds)

    def end(self) -> None:
        with self._lock:
            self._current = None

    def now(self) -> Outage | None:
        """The outage in force, if any (and counts the request)."""
        with self._lock:
            current = self._current
            if current is None or time.monotonic() >= current.until:
                self._current = None
                return None
            self.hit += 1
            return current
