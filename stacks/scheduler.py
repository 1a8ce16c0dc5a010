"""The scheduler inside `yadockeri bot` (and `yadockeri reaper` for setups without Slack).

Every REAPER_INTERVAL it runs the idle pass (sleep, warn, reap); every IMAGE_GC_INTERVAL it
removes unused images and old build cache. Only the holder of the `scheduler` lease in the
database acts, so two processes never act twice; missed runs coalesce into one. The lease
holder also counts router requests (activity.py). Every process serves the status endpoint
the router asks about unreachable stacks (status_page.py), if it can bind its port.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from .activity import ActivityTracker
from .engine import SCHEDULER, Engine
from .models import utcnow
from .status_page import StatusApp, StatusServer, bindable

log = logging.getLogger(__name__)

LEASE = "scheduler"


class Scheduler:
    def __init__(self, engine: Engine, *, serve_status: bool = True) -> None:
        self.engine = engine
        self.settings = engine.settings
        # One holder name per scheduler: two schedulers (even in one process) never share the lease.
        self.holder = f"{engine.runner}:{secrets.token_hex(3)}"
        self.lease_seconds = max(3 * self.settings.reaper_interval, 10)
        self.tracker: ActivityTracker | None = None
        self.status: StatusServer | None = None
        self.passes = 0  # idle passes this process ran as the lease holder
        self._serve_status = serve_status
        self._lock = threading.Lock()
        self._apscheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self) -> Scheduler:
        if self._serve_status:
            self._start_status_server()
        self._apscheduler.add_job(self.tick, "interval", seconds=self.settings.reaper_interval, id="idle",
                                  next_run_time=utcnow())
        self._apscheduler.add_job(self.collect_garbage, "interval", seconds=self.settings.image_gc_interval, id="gc")
        if self.settings.github_token and any(a.github and a.pull_requests for a in self.settings.apps.values()):
            from .pull_requests import PullRequests

            PullRequests.of(self.engine)  # from the start: deployments by hand are told on GitHub too
            self._apscheduler.add_job(self.reconcile_pull_requests, "interval", id="github",
                                      seconds=self.settings.github_sync_interval, next_run_time=utcnow())
        self._apscheduler.start()
        return self

    def stop(self) -> None:
        self._apscheduler.shutdown(wait=True)
        self._stop_tracker()
        if self.status is not None:
            self.status.stop()
        self.engine.store.release_lease(LEASE, self.holder)

    def leading(self) -> bool:
        return self.engine.store.acquire_lease(LEASE, self.holder, self.lease_seconds)

    def tick(self) -> None:
        """One idle pass, if this process holds the lease (else make sure it does not count)."""
        try:
            if not self.leading():
                self._stop_tracker()
                return
            self._start_tracker()
            actions = self.engine.idle_pass()
            self.passes += 1
            for action in actions:
                log.info("%s %s: %s", action.kind, action.stack, action.reason)
        except Exception:  # a pass that fails (database or Docker away) is simply tried again next time
            log.exception("idle pass failed")

    def collect_garbage(self) -> None:
        try:
            if self.leading():
                removed = self.engine.collect_garbage()
                if removed:
                    log.info("removed unused images: %s", ", ".join(removed))
        except Exception:
            log.exception("disk cleanup failed")

    def reconcile_pull_requests(self) -> None:
        """GitHub does not retry a failed delivery: compare with its open pull requests."""
        from .pull_requests import PullRequests

        try:
            if self.leading():
                for done in PullRequests.of(self.engine).reconcile():
                    log.info("pull requests: %s", done)
        except Exception:
            log.exception("reconciling pull requests failed")

    def _start_tracker(self) -> None:
        with self._lock:
            if self.tracker is None and self.settings.activity_tracking:
                self.tracker = ActivityTracker(
                    self.engine.store, self.engine.swarm, self.settings.router_service,
                    flush_seconds=self.settings.activity_flush, lease=(LEASE, self.holder),
                ).start()

    def _stop_tracker(self) -> None:
        with self._lock:
            tracker, self.tracker = self.tracker, None
        if tracker is not None:
            tracker.stop()

    def _start_status_server(self) -> None:
        from .router import router_token

        app = StatusApp(self.engine.store.get_stack, lambda stack: self.engine.wake(stack, SCHEDULER),
                        router_token=router_token(self.settings))  # what the router sends (router.py)
        host = self.settings.status_bind or self._status_bind()
        try:
            self.status = StatusServer(app, host=host, port=self.settings.status_port).start()
        except OSError as error:  # another yadockeri process on this host serves it already
            log.warning("status endpoint not served on %s:%s: %s", host, self.settings.status_port, error)

    def _status_bind(self) -> str:
        """Where the router reaches the status endpoint (the docker_gwbridge gateway, or the
        host of YADOCKERI_STATUS_URL), if this host has that address; else every address."""
        from .router import status_upstream

        try:
            upstream = status_upstream(self.engine.swarm, self.settings)
        except Exception as error:  # noqa: BLE001 - Docker away: the router cannot be asked where it connects
            log.warning("status endpoint: cannot tell where the router reaches it (%s); listening on 0.0.0.0", error)
            return "0.0.0.0"
        host = upstream.rsplit(":", 1)[0].strip("[]") if upstream else ""
        for address in _addresses(host):
            if bindable(address):
                return address
        log.warning("status endpoint: the router reaches it at %r, which is not an address of this host; "
                    "listening on 0.0.0.0 (set YADOCKERI_STATUS_BIND to choose)", upstream)
        return "0.0.0.0"


def _addresses(host: str) -> list[str]:
    """host as IP addresses: itself if it is one, else what it resolves to (a service name)."""
    if not host:
        return []
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
