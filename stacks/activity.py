"""Activity: requests through the router, counted per stack.

Each router task counts its requests per stack itself (router/start.sh, activity.awk) and
prints, once a second, `yadockeri-activity STACK COUNT LAST_MSEC` for each stack that had any.
The tracker follows the router service's logs through the Docker API (every node's tasks, no
path needed from the router to yadockeri), adds the counts up in memory and writes them in
batches: one transaction per flush, with the log position (a cursor) so a restart resumes where
it stopped and counts nothing twice. Only the scheduler's lease holder writes.
"""

from __future__ import annotations

import logging
import threading
import time
from calendar import timegm
from dataclasses import dataclass
from datetime import UTC, datetime

from .docker_adapter import LogStream, Swarm
from .router import ACTIVITY_PREFIX
from .store import Store

log = logging.getLogger(__name__)

CURSOR = "router-access-log"
RECONNECT_DELAY = 1.0


@dataclass(frozen=True)
class Hit:
    """Requests to one stack in one router task's second: how many, when the last one came
    (ns since epoch), and when the line was logged (the log position)."""

    stack: str
    count: int
    last_ns: int
    at_ns: int


def parse_line(raw: bytes | str) -> Hit | None:
    """A `docker service logs --timestamps` line of the router, or None if it is not a count."""
    line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    stamp, _, rest = line.strip().partition(" ")
    if not rest.startswith(ACTIVITY_PREFIX):
        return None
    words = rest[len(ACTIVITY_PREFIX):].split()
    at_ns = docker_time_ns(stamp)
    if at_ns is None or len(words) != 3 or not words[1].isdigit():
        return None
    seconds, _, millis = words[2].partition(".")  # nginx's $msec: seconds.milliseconds
    if not seconds.isdigit() or not (millis or "0").isdigit():
        return None
    last_ns = int(seconds) * 1_000_000_000 + int((millis + "000000000")[:9])
    return Hit(stack=words[0], count=int(words[1]), last_ns=last_ns, at_ns=at_ns)


def docker_time_ns(stamp: str) -> int | None:
    """RFC 3339 with up to nine fraction digits (Docker trims trailing zeros) -> ns since epoch."""
    try:
        whole, _, fraction = stamp.rstrip("Z").partition(".")
        seconds = timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    digits = (fraction + "000000000")[:9]
    return seconds * 1_000_000_000 + int(digits) if digits.isdigit() else None


def ns_to_datetime(at_ns: int) -> datetime:
    return datetime.fromtimestamp(at_ns / 1e9, tz=UTC)


class Counter:
    """Requests per stack since the last flush, and the newest log position seen."""

    def __init__(self, start_ns: int) -> None:
        self.position = start_ns
        self._lock = threading.Lock()
        self._batch: dict[str, tuple[int, int]] = {}

    def add(self, hit: Hit, *, seen_up_to: int) -> bool:
        """Count a hit unless it was counted before this stream started (the reconnect overlap).
        Within one stream every line counts: tasks on several nodes interleave out of order."""
        if hit.at_ns <= seen_up_to:
            return False
        with self._lock:
            count, last = self._batch.get(hit.stack, (0, 0))
            self._batch[hit.stack] = (count + hit.count, max(last, hit.last_ns))
            self.position = max(self.position, hit.at_ns)
            return True

    def take(self) -> tuple[dict[str, tuple[int, datetime]], int]:
        with self._lock:
            batch, self._batch = self._batch, {}
            position = self.position
        return {stack: (count, ns_to_datetime(last)) for stack, (count, last) in batch.items()}, position

    def give_back(self, batch: dict[str, tuple[int, datetime]]) -> None:
        """A flush that could not be written is tried again with the next one."""
        with self._lock:
            for stack, (count, last) in batch.items():
                mine, newest = self._batch.get(stack, (0, 0))
                self._batch[stack] = (mine + count, max(newest, int(last.timestamp() * 1e9)))


class ActivityTracker:
    """Follows the router's logs in a thread; flushes counts in another. start()/stop()."""

    def __init__(self, store: Store, swarm: Swarm, router_service: str, *, flush_seconds: float = 2.0,
                 lease: tuple[str, str] | None = None) -> None:
        self.store = store
        self.swarm = swarm
        self.router_service = router_service
        self.flush_seconds = flush_seconds
        self.lease = lease
        start = store.cursor(CURSOR)
        self.counter = Counter(start if start is not None else time.time_ns())
        self._stop = threading.Event()
        self._stream: LogStream | None = None
        self._threads = [
            threading.Thread(target=self._follow_forever, name="yadockeri-activity-follow", daemon=True),
            threading.Thread(target=self._flush_forever, name="yadockeri-activity-flush", daemon=True),
        ]

    def start(self) -> ActivityTracker:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._close_stream()
        for thread in self._threads:
            thread.join(5)
        self.flush()

    def flush(self) -> bool:
        batch, position = self.counter.take()
        if not batch:
            return True
        try:
            written = self.store.record_activity(batch, cursor=(CURSOR, position), lease=self.lease)
        except Exception:  # the database may be briefly away: keep the counts for the next flush
            log.exception("writing activity failed")
            written = False
        if not written:
            self.counter.give_back(batch)
        return written

    def _flush_forever(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def _follow_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow_once()
            except Exception as error:  # noqa: BLE001 - the stream broke (or stop() closed it): reconnect
                if self._stop.is_set():
                    return
                log.warning("following the router's logs: %s: %s", type(error).__name__, error)
            self._stop.wait(RECONNECT_DELAY)

    def _follow_once(self) -> None:
        seen_up_to = self.counter.position
        since = seen_up_to / 1e9 - 1  # a second of overlap; what was counted is skipped
        self._stream = self.swarm.follow_service_logs(self.router_service, since=since)
        try:
            for raw in self._stream:
                if self._stop.is_set():
                    return
                hit = parse_line(raw)
                if hit is not None:
                    self.counter.add(hit, seen_up_to=seen_up_to)
        finally:
            self._close_stream()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        close = getattr(stream, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - closing a broken stream can fail too
                pass
