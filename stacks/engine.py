"""The engine: what every front end calls, with plain values.

A mutating call (deploy, redeploy, env change, destroy) checks its input, records a queued
deployment and returns at once with a JobHandle; the job runner (stacks/runner.py) runs it when
the stack's database lock says it is its turn. Reads (list, status, logs) answer directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .api_tokens import ApiTokens
from .capacity import Capacity, measure
from .config import AppConfig, Settings
from .connections import DockerConnections
from .docker_adapter.labels import PROCESS_LABEL, ROLE_LABEL, STACK_LABEL, service_name
from .engine_checks import Checks
from .errors import DockerUnavailable, NotFound, YadockeriError
from .example import ensure_example_repo
from .feed import DeploymentFeed
from .idle import Action, Schedule, Timing, describe, schedule_of
from .maintenance import Maintenance
from .models import utcnow
from .names import check_env_value
from .progress import Reporter
from .queries.github import PullRequestRecord
from .runner import SCHEDULER, Actor, JobHandle, JobRunner, StackEvent, runner_id, runner_is_dead
from .secrets import load_fernet, mask, redact
from .store import DeploymentRecord, StackRecord, Store

__all__ = ["SCHEDULER", "Actor", "Engine", "JobHandle", "ServiceState", "StackEvent", "StackStatus", "runner_id",
           "runner_is_dead"]

if TYPE_CHECKING:  # Docker's and git's modules load on first use: `yadockeri list` stays quick
    from . import pipeline
    from .docker_adapter import Swarm
    from .gitrepo import Mirror

log = logging.getLogger(__name__)


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


class Engine(Checks):
    def __init__(self, settings: Settings, *, docker_host: str | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_url, load_fernet(
            settings.secret_key.get_secret_value() if settings.secret_key else None, settings.data_dir
        ))
        self.docker = DockerConnections(settings, docker_host)
        self._listeners: list[Callable[[StackEvent], None]] = []
        self.feed = DeploymentFeed()  # deployments as they happen, for the API's event streams
        self.jobs = JobRunner(settings, self.store, make_job=self._job, emit=self.emit, feed=self.feed)
        self.runner = self.jobs.runner
        self.maintenance = Maintenance(settings, self.store, self.jobs, emit=self.emit, swarm=lambda: self.swarm,
                                       builder=lambda: self.builder)
        self.tokens = ApiTokens(self.store, lambda: self.settings)  # who the HTTP API's callers are
        self.interrupted_at_start: list[DeploymentRecord] = []  # for a front end that starts after start()

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        """Settings replaced (a test does) reach the engine's parts too."""
        self._settings = settings
        for part in (getattr(self, name, None) for name in ("jobs", "maintenance", "docker")):
            if part is not None:
                part.settings = settings

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
        interrupted = self.jobs.start()
        self.interrupted_at_start.extend(interrupted)
        return interrupted

    def recover(self) -> list[DeploymentRecord]:
        """Mark the deployments of runners that died interrupted (also on every start)."""
        return self.jobs.recover()

    def close(self) -> None:
        self.jobs.close()
        self.store.close()

    @property
    def swarm(self) -> Swarm:
        """The manager's Docker engine (connected on first use)."""
        return self.docker.swarm

    @property
    def builder(self) -> Swarm:
        """The engine images are built on: YADOCKERI_BUILDER if set, else the manager."""
        return self.docker.builder

    def check_docker(self) -> None:
        """Fail now, with a clear message, if Docker is unreachable (before recording anything)."""
        self.docker.check()

    # Mutations --------------------------------------------------------------------------------
    def deploy(self, stack: str, branch: str, actor: Actor, *, app: str | None = None,
               reporter: Reporter | None = None, env: dict[str, str] | None = None) -> JobHandle:
        existing = self.store.get_stack(stack)
        if existing is not None:
            if app and app != existing.app:
                raise YadockeriError(f"stack `{stack}` runs app `{existing.app}`; destroy it first to use `{app}`")
            if branch != existing.branch:
                self._require_owner(existing, actor, f"move `{stack}` to another branch")
            app_name = existing.app
        else:
            app_name = self.settings.app(app)[0]
            self.jobs.require_room(stack, actor)  # a new stack: refused at a cap before anything, Docker too
        self.check_docker()
        self._require_router()
        self._require_registry()
        if existing is None:
            self._refuse_foreign_stack(stack)
        if existing is None or existing.asleep:
            self._require_router_address()
        return self.jobs.submit(stack, app_name, branch, "deploy", actor, reporter, create=True, env=env)

    def redeploy(self, stack: str, actor: Actor, *, reporter: Reporter | None = None) -> JobHandle:
        record = self.store.require_stack(stack)
        self.check_docker()
        self._require_router()
        self._require_registry()
        return self.jobs.submit(stack, record.app, record.branch, "redeploy", actor, reporter)

    def destroy(self, stack: str, actor: Actor, *, reporter: Reporter | None = None) -> JobHandle:
        record = self.store.require_stack(stack)
        self._require_owner(record, actor, f"destroy `{stack}`")
        self.check_docker()
        return self.jobs.submit(stack, record.app, record.branch, "destroy", actor, reporter)

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
        return changed, self.jobs.submit(stack, record.app, record.branch, "env", actor, reporter)

    def _job(self, deployment: DeploymentRecord, stack: StackRecord, reporter: Reporter) -> pipeline.Job:
        from . import pipeline

        app = self.settings.apps.get(stack.app)
        if app is None:
            raise NotFound(f"stack `{stack.name}` runs app `{stack.app}`, which is no longer configured")
        app = _trusted(app, self.store.pull_request_of(stack.name))
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

    # Idle stacks and garbage (stacks/maintenance.py) -------------------------------------------
    def idle_pass(self, now: datetime | None = None) -> list[Action]:
        """Sleep, warn, un-warn and reap what is due (the scheduler calls this)."""
        return self.maintenance.idle_pass(now)

    def collect_garbage(self) -> list[str]:
        """Remove images and build cache no stack needs; returns the image tags removed."""
        return self.maintenance.collect_garbage()

    def wake(self, stack: str, actor: Actor) -> JobHandle | None:
        """Scale a sleeping stack back up (once, however many requests ask)."""
        return self.maintenance.wake(stack, actor)

    def keep(self, stack: str, actor: Actor, *, seconds: int | None = None, forever: bool = False) -> datetime:
        """Protect a stack from sleep and reap for a while (admins: forever)."""
        return self.maintenance.keep(stack, actor, seconds=seconds, forever=forever)

    def schedule(self, stack: StackRecord, now: datetime | None = None) -> Schedule:
        return schedule_of(stack, Timing.of(self.settings), now or utcnow())

    def next_for(self, stack: StackRecord) -> str:
        """In words, what will happen next to this stack (sleep, warning, reap), if anything."""
        now = utcnow()
        return describe(self.schedule(stack, now), now)

    # Reads ------------------------------------------------------------------------------------
    def list_stacks(self) -> list[StackRecord]:
        return self.store.list_stacks()

    def capacity(self) -> Capacity:
        """Stacks against YADOCKERI_MAX_STACKS*, and the router network's room (Docker may not say)."""
        return measure(self.store.count_stacks(), self.settings, lambda: self.swarm)

    def status(self, stack: str) -> StackStatus:
        record = self.store.require_stack(stack)
        services = []
        try:
            for service in self.swarm.services(**{STACK_LABEL: stack}):
                services.append(_service_state(self.swarm, service))
        except DockerUnavailable:
            pass  # status still says what the database knows
        return StackStatus(
            stack=record, urls=self.settings.stack_urls(stack), deployments=self.store.deployments(stack, limit=5),
            services=sorted(services, key=lambda s: (s.role, s.name)), env_keys=sorted(self.store.get_env(stack)),
            next=self.next_for(record),
        )

    def env(self, stack: str) -> dict[str, str]:
        """The stack's env vars, masked: values are never shown whole."""
        self.store.require_stack(stack)
        return {key: mask(value) for key, value in self.store.get_env(stack).items()}

    def logs(self, stack: str, process: str = "web", tail: int = 100) -> list[str]:
        record = self.store.require_stack(stack)
        name = service_name(stack, process)
        if self.swarm.service(name) is None:
            known = sorted(s["Spec"]["Labels"].get(PROCESS_LABEL, "") for s in
                           self.swarm.services(**{STACK_LABEL: stack, ROLE_LABEL: "process"}))
            raise NotFound(f"stack `{stack}` has no process `{process}` (processes: {', '.join(known) or 'none running'})")
        secrets = list(self.store.get_env(record.name).values())
        return [redact(line, secrets) for line in self.swarm.service_logs(name, tail=tail, timestamps=True)]

    def deployment(self, deployment_id: int) -> DeploymentRecord:
        return self.store.get_deployment(deployment_id)

    def stack(self, name: str) -> StackRecord:
        return self.store.require_stack(name)

    def pull_request_url(self, stack: str) -> str | None:
        """The pull request a stack serves, if it is a pull request's review stack."""
        return record.html_url if (record := self.store.pull_request_of(stack)) is not None else None

    # Where front ends show a stack's story (opaque to the engine) -----------------------------
    def set_thread(self, stack: str, thread: str) -> None:
        self.store.update_stack(stack, thread=thread)

    def set_deployment_message(self, deployment_id: int, message: str) -> None:
        self.store.set_deployment(deployment_id, message=message)


def _service_state(swarm: Swarm, service: dict) -> ServiceState:
    spec = service["Spec"]
    tasks = [t for t in swarm.tasks(spec["Name"]) if t["DesiredState"] == "running"]
    running = sum(1 for t in tasks if t["Status"]["State"] == "running")
    desired = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", len(tasks))
    errors = [t["Status"].get("Err") for t in swarm.tasks(spec["Name"]) if t["Status"].get("Err")]
    return ServiceState(spec["Name"], spec.get("Labels", {}).get(ROLE_LABEL, "?"), running, desired,
                        errors[-1] if errors and running < desired else None)


def _trusted(app: AppConfig, pull: PullRequestRecord | None) -> AppConfig:
    """What a stack's builds may use of its app: a fork's pull request never gets its build secrets."""
    return app.model_copy(update={"build_secrets": {}}) if pull is not None and pull.fork else app
