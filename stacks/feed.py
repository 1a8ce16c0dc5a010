"""Deployments as they happen, for whoever follows one (the HTTP API's event streams).

Every job's reporter is wrapped by the runner (progress.ReporterGuard), which also tells the
feed: a subscriber of a deployment is called when it is queued, starts, a step changes or it
ends. The callback runs in the job's thread and must be quick: the API's only wakes its stream,
which then reads the deployment from the database (the store writes before the feed says so).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Listener = Callable[[int, str], None]  # (deployment id, what happened: queued, started, step, finished)


class DeploymentFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, list[Listener]] = {}
        self._everything: list[Listener] = []

    def subscribe_all(self, listener: Listener) -> None:
        """Call listener for every change of every deployment (a cache that must forget)."""
        with self._lock:
            self._everything.append(listener)

    def subscribe(self, deployment_id: int, listener: Listener) -> Callable[[], None]:
        """Call listener for every change of this deployment; returns the unsubscribe."""
        with self._lock:
            self._listeners.setdefault(deployment_id, []).append(listener)

        def unsubscribe() -> None:
            with self._lock:
                listeners = self._listeners.get(deployment_id, [])
                if listener in listeners:
                    listeners.remove(listener)
                if not listeners:
                    self._listeners.pop(deployment_id, None)

        return unsubscribe

    def publish(self, deployment_id: int, what: str) -> None:
        with self._lock:
            listeners = [*self._listeners.get(deployment_id, ()), *self._everything]
        for listener in listeners:
            try:
                listener(deployment_id, what)
            except Exception:  # a follower's failure never breaks a deployment
                log.exception("feed listener failed")
