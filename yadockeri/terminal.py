"""The terminal's rendering of a deployment's progress (the command line's Reporter).

Everything it prints passes through stacks.text.inert: build output, step details (a commit
subject), errors and names come from branches anyone can push, and must not drive the terminal.
A multi-line value is indented under its line, so it cannot pass for a line of yadockeri's own."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, TextIO

from stacks.progress import Reporter
from stacks.text import inert

from .control import current_out

if TYPE_CHECKING:
    from stacks.store import DeploymentRecord, LockRecord

MARKS = {"ok": "✓", "skipped": "·", "warning": "⚠", "failed": "✗"}
LOG_PREFIX = "           | "


class TerminalReporter(Reporter):
    def __init__(self, out: TextIO | None = None, *, show_log: bool = True) -> None:
        self.out = out or current_out()  # the control socket's client, when one asked
        self.show_log = show_log
        self.started_at = time.monotonic()
        self._lock = threading.Lock()

    def _print(self, text: str, *, indent: str = "    ") -> None:
        with self._lock:
            print(inert(text).replace("\n", "\n" + indent), file=self.out, flush=True)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started_at:5.1f}s"

    def queued(self, deployment: DeploymentRecord) -> None:
        self._print(f"#{deployment.id} {deployment.kind} {deployment.stack} ({deployment.branch}) queued")

    def waiting(self, deployment: DeploymentRecord, holder: LockRecord) -> None:
        since = holder.acquired_at.astimezone().strftime("%H:%M:%S")
        self._print(f"  waiting: `{deployment.stack}` is held by deployment #{holder.deployment_id} "
                    f"of {holder.holder} (since {since}); this one runs next in line")

    def started(self, deployment: DeploymentRecord) -> None:
        self._print(f"[{self._elapsed()}] started by {deployment.requested_by}")

    def step(self, deployment_id: int, name: str, state: str, seconds: float | None, detail: str | None) -> None:
        if state == "running":
            return
        took = f" {seconds:.1f}s" if seconds is not None else ""
        self._print(f"[{self._elapsed()}] {MARKS.get(state, '?')} {name}{took}" + (f"  {detail}" if detail else ""))

    def log(self, deployment_id: int, line: str) -> None:
        if self.show_log and line.strip():
            self._print(LOG_PREFIX + line, indent=LOG_PREFIX)

    def finished(self, deployment: DeploymentRecord, urls: list[str]) -> None:
        if deployment.state == "succeeded":
            where = f": {' '.join(urls)}" if urls else ""
            self._print(f"[{self._elapsed()}] ✓ {deployment.kind} of {deployment.stack} succeeded{where}")
            for step in deployment.steps:
                if step.state == "warning":
                    self._print(f"  ⚠ {step.name}: {step.detail}")
        else:
            self._print(f"[{self._elapsed()}] ✗ {deployment.kind} of {deployment.stack} {deployment.state}: {deployment.error}")
