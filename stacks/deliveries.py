"""GitHub's webhook deliveries as a durable queue: answered at once, acted on by a worker.

GitHub waits at most 10 s for an answer and never retries on its own, so the webhook only checks
the delivery (stacks/pull_requests.triage), keeps it in the database under its X-GitHub-Delivery
id and answers. One worker thread acts on the kept deliveries in the order they came. A
redelivery of a kept id is not kept again; a delivery a dead process was acting on is acted on
again at the next start (at least once; acting twice is a redeploy of the same commit).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pull_requests import PullRequests

log = logging.getLogger(__name__)


class MalformedPayload(ValueError):
    """A delivery whose JSON is not an event as GitHub sends it."""


IDLE_POLL = 5.0  # another process may have queued one (the worker is woken at once in this one)


class DeliveryQueue:
    def __init__(self, service: PullRequests) -> None:
        self.service = service
        self.store = service.engine.store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> DeliveryQueue:
        with self._lock:
            if self._thread is None:
                again = self.store.requeue_deliveries()
                if again:
                    log.warning("%d webhook deliveries were being acted on when yadockeri stopped: again now", again)
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="yadockeri-webhooks",
                                                daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        """After the delivery being acted on (the rest stays kept for the next start)."""
        with self._lock:
            thread, self._thread = self._thread, None
            stop, self._stop = self._stop, threading.Event()
        stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def accept(self, delivery: str, event: str, body: bytes) -> str | None:
        """Check a signed delivery (MalformedPayload if GitHub never sends such a body) and keep it.
        Returns what was done at once when there is nothing to queue ("pong", "ignored: ..."),
        "queued", or None when this id was kept already."""
        try:
            payload = json.loads(body)
        except ValueError:
            raise MalformedPayload("the delivery's body is not JSON") from None
        answer = self.service.triage(event, payload)
        if answer is not None:
            return answer
        if not self.store.queue_delivery(delivery, event, body.decode()):
            return None
        self._wake.set()
        return "queued"

    def wait(self, delivery: str, timeout: float = 30) -> str | None:
        """What a kept delivery did, once done (tests, benches); None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.store.delivery(delivery)
            if found is not None and found[0] == "done":
                return found[1]
            time.sleep(0.02)
        return None

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                claimed = self.store.claim_delivery()
            except Exception:  # the database may be briefly away: try again soon
                log.exception("reading the webhook queue failed")
                claimed = None
            if claimed is None:
                self._wake.wait(IDLE_POLL)
                self._wake.clear()
                continue
            self._act(*claimed)

    def _act(self, delivery: str, event: str, payload: str) -> None:
        try:
            result = self.service.handle(event, json.loads(payload))
        except Exception as error:  # recorded; the reconciliation repairs what it missed
            log.exception("webhook delivery %s failed", delivery)
            result = f"failed: {type(error).__name__}: {error}"
        try:
            self.store.finish_delivery(delivery, result)
        except Exception:
            log.exception("recording webhook delivery %s as done failed", delivery)
