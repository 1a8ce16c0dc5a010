"""The job runner: a bounded pool of worker threads runs queued deployments, one at a time per
stack (the database's lock queue says whose turn it is), heartbeats so that other processes know
it is alive, and marks the jobs of runners that died `interrupted` (getsentry/freight's way:
lock per stack, re-read the state, skip what is done, mark failed what a dead runner held).

What a job does is the pipeline's (stacks/jobs.py says which function); this module only runs it,
records the outcome and says so to the front ends (StackEvent) and the job's reporter.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .capacity import StackLimits
from .config import Settings
from .errors import BranchNotFound, LimitReached, PermissionDenied, YadockeriError
from .feed import DeploymentFeed
from .jobs import RULES, JobKind
from .models import utcnow
from .ports import StorePort
from .progress import Reporter, ReporterGuard
from .store import DeploymentRecord, LockRecord, StackRecord

if TYPE_CHECKING:
    from . import pipeline

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
DEAD_AFTER = timedelta(seconds=90)  # a runner on another host that stopped heartbeating
Watcher = Callable[[DeploymentRecord], Reporter | None]


@dataclass(frozen=True)
class Actor:
    """Who asks: a Slack user ID or `cli:<login>`, and whether they are an admin."""

    id: str
    source: str  # cli, slack, scheduler
    admin: bool = False


SCHEDULER = Actor(id="scheduler", source="scheduler", admin=True)


@dataclass
class JobHandle:
    """`future` has the outcome once the change is live (or failed); `done` once the stack's lock
    is free again (swarm's update monitor has passed: a rollback after live is announced)."""

    deployment: DeploymentRecord
    future: Future
    done: Future

    def wait(self, timeout: float | None = None) -> DeploymentRecord:
        return self.future.result(timeout)


@dataclass(frozen=True)
class StackEvent:
    """Something a front end may announce: created, failed, destroyed, interrupted (and, with the
    scheduler, slept, woke, warned, reaped). `deployment` is set when one caused it."""

    kind: str
    stack: str
    actor: str
    detail: str | None = None
    deployment: DeploymentRecord | None = None
    thread: str | None = None  # the stack's front-end thread (kept here: a destroyed stack's record is gone)
    owner: str | None = None  # the stack's owner, when known (a front end may tell them what others did)


def runner_id() -> str:
    """host:pid:start-time; the start time tells a reused pid apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def runner_is_dead(runner: str | None, heartbeat: datetime | None, now: datetime) -> bool:
    if not runner:
        return heartbeat is None or now - heartbeat > DEAD_AFTER
    host, _, rest = runner.partition(":")
    pid, _, started = rest.partition(":")
    if host == socket.gethostname() and pid.isdigit():
        return _process_start(int(pid)) != started  # "?" (gone) never equals a real start time
    return heartbeat is None or now - heartbeat > DEAD_AFTER


class JobRunner:
    """Runs the engine's jobs. `make_job` turns a deployment into the pipeline's Job (the
    engine's Docker connections and git mirrors); `emit` tells the front ends."""

    def __init__(self, settings: Settings, store: StorePort, *,
                 make_job: Callable[[DeploymentRecord, StackRecord, Reporter], pipeline.Job],
                 emit: Callable[[StackEvent], None], feed: DeploymentFeed | None = None) -> None:
        self.settings = settings
        self.feed = feed or DeploymentFeed()
        self.store = store
        self.make_job = make_job
        self.emit = emit
        self.runner = runner_id()
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="yadockeri-job")
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="yadockeri-heartbeat", daemon=True)
        self._watchers: list[Watcher] = []

    def watch(self, watcher: Watcher) -> None:
        """watcher(deployment) is asked at every submit for a reporter of its own (or None): whoever
        must hear of a stack's deployments whichever front end asked for them (GitHub's pull requests)."""
        self._watchers.append(watcher)

    def start(self) -> list[DeploymentRecord]:
        """Mark the jobs of dead runners interrupted, then heartbeat."""
        interrupted = self.recover()
        if not self._heartbeat.is_alive():
            self._heartbeat.start()
        return interrupted

    def close(self) -> None:
        """Stop following swarm's updates, finish what runs, then stop."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=False)

    def recover(self) -> list[DeploymentRecord]:
        now = utcnow()
        interrupted = self.store.recover_interrupted(lambda runner, beat: runner_is_dead(runner, beat, now))
        for deployment in interrupted:
            self.settle_stack_state(deployment.stack)
            self.store.add_event(actor=deployment.requested_by, source=deployment.source, action=deployment.kind,
                                 stack=deployment.stack, result="interrupted", detail=f"deployment #{deployment.id}")
            self.emit(StackEvent("interrupted", deployment.stack, deployment.requested_by, deployment.error, deployment))
        return interrupted

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.store.heartbeat(self.runner)
            except Exception:  # the database may be briefly unavailable; try again next beat
                log.exception("heartbeat failed")

    def submit(self, stack: str, app: str, branch: str, kind: str, actor: Actor, reporter: Reporter | None,
                *, create: bool = False, env: dict[str, str] | None = None) -> JobHandle:
        try:  # the owner and limit checks again, atomically with the record: stacks may have changed meanwhile
            deployment, created = self.store.create_deployment(
                stack=stack, app=app, branch=branch, kind=kind, actor=actor.id, source=actor.source, create=create,
                admin=actor.admin, limits=StackLimits.of(self.settings) if create else None,
            )
        except PermissionDenied:
            self.store.add_event(actor=actor.id, source=actor.source, action=kind, stack=stack, result="refused",
                                 detail="not owner or admin")
            raise
        except LimitReached as error:
            self._refused(error, actor, kind, stack)
            raise
        if created and env:  # before the job runs: its first release sees them
            self.store.change_env(stack, env, [], actor.id)
        self.store.claim_deployment(deployment.id, self.runner)
        self.store.add_event(actor=actor.id, source=actor.source, action=kind, stack=stack, result="queued",
                             detail=f"deployment #{deployment.id}" + (" (new stack)" if created else ""))
        guard = ReporterGuard(reporter, self.feed, also=self._watching(deployment))
        guard.queued(deployment)
        answer: Future = Future()
        done = self._pool.submit(self._run, deployment, guard, created, answer)
        return JobHandle(deployment, answer, done)

    def require_room(self, stack: str, actor: Actor) -> None:
        """Refuse a new stack at YADOCKERI_MAX_STACKS or _PER_OWNER, before anything is done."""
        try:
            self.store.require_room(actor.id, admin=actor.admin, limits=StackLimits.of(self.settings))
        except LimitReached as error:
            self._refused(error, actor, "deploy", stack)
            raise

    def _refused(self, error: LimitReached, actor: Actor, kind: str, stack: str) -> None:
        self.store.add_event(actor=actor.id, source=actor.source, action=kind, stack=stack, result="refused",
                             detail=f"limit {error.setting}={error.limit}")

    def _watching(self, deployment: DeploymentRecord) -> list[Reporter]:
        reporters = []
        for watcher in list(self._watchers):
            try:
                reporter = watcher(deployment)
            except Exception:  # a watcher's trouble never stops a deployment
                log.exception("deployment watcher failed")
                continue
            if reporter is not None:
                reporters.append(reporter)
        return reporters

    def _run(self, deployment: DeploymentRecord, reporter: Reporter, created: bool, answer: Future) -> DeploymentRecord:
        try:
            self._wait_turn(deployment, reporter)
            try:
                if not self.store.start_deployment(deployment.id, self.runner):
                    final = self.store.get_deployment(deployment.id)  # interrupted meanwhile: nothing to do
                    answer.set_result(final)
                    return final
                reporter.started(self.store.get_deployment(deployment.id))
                return self._execute(deployment, reporter, created, answer)
            finally:
                self.store.unlock(deployment.stack, deployment.id)
        except BaseException as error:
            if not answer.done():
                answer.set_exception(error)
            raise

    def _wait_turn(self, deployment: DeploymentRecord, reporter: Reporter) -> None:
        said: tuple[int, str] | None = None
        while True:
            holder = self.store.try_lock(deployment.stack, deployment.id, deployment.requested_by, self.runner)
            if holder is None:
                return
            if self._holder_is_dead(holder):
                self.recover()
                continue
            if said != (holder.deployment_id, holder.holder):
                said = (holder.deployment_id, holder.holder)
                reporter.waiting(deployment, holder)
            time.sleep(self.settings.poll_interval)

    def _holder_is_dead(self, holder: LockRecord) -> bool:
        if not holder.runner or holder.runner == self.runner:
            return False
        return runner_is_dead(holder.runner, None, utcnow()) and holder.runner.split(":")[0] == socket.gethostname()

    def _execute(self, deployment: DeploymentRecord, reporter: Reporter, created: bool,
                 answer: Future) -> DeploymentRecord:
        from . import pipeline

        stack = self.store.require_stack(deployment.stack)
        job = self.make_job(deployment, stack, reporter)
        state, error, bad_branch = "succeeded", None, False
        try:
            rules = RULES[JobKind(deployment.kind)]
            if rules.state_while:
                self.store.set_stack_state(stack.name, rules.state_while)
            rules.run(job)
        except YadockeriError as failure:
            state, error = "failed", job.log.redact(str(failure))
            bad_branch = isinstance(failure, BranchNotFound)
        except Exception as failure:  # a bug: record it, say it plainly, keep the worker alive
            log.exception("deployment #%s crashed", deployment.id)
            state, error = "failed", job.log.redact(f"internal error: {type(failure).__name__}: {failure}")
        finally:
            job.log.close()
        if error and stack.commit is None:
            pipeline.stop_failed_new_services(job)
        final = self._finish(job, state, error, forget=created and bad_branch)
        answer.set_result(final)  # live: the command and Slack say so now
        if state == "succeeded" and job.updated_services:
            self._settle(job, final)
        return final

    def _settle(self, job: pipeline.Job, final: DeploymentRecord) -> None:
        """Hold the stack until swarm's update monitor has passed; a rollback is announced."""
        from . import pipeline

        try:
            rolled_back = pipeline.settle_updates(job, self._stop.is_set)
        except YadockeriError as error:
            log.warning("deployment #%s: could not follow swarm's update: %s", final.id, error)
            return
        if rolled_back is None:
            return
        detail = job.log.redact(f"swarm rolled back {rolled_back} after the change went live; the previous "
                                f"version runs again. `redeploy {final.stack}` tries again")
        self.store.add_event(actor=final.requested_by, source=final.source, action="rollback", stack=final.stack,
                             result="failed", detail=detail[:500])
        self.emit(StackEvent("rolled-back", final.stack, final.requested_by, detail, final, owner=job.stack.owner))

    def _finish(self, job: pipeline.Job, state: str, error: str | None, *, forget: bool) -> DeploymentRecord:
        deployment = job.deployment
        self.store.finish_deployment(deployment.id, state, error=error, log_tail=job.log.tail())
        final = self.store.get_deployment(deployment.id)
        if deployment.kind == "destroy" and state == "succeeded":
            self.store.mark_destroyed(deployment.stack)
        elif deployment.kind == "sleep" and state == "succeeded":
            pass  # run_sleep changed the state itself, if it slept at all
        elif state == "succeeded":
            self.store.update_stack(deployment.stack, state="running", asleep=False, warned_at=None,
                                    last_activity_at=utcnow())
        elif forget:
            self.store.forget_stack(deployment.stack)  # a wrong branch creates no stack
        else:
            self.settle_stack_state(deployment.stack)
        self.store.add_event(actor=deployment.requested_by, source=deployment.source, action=deployment.kind,
                             stack=deployment.stack, result="ok" if state == "succeeded" else state,
                             detail=(error or "")[:500] or None)
        urls = self.settings.stack_urls(deployment.stack) if state == "succeeded" and deployment.kind != "destroy" else []
        job.reporter.finished(final, urls)
        self._announce(final, job.stack, forget)
        return final

    def _announce(self, final: DeploymentRecord, stack: StackRecord, forgotten: bool) -> None:
        if final.state == "failed" and not forgotten:
            self.emit(StackEvent("failed", final.stack, final.requested_by, final.error, final, owner=stack.owner))
        elif final.state == "succeeded" and final.kind == "destroy":
            reaped = final.requested_by == SCHEDULER.id
            self.emit(StackEvent("reaped" if reaped else "destroyed", final.stack, final.requested_by, None, final,
                                 thread=stack.thread, owner=stack.owner))
        elif final.state == "succeeded" and final.kind in ("sleep", "wake"):
            asleep = self.store.get_stack(final.stack)
            if asleep is not None and asleep.asleep == (final.kind == "sleep"):
                self.emit(StackEvent("slept" if final.kind == "sleep" else "woke", final.stack, final.requested_by, None, final))
        elif final.state == "succeeded" and stack.commit is None and final.kind == "deploy":
            self.emit(StackEvent("created", final.stack, final.requested_by, self.settings.stack_url(final.stack), final))

    def settle_stack_state(self, stack: str) -> None:
        """After a failure: running if an earlier deploy still serves, else failed."""
        record = self.store.get_stack(stack)
        if record is None:
            return
        if record.state == "destroying":
            self.store.set_stack_state(stack, "failed")
            return
        if record.asleep:
            self.store.set_stack_state(stack, "sleeping")
            return
        previous = [d for d in self.store.deployments(stack, limit=50) if d.state == "succeeded" and d.kind != "destroy"]
        self.store.set_stack_state(stack, "running" if previous and record.commit else "failed")
