"""The engine: what every front end calls, with plain values.

A mutating call (deploy, redeploy, env change, destroy) checks its input, records a queued
deployment and returns at once with a JobHandle; a bounded pool of worker threads runs it
when the stack's database lock says it is its turn. Reads (list, status, logs) answer directly.
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

from .commands import KEEP_DEFAULT
from .config import Settings
from .errors import BranchNotFound, DockerUnavailable, NotFound, PermissionDenied, YadockeriError
from .example import ensure_example_repo
from .idle import FOREVER, Action, Schedule, Timing, decide, describe, schedule_of
from .jobs import RULES, JobKind
from .models import utcnow
from .names import check_env_value
from .progress import Reporter, ReporterGuard
from .router import check_router
from .secrets import load_fernet, mask, redact
from .store import DeploymentRecord, LockRecord, StackRecord, Store

if TYPE_CHECKING:  # Docker's and git's modules load on first use: `yadockeri list` stays quick
    from . import pipeline
    from .gitrepo import Mirror
    from .swarm import Swarm

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
DEAD_AFTER = timedelta(seconds=90)  # a runner on another host that stopped heartbeating


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


@dataclass(frozen=True)
class ServiceState:
    name: str
    role: str
    running: int
    desired: int
    error: str | None


@dataclass(frozen=True)
class StackStatus:
    stack: StackRecord
    urls: list[str]
    deployments: list[DeploymentRecord]
    services: list[ServiceState]
    env_keys: list[str]
    next: str = ""  # what happens next: "sleeps in 1h", "reaped in 20h", "kept 6d"


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


class Engine:
    def __init__(self, settings: Settings, *, docker_host: str | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_url, load_fernet(
            settings.secret_key.get_secret_value() if settings.secret_key else None, settings.data_dir
        ))
        self.runner = runner_id()
        self._docker_host = docker_host
        self._swarm: Swarm | None = None
        self._builder: Swarm | None = None  # YADOCKERI_BUILDER's engine, when set
        self._swarm_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="yadockeri-job")
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="yadockeri-heartbeat", daemon=True)
        self._listeners: list[Callable[[StackEvent], None]] = []
        self.interrupted_at_start: list[DeploymentRecord] = []  # for a front end that starts after start()

    def add_listener(self, listener: Callable[[StackEvent], None]) -> None:
        """Call listener for every StackEvent (from worker threads; it must be quick and not raise)."""
        self._listeners.append(listener)

    def emit(self, event: StackEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a front end's failure to announce never breaks the engine
                log.exception("stack event listener failed on %s", event.kind)

    # Life cycle -------------------------------------------------------------------------------
    def start(self) -> list[DeploymentRecord]:
        """Sync apps, make the example repo, mark deployments of dead runners interrupted."""
        if "hello" in self.settings.apps and self.settings.apps["hello"].repo.startswith(str(self.settings.data_dir)):
            ensure_example_repo(self.settings.apps["hello"].repo)
        self.store.sync_apps(self.settings.apps)
        interrupted = self.recover()
        self.interrupted_at_start.extend(interrupted)
        if not self._heartbeat.is_alive():
            self._heartbeat.start()
        return interrupted

    def recover(self) -> list[DeploymentRecord]:
        now = utcnow()
        interrupted = self.store.recover_interrupted(lambda runner, beat: runner_is_dead(runner, beat, now))
        for deployment in interrupted:
            self._settle_stack_state(deployment.stack)
            self.store.add_event(actor=deployment.requested_by, source=deployment.source, action=deployment.kind,
                                 stack=deployment.stack, result="interrupted", detail=f"deployment #{deployment.id}")
            self.emit(StackEvent("interrupted", deployment.stack, deployment.requested_by, deployment.error, deployment))
        return interrupted

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.store.close()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.store.heartbeat(self.runner)
            except Exception:  # the database may be briefly unavailable; try again next beat
                log.exception("heartbeat failed")

    @property
    def swarm(self) -> Swarm:
        with self._swarm_lock:
            if self._swarm is None:
                from .swarm import Swarm, connect, docker_host

                swarm = Swarm(connect(self._docker_host), docker_host(self._docker_host))
                self._login(swarm)
                self._swarm = swarm
            return self._swarm

    @property
    def builder(self) -> Swarm:
        """The engine images are built on: YADOCKERI_BUILDER if set, else the manager."""
        if not self.settings.builder:
            return self.swarm
        with self._swarm_lock:
            if self._builder is None:
                from .swarm import Swarm, connect_builder

                client = connect_builder(self.settings.builder, self.settings.builder_tls,
                                         self.settings.data_dir / "builder-tls")
                builder = Swarm(client, self.settings.builder)
                self._login(builder)
                self._builder = builder
            return self._builder

    def _login(self, engine: Swarm) -> None:
        """With a registry login, pushes and service creations carry it: any node pulls."""
        if self.settings.registry and self.settings.registry_username:
            password = self.settings.registry_password
            engine.login(self.settings.registry, self.settings.registry_username,
                         password.get_secret_value() if password else "")

    def check_docker(self) -> None:
        """Fail now, with a clear message, if Docker is unreachable (before recording anything)."""
        try:
            self.swarm.client.ping()
        except DockerUnavailable:
            raise
        except Exception as error:  # noqa: BLE001 - any failure to reach Docker is said as Docker unavailable
            with self._swarm_lock:
                self._swarm = None
            raise DockerUnavailable(f"cannot reach the Docker daemon: {error}") from None

    # Mutations --------------------------------------------------------------------------------
    def deploy(self, stack: str, branch: str, actor: Actor, *, app: str | None = None,
               reporter: Reporter | None = None) -> JobHandle:
        existing = self.store.get_stack(stack)
        if existing is not None:
            if app and app != existing.app:
                raise YadockeriError(f"stack `{stack}` runs app `{existing.app}`; destroy it first to use `{app}`")
            if branch != existing.branch:
                self._require_owner(existing, actor, f"move `{stack}` to another branch")
            app_name = existing.app
        else:
            app_name = self.settings.app(app)[0]
        self.check_docker()
        self._require_router()
        self._require_registry()
        if existing is None:
            self._refuse_foreign_stack(stack)
        return self._submit(stack, app_name, branch, "deploy", actor, reporter, create=True)

    def redeploy(self, stack: str, actor: Actor, *, reporter: Reporter | None = None) -> JobHandle:
        record = self.store.require_stack(stack)
        self.check_docker()
        self._require_router()
        self._require_registry()
        return self._submit(stack, record.app, record.branch, "redeploy", actor, reporter)

    def destroy(self, stack: str, actor: Actor, *, reporter: Reporter | None = None) -> JobHandle:
        record = self.store.require_stack(stack)
        self._require_owner(record, actor, f"destroy `{stack}`")
        self.check_docker()
        return self._submit(stack, record.app, record.branch, "destroy", actor, reporter)

    def change_env(self, stack: str, set_values: dict[str, str], unset: list[str], actor: Actor, *,
                   reporter: Reporter | None = None) -> tuple[list[str], JobHandle | None]:
        """Store the change now; roll it out (no rebuild) in a job. Returns the changed keys."""
        for key, value in set_values.items():  # the env form does not go through the parser
            check_env_value(key, value)
        record = self.store.require_stack(stack)
        self._require_owner(record, actor, f"change the env of `{stack}`")
        missing = [key for key in unset if key not in self.store.get_env(stack) and key not in set_values]
        if missing:
            raise NotFound(f"`{stack}` has no env var {', '.join(missing)}")
        self.check_docker()
        self._require_router()
        changed = self.store.change_env(stack, set_values, unset, actor.id)
        self.store.add_event(actor=actor.id, source=actor.source, action="env", stack=stack, result="ok",
                             detail="changed " + ", ".join(changed) if changed else "no change")
        if not changed:
            return [], None
        return changed, self._submit(stack, record.app, record.branch, "env", actor, reporter)

    def _submit(self, stack: str, app: str, branch: str, kind: str, actor: Actor, reporter: Reporter | None,
                *, create: bool = False) -> JobHandle:
        try:  # the owner check again, atomically with the record: the stack may have moved meanwhile
            deployment, created = self.store.create_deployment(
                stack=stack, app=app, branch=branch, kind=kind, actor=actor.id, source=actor.source, create=create,
                admin=actor.admin,
            )
        except PermissionDenied:
            self.store.add_event(actor=actor.id, source=actor.source, action=kind, stack=stack, result="refused",
                                 detail="not owner or admin")
            raise
        self.store.claim_deployment(deployment.id, self.runner)
        self.store.add_event(actor=actor.id, source=actor.source, action=kind, stack=stack, result="queued",
                             detail=f"deployment #{deployment.id}" + (" (new stack)" if created else ""))
        guard = ReporterGuard(reporter)
        guard.queued(deployment)
        answer: Future = Future()
        done = self._pool.submit(self._run, deployment, guard, created, answer)
        return JobHandle(deployment, answer, done)

    # Running a job ----------------------------------------------------------------------------
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
        job = self._job(deployment, stack, reporter)
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
        self.emit(StackEvent("rolled-back", final.stack, final.requested_by, detail, final))

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
            self._settle_stack_state(deployment.stack)
        self.store.add_event(actor=deployment.requested_by, source=deployment.source, action=deployment.kind,
                             stack=deployment.stack, result="ok" if state == "succeeded" else state,
                             detail=(error or "")[:500] or None)
        urls = self.settings.stack_urls(deployment.stack) if state == "succeeded" and deployment.kind != "destroy" else []
        job.reporter.finished(final, urls)
        self._announce(final, job.stack, forget)
        return final

    def _announce(self, final: DeploymentRecord, stack: StackRecord, forgotten: bool) -> None:
        if final.state == "failed" and not forgotten:
            self.emit(StackEvent("failed", final.stack, final.requested_by, final.error, final))
        elif final.state == "succeeded" and final.kind == "destroy":
            reaped = final.requested_by == SCHEDULER.id
            self.emit(StackEvent("reaped" if reaped else "destroyed", final.stack, final.requested_by, None, final,
                                 thread=stack.thread))
        elif final.state == "succeeded" and final.kind in ("sleep", "wake"):
            asleep = self.store.get_stack(final.stack)
            if asleep is not None and asleep.asleep == (final.kind == "sleep"):
                self.emit(StackEvent("slept" if final.kind == "sleep" else "woke", final.stack, final.requested_by, None, final))
        elif final.state == "succeeded" and stack.commit is None and final.kind == "deploy":
            self.emit(StackEvent("created", final.stack, final.requested_by, self.settings.stack_url(final.stack), final))

    def _settle_stack_state(self, stack: str) -> None:
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

    def _job(self, deployment: DeploymentRecord, stack: StackRecord, reporter: Reporter) -> pipeline.Job:
        from . import pipeline

        app = self.settings.apps.get(stack.app)
        if app is None:
            raise NotFound(f"stack `{stack.name}` runs app `{stack.app}`, which is no longer configured")
        secrets = list(self.store.get_env(stack.name).values())
        if self.settings.git_token:
            secrets.append(self.settings.git_token.get_secret_value())
        return pipeline.Job(
            settings=self.settings, store=self.store, swarm=self.swarm, connect_builder=lambda: self.builder,
            mirror=self.mirror(stack.app), reporter=reporter,
            deployment=deployment, stack=stack, app_name=stack.app, app=app,
            log=pipeline.DeploymentLog(self.settings.data_dir / "logs" / f"{deployment.id}.log", deployment.id, reporter,
                                       secrets),
        )

    def mirror(self, app: str) -> Mirror:
        from .gitrepo import Mirror

        config = self.settings.apps[app]
        token = self.settings.git_token.get_secret_value() if self.settings.git_token else None
        ssh_key = self.settings.git_ssh_key.get_secret_value() if self.settings.git_ssh_key else None
        return Mirror(config.repo, self.settings.data_dir / "git" / f"{app}.git", token=token, ssh_key=ssh_key)

    # Idle stacks ------------------------------------------------------------------------------
    def idle_pass(self, now: datetime | None = None) -> list[Action]:
        """Sleep, warn, un-warn and reap what is due. Conditional updates make a second
        scheduler (or a rerun after a crash) do nothing twice."""
        now = now or utcnow()
        actions = decide(self.store.list_stacks(), self.store.busy_stacks(), Timing.of(self.settings), now)
        done = []
        for action in actions:
            try:
                if self._act(action, now):
                    done.append(action)
            except YadockeriError as error:
                log.warning("%s of %s failed: %s", action.kind, action.stack, error)
        return done

    def _act(self, action: Action, now: datetime) -> bool:
        stack = self.store.get_stack(action.stack)
        if stack is None:
            return False
        if action.kind == "sleep":
            self._submit(stack.name, stack.app, stack.branch, "sleep", SCHEDULER, None)
        elif action.kind == "warn":
            if not self.store.warn_stack(stack.name, now):
                return False
            self._record(SCHEDULER, "warn", stack.name, action.reason)
            self.emit(StackEvent("warned", stack.name, SCHEDULER.id, action.reason))
        elif action.kind == "unwarn":
            if not self.store.unwarn_stack(stack.name):
                return False
            self._record(SCHEDULER, "unwarn", stack.name, action.reason)
        elif action.kind == "reap":
            if not self.store.set_stack_state(stack.name, "destroying", only_from=("warned", "destroying")):
                return False
            self._submit(stack.name, stack.app, stack.branch, "destroy", SCHEDULER, None)
        return True

    def wake(self, stack: str, actor: Actor) -> JobHandle | None:
        """Scale a sleeping stack back up (once, however many requests ask)."""
        record = self.store.get_stack(stack)
        if record is None or not record.asleep or "wake" in self.store.active_kinds(stack):
            return None
        return self._submit(stack, record.app, record.branch, "wake", actor, None)

    def keep(self, stack: str, actor: Actor, *, seconds: int | None = None, forever: bool = False) -> datetime:
        """Protect a stack from sleep and reap for a while (admins: forever)."""
        record = self.store.require_stack(stack)
        if forever and not actor.admin:
            raise PermissionDenied("only an admin may keep a stack forever; use --for (at most 30d)")
        until = FOREVER if forever else utcnow() + timedelta(seconds=seconds or KEEP_DEFAULT)
        self.store.keep_stack(record.name, until)
        self.store.unwarn_stack(record.name)
        detail = "forever" if forever else f"until {until.isoformat(timespec='minutes')}"
        self._record(actor, "keep", stack, detail)
        self.emit(StackEvent("kept", stack, actor.id, detail))
        if record.asleep:
            self.wake(stack, actor)
        return until

    def collect_garbage(self) -> list[str]:
        """Remove this install's images that no stack runs or is about to run (older than
        IMAGE_MIN_AGE, so a build in flight is safe): on the manager, on the builder if images
        are built elsewhere, on the other nodes (a global job) and in the registry; and build
        cache older than its limit. Returns the image tags removed."""
        from . import nodes

        in_use, apps, min_age = self.store.images_in_use(), list(self.settings.apps), self.settings.image_min_age
        removed = nodes.collect_images(self.swarm, apps, in_use, min_age)
        self._prune_build_cache(self.swarm)
        if self.settings.builder:
            try:
                removed += nodes.collect_images(self.builder, apps, in_use, min_age)
                self._prune_build_cache(self.builder)
            except DockerUnavailable as error:  # the builder is down: its images wait for the next pass
                log.warning("builder not cleaned: %s", error)
        removed += self._collect_on_other_nodes(apps, in_use, min_age)
        removed = sorted(set(removed))
        if self.settings.registry and removed:  # what no stack runs goes from the registry too
            from . import registry

            registry.delete_images(self.settings, removed, log.info)
        return removed

    def _collect_on_other_nodes(self, apps: list[str], in_use: set[str], min_age: int) -> list[str]:
        """Images the other nodes pulled: a global job of the yadockeri image removes them there."""
        from . import nodes

        if not self.settings.registry:  # without a registry no other node has our images
            return []
        here = self.swarm.local_node_id()
        others = [n for n in self.swarm.nodes() if nodes.schedulable(n) and n["ID"] != here]
        if not others:
            return []
        spec = nodes.image_job_spec(name=nodes.image_job_name(self.settings.service_name), image=self.settings.image,
                                    apps=apps, in_use=in_use, min_age=min_age, skip_node=here)
        try:
            _, lines = nodes.run_on_node(self.swarm, spec, tasks=len(others), poll=self.settings.poll_interval)
        except YadockeriError as error:  # a node that is away: next time
            log.warning("images on the other nodes not cleaned: %s", error)
            return []
        return [line.split(" ", 1)[1] for line in lines if line.startswith("removed ")]

    def _prune_build_cache(self, engine: Swarm) -> None:
        try:
            engine.prune_build_cache(self.settings.build_cache_max_age)
        except YadockeriError as error:  # an engine without BuildKit's prune filters: images still went
            log.info("build cache not pruned: %s", error)

    def schedule(self, stack: StackRecord, now: datetime | None = None) -> Schedule:
        return schedule_of(stack, Timing.of(self.settings), now or utcnow())

    def next_for(self, stack: StackRecord) -> str:
        """In words, what will happen next to this stack (sleep, warning, reap), if anything."""
        now = utcnow()
        return describe(self.schedule(stack, now), now)

    def _record(self, actor: Actor, action: str, stack: str, detail: str | None) -> None:
        self.store.add_event(actor=actor.id, source=actor.source, action=action, stack=stack, result="ok", detail=detail)

    # Reads ------------------------------------------------------------------------------------
    def list_stacks(self) -> list[StackRecord]:
        return self.store.list_stacks()

    def status(self, stack: str) -> StackStatus:
        record = self.store.require_stack(stack)
        services = []
        try:
            for service in self.swarm.services(**{"yadockeri.stack": stack}):
                services.append(self._service_state(service))
        except DockerUnavailable:
            pass  # status still says what the database knows
        return StackStatus(
            stack=record, urls=self.settings.stack_urls(stack), deployments=self.store.deployments(stack, limit=5),
            services=sorted(services, key=lambda s: (s.role, s.name)), env_keys=sorted(self.store.get_env(stack)),
            next=self.next_for(record),
        )

    def _service_state(self, service: dict) -> ServiceState:
        spec = service["Spec"]
        tasks = [t for t in self.swarm.tasks(spec["Name"]) if t["DesiredState"] == "running"]
        running = sum(1 for t in tasks if t["Status"]["State"] == "running")
        desired = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", len(tasks))
        errors = [t["Status"].get("Err") for t in self.swarm.tasks(spec["Name"]) if t["Status"].get("Err")]
        return ServiceState(spec["Name"], spec.get("Labels", {}).get("yadockeri.role", "?"), running, desired,
                            errors[-1] if errors and running < desired else None)

    def env(self, stack: str) -> dict[str, str]:
        """The stack's env vars, masked: values are never shown whole."""
        self.store.require_stack(stack)
        return {key: mask(value) for key, value in self.store.get_env(stack).items()}

    def logs(self, stack: str, process: str = "web", tail: int = 100) -> list[str]:
        record = self.store.require_stack(stack)
        from . import specs

        name = specs.service_name(stack, process)
        if self.swarm.service(name) is None:
            known = sorted(s["Spec"]["Labels"].get("yadockeri.process", "") for s in
                           self.swarm.services(**{"yadockeri.stack": stack, "yadockeri.role": "process"}))
            raise NotFound(f"stack `{stack}` has no process `{process}` (processes: {', '.join(known) or 'none running'})")
        secrets = list(self.store.get_env(record.name).values())
        return [redact(line, secrets) for line in self.swarm.service_logs(name, tail=tail, timestamps=True)]

    def deployment(self, deployment_id: int) -> DeploymentRecord:
        return self.store.get_deployment(deployment_id)

    def stack(self, name: str) -> StackRecord:
        return self.store.require_stack(name)

    # Where front ends show a stack's story (opaque to the engine) -----------------------------
    def set_thread(self, stack: str, thread: str) -> None:
        self.store.update_stack(stack, thread=thread)

    def set_deployment_message(self, deployment_id: int, message: str) -> None:
        self.store.set_deployment(deployment_id, message=message)

    # Access -----------------------------------------------------------------------------------
    def _require_owner(self, stack: StackRecord, actor: Actor, doing: str) -> None:
        if actor.admin or actor.id == stack.owner:
            return
        self.store.add_event(actor=actor.id, source=actor.source, action=doing.split()[0], stack=stack.name,
                             result="refused", detail="not owner or admin")
        raise PermissionDenied(f"only the owner of `{stack.name}` (<{stack.owner}>) or an admin may {doing}")

    def _require_router(self) -> None:
        """The shared router runs as these settings say, or nothing starts (stacks/router.py)."""
        check_router(self.swarm.client, self.settings)

    def _require_registry(self) -> None:
        """The image can reach the nodes: a registry where one is needed, and the builder is up."""
        from .nodes import require_registry

        require_registry(self.swarm, self.settings)
        if self.settings.builder:  # an unreachable builder is refused up front
            from .swarm import docker_errors

            with docker_errors(f"reaching the builder {self.settings.builder}"):
                self.builder.client.ping()

    def _refuse_foreign_stack(self, stack: str) -> None:
        """A Docker stack of that name that yadockeri did not make is not ours to touch."""
        from .specs import NAMESPACE_LABEL

        foreign = [s for s in self.swarm.services(**{NAMESPACE_LABEL: stack})
                   if s["Spec"].get("Labels", {}).get("yadockeri.stack") != stack]
        if foreign:
            raise YadockeriError(f"a Docker stack named `{stack}` already exists and is not yadockeri's; pick another name")
