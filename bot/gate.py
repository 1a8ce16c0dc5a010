"""Ack first, then work.

Every request is acked by a thread of this one Python process; under the GIL, the ack of a
request that comes in a burst would wait for the work of the requests acked just before it
(database, Docker, Slack calls). So the bot's own work waits while requests are being acked:
until none has been in flight for a moment, and never longer than `max_wait` (so work is only
ever deferred a little, never starved, and a trigger_id is still fresh when a modal opens).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

QUIET = 0.1  # seconds without a request in flight
MAX_WAIT = 1.0  # seconds work may be deferred at most


class AckFirst:
    def __init__(self, quiet: float = QUIET, max_wait: float = MAX_WAIT) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self._cond = threading.Condition()
        self._in_flight = 0
        self._last_end = 0.0

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around the handling of one request from Slack, up to its ack."""
        with self._cond:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._last_end = time.monotonic()
                self._cond.notify_all()

    def wait(self) -> None:
        """Before work: until no request has been in flight for `quiet` seconds (at most `max_wait`)."""
        deadline = time.monotonic() + self.max_wait
        with self._cond:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                if self._in_flight == 0:
                    quiet_for = now - self._last_end
                    if quiet_for >= self.quiet:
                        return
                    self._cond.wait(min(self.quiet - quiet_for, deadline - now))
                else:
                    self._cond.wait(deadline - now)
