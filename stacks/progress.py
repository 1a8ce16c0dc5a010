"""How a deployment reports its progress to whoever asked (a terminal, a Slack thread).

The engine calls these methods from its worker threads; each front end implements them. A
reporter must be quick and must never raise into the engine: failures to report are the front
end's business (ReporterGuard swallows and logs them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .feed import DeploymentFeed
    from .store import DeploymentRecord, LockRecord

log = logging.getLogger(__name__)


class Reporter:
    """Base reporter: every method does nothing; front ends override what they show."""

    def queued(self, deployment: DeploymentRecord) -> None:
        """The deployment was recorded and waits for a worker."""

    def waiting(self, deployment: DeploymentRecord, holder: LockRecord) -> None:
        """Another deployment holds the stack; this one waits in line behind it."""

    def started(self, deployment: DeploymentRecord) -> None:
        """The deployment holds the stack and runs."""

    def step(self, deployment_id: int, name: str, state: str, seconds: float | None, detail: str | None) -> None:
        """A step started (state running) or ended (ok, skipped, failed)."""

    def log(self, deployment_id: int, line: str) -> None:
        """One line of build, release or deploy output (secrets already redacted)."""

    def finished(self, deployment: DeploymentRecord, urls: list[str]) -> None:
        """The deployment ended; deployment.state says how (succeeded, failed, interrupted)."""


class ReporterGuard(Reporter):
    """Wraps a front end's reporter (and any others watching the deployment, such as GitHub's)
    so that their failures never break a deployment, nor each other; tells the feed
    (stacks/feed.py) too, after the reporters, when the change is in the database."""

    def __init__(self, inner: Reporter | None, feed: DeploymentFeed | None = None, *,
                 also: Sequence[Reporter] = ()) -> None:
        self.inner = inner or Reporter()
        self.reporters = [self.inner, *also]
        self.feed = feed

    def _call(self, name: str, *args: object) -> None:
        for reporter in self.reporters:
            try:
                getattr(reporter, name)(*args)
            except Exception:  # a broken terminal or Slack outage must not fail the deploy
                log.exception("reporter %s failed in %s", type(reporter).__name__, name)
        if self.feed is not None and name != "log":
            first = args[0]
            self.feed.publish(first if isinstance(first, int) else getattr(first, "id", 0), name)

    def queued(self, deployment: DeploymentRecord) -> None:
        self._call("queued", deployment)

    def waiting(self, deployment: DeploymentRecord, holder: LockRecord) -> None:
        self._call("waiting", deployment, holder)

    def started(self, deployment: DeploymentRecord) -> None:
        self._call("started", deployment)

    def step(self, deployment_id: int, name: str, state: str, seconds: float | None, detail: str | None) -> None:
        self._call("step", deployment_id, name, state, seconds, detail)

    def log(self, deployment_id: int, line: str) -> None:
        self._call("log", deployment_id, line)

    def finished(self, deployment: DeploymentRecord, urls: list[str]) -> None:
        self._call("finished", deployment, urls)


class RecordingReporter(Reporter):
    """Keeps everything it is told; for tests and benches."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[object, ...]]] = []

    def __getattribute__(self, name: str):
        if name in {"queued", "waiting", "started", "step", "log", "finished"}:
            events = object.__getattribute__(self, "events")
            return lambda *args: events.append((name, args))
        return object.__getattribute__(self, name)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def lines(self) -> list[str]:
        return [str(args[1]) for name, args in self.events if name == "log"]
