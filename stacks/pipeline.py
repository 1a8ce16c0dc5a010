"""What a deployment does, step by step. One Job per deployment, run by a worker thread that
holds the stack's lock (engine.py). Every step is recorded with its start and end.

deploy:  fetch -> spec -> (build || middleware) -> ready -> release -> processes -> wait [-> rollback]
         -> postdeploy (the stack's first deploy only)
env:     processes -> wait [-> rollback]  (new env, same image: no rebuild)
destroy: predestroy -> services -> networks, volumes, images

A step that went wrong without stopping the job (a postdeploy that failed, a web that answered
500 without a health check) ends as `warning`, with what happened as its detail.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from . import build, hooks, nodes, readback, registry, router_network, waits
from . import limits as limits_module
from .appspec import AppSpec, check_limits, parse_appspec
from .compose import MiddlewarePolicy, PreparedCompose, prepare_compose
from .config import AppConfig, Settings
from .docker_adapter import labels as names
from .docker_adapter import specs
from .docker_adapter.labels import HASH_LABEL, ROLE_LABEL, STACK_LABEL
from .errors import DeployFailed, SpecError, YadockeriError
from .idle import Timing
from .limits import Limits
from .models import utcnow
from .polling import poll_until
from .ports import DockerPort, MirrorPort, StorePort
from .progress import Reporter
from .router import router_token
from .secrets import redact
from .store import DeploymentRecord, StackRecord
from .text import inert

LOG_TAIL_LINES = 200
SETTLE_POLL = 0.25


class DeploymentLog:
    """A deployment's output: redacted, kept whole in a file and as a tail in the database."""

    def __init__(self, path: Path, deployment_id: int, reporter: Reporter, secrets: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._id = deployment_id
        self._reporter = reporter
        self._secrets = secrets
        self._tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)

    def __call__(self, line: str) -> None:
        # Build output and commit subjects come from a branch: no terminal escapes, no controls.
        line = inert(redact(line.rstrip("\n"), self._secrets))
        self._tail.append(line)
        self._file.write(line + "\n")
        self._file.flush()
        self._reporter.log(self._id, line)

    def hide(self, values: list[str]) -> None:
        """Redact these too from now on (a build secret: whole, and each of its lines)."""
        for value in values:
            self._secrets += [value, *(line.strip() for line in value.splitlines() if len(line.strip()) >= 6)]

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(list(self._tail)[-lines:])

    def close(self) -> None:
        self._file.close()


@dataclass
class StepHandle:
    detail: str | None = None
    skipped: bool = False
    warned: bool = False

    def skip(self, detail: str) -> None:
        self.skipped, self.detail = True, detail

    def warn(self, detail: str) -> None:
        """The step went wrong but the job goes on: said as a warning."""
        self.warned, self.detail = True, detail


@dataclass
class Job:
    """One deployment being run: everything its steps need."""

    settings: Settings
    store: StorePort
    swarm: DockerPort
    mirror: MirrorPort
    reporter: Reporter
    deployment: DeploymentRecord
    stack: StackRecord
    app_name: str
    app: AppConfig
    log: DeploymentLog
    connect_builder: Callable[[], DockerPort]  # the engine images are built on (connected when first needed)
    created_services: list[str] = field(default_factory=list)
    updated_services: list[str] = field(default_factory=list)  # swarm's monitor still watches them when live
    _log_driver: dict | None = None

    @property
    def name(self) -> str:
        return self.stack.name

    @property
    def limits(self) -> Limits:
        return Limits.of(self.settings)

    @property
    def log_driver(self) -> dict:
        """The engine's default log driver with size caps (asked once a job)."""
        if self._log_driver is None:
            self._log_driver = limits_module.log_driver(self.swarm.engine_log_driver())
        return self._log_driver

    def hardening(self, spec: AppSpec, process: str) -> specs.Hardening:
        """Limits, capabilities and logging of one of the stack's tasks (a process or the release)."""
        cpus, memory, pids = spec.resources_for(process, self.limits)
        return specs.Hardening(cpus=cpus, memory_bytes=memory, pids=pids,
                               capabilities=tuple(limits_module.capabilities(self.app.capabilities)),
                               log_driver=self.log_driver)

    @property
    def builder(self) -> DockerPort:
        return self.connect_builder()

    @contextmanager
    def step(self, name: str) -> Iterator[StepHandle]:
        handle = StepHandle()
        step_id = self.store.start_step(self.deployment.id, name)
        self.reporter.step(self.deployment.id, name, "running", None, None)
        started = time.monotonic()
        try:
            yield handle
        except BaseException as error:
            detail = self.log.redact(str(error).splitlines()[0] if str(error) else type(error).__name__)[:500]
            self.store.end_step(step_id, "failed", detail)
            self.reporter.step(self.deployment.id, name, "failed", time.monotonic() - started, detail)
            raise
        state = "warning" if handle.warned else "skipped" if handle.skipped else "ok"
        said = self.log.redact(handle.detail)[:500] if handle.detail and handle.warned else handle.detail
        if handle.warned:
            self.log(f"warning: {name}: {said}")
        self.store.end_step(step_id, state, said)
        self.reporter.step(self.deployment.id, name, state, time.monotonic() - started, said)


# Deploy -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Release:
    """What a deploy resolved: the commit, its spec and middleware, and the image to run."""

    commit: str
    spec: AppSpec
    compose: PreparedCompose | None
    image: str


def run_deploy(job: Job) -> Release:
    branch = job.deployment.branch
    with job.step("fetch") as s:
        commit = job.mirror.fetch(branch)
        info = job.mirror.describe(commit)
        s.detail = f"{branch} at {info.short}: {info.subject}"[:200]
    with job.step("spec") as s:
        spec, compose = read_spec(job, commit)
        s.detail = f"processes: {', '.join(spec.processes)}" + (f"; middleware: {', '.join(compose.services)}" if compose else "")
    release = Release(commit, spec, compose, names.image_tag(job.app_name, commit, job.settings.registry))
    job.store.set_deployment(job.deployment.id, commit=commit, image=release.image)
    releasing = bool(spec.release and job.stack.image != release.image)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"mw-{job.name}") as pool:
        # Middleware starts while the image builds: it needs nothing from the build.
        middleware = pool.submit(start_middleware, job, compose)
        build.build_image(job, release)
        middleware.result()
    wait_middleware_ready(job, compose, releasing=releasing)
    if releasing:
        hooks.run_release(job, release)
    roll_out(job, release)
    job.store.update_stack(
        job.name, branch=branch, commit=commit, image=release.image,
        middleware_hash=compose.digest if compose else None,
    )
    # The deployed commit stays in the mirror whatever happens to its branch (a wake or an env
    # change reads its spec again), until the stack is destroyed.
    job.mirror.pin(job.name, commit)
    hooks.run_postdeploy(job, release)
    return release


def read_spec(job: Job, commit: str) -> tuple[AppSpec, PreparedCompose | None]:
    """The branch's .yadockeri.yml and middleware, read into checked data (sizes first)."""
    max_bytes = job.settings.max_spec_bytes
    spec = parse_appspec(job.mirror.read_file(commit, ".yadockeri.yml", max_bytes=max_bytes), max_bytes=max_bytes)
    if "release" in spec.processes:
        raise SpecError(".yadockeri.yml: a process cannot be named `release` (the release command has that role)")
    check_limits(spec, job.limits)
    if not spec.services:
        job.limits.count(len(spec.processes), 0)
        return spec, None
    text = job.mirror.read_file(commit, spec.services, max_bytes=max_bytes)
    if text is None:
        raise SpecError(f".yadockeri.yml names services file `{spec.services}`, which is not in the commit")
    compose = prepare_compose(
        text, stack=job.name, process_names=set(spec.processes), endpoint_mode=job.settings.endpoint_mode,
        labels=names.stack_labels(job.name, job.app_name, "middleware"), source=spec.services,
        policy=middleware_policy(job),
    )
    for warning in compose.warnings:
        job.log(f"note: {warning}")
    return spec, nodes.pin_middleware(job, compose)


def middleware_policy(job: Job) -> MiddlewarePolicy:
    """What the branch's middleware may be, from settings and the images yadockeri built."""
    own = frozenset(job.swarm.own_image_ids())
    return MiddlewarePolicy(
        limits=job.limits, capabilities=tuple(limits_module.capabilities(job.app.capabilities)),
        log_driver=job.log_driver, registry=job.settings.registry, own_images=own,
        max_bytes=job.settings.max_spec_bytes,
    )


def start_middleware(job: Job, compose: PreparedCompose | None) -> None:
    with job.step("middleware") as s:
        job.swarm.ensure_network(names.network_name(job.name), names.stack_labels(job.name, job.app_name, "network"))
        current = {svc["Spec"]["Name"]
                   for svc in job.swarm.services(**{STACK_LABEL: job.name, ROLE_LABEL: "middleware"})}
        wanted = {f"{job.name}_{name}" for name in (compose.services if compose else [])}
        for stale in sorted(current - wanted):  # `docker stack deploy` without --prune leaves them
            job.swarm.remove_service(stale)
        if compose is None or not compose.services:
            s.skip("no middleware")
            return
        if compose.digest == job.stack.middleware_hash and wanted <= current:
            s.skip("middleware unchanged")
            return
        # Middleware images are other people's: yadockeri's registry login never goes with them.
        output = job.swarm.stack_deploy(job.name, compose.yaml, with_registry_auth=False)
        for line in output.splitlines():
            job.log(line)
        verify_middleware(job, compose)
        s.detail = ", ".join(compose.services)


def wait_middleware_ready(job: Job, compose: PreparedCompose | None, *, releasing: bool) -> None:
    """Before the release command and the processes: middleware with a healthcheck is healthy
    (swarm says `running` only then), and with a release command every middleware runs. Other
    middleware is waited for with the processes (the wait step)."""
    services = (compose.data.get("services") or {}) if compose else {}
    checked = sorted(name for name, service in services.items() if has_healthcheck(service))
    waited = sorted(services) if releasing else checked
    if not waited:
        return  # no step: nothing to wait for before the processes (the wait step sees middleware run)
    with job.step("ready") as s:
        deadline = time.monotonic() + job.settings.deploy_timeout
        for name in waited:
            wait_running(job, f"{job.name}_{name}", deadline, healthy=name in checked)
        s.detail = ", ".join(f"{name} {'healthy' if name in checked else 'running'}" for name in waited)


def has_healthcheck(service: dict) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable") and check.get("test") not in (["NONE"], "NONE")


def stack_env(job: Job, release: Release) -> dict[str, str]:
    return specs.process_env(
        spec_env=dict(release.spec.env), stack_env=job.store.get_env(job.name), stack=job.name,
        branch=job.deployment.branch, commit=release.commit, url=job.settings.stack_url(job.name),
    )


# Roll out ---------------------------------------------------------------------------------------
def process_specs(job: Job, release: Release) -> list[dict]:
    env = stack_env(job, release)
    result = []
    for process, definition in release.spec.processes.items():
        result.append(specs.process_service_spec(specs.ProcessInput(
            stack=job.name, app=job.app_name, process=process, image=release.image, command=definition.command,
            env=env, hardening=job.hardening(release.spec, process), router_network=job.settings.router_network,
            endpoint_mode=job.settings.endpoint_mode, update_monitor_s=job.settings.update_monitor,
        )))
    return result


def roll_out(job: Job, release: Release) -> None:
    """Apply every process service (rolling, start-first) and wait until the web answers."""
    wanted = process_specs(job, release)
    with job.step("processes") as s:
        results = {}
        for spec in wanted:
            results[spec["name"]] = job.swarm.apply_service(spec)
            if results[spec["name"]] == "created":
                job.created_services.append(spec["name"])
        names = {spec["name"] for spec in wanted}
        for service in job.swarm.services(**{STACK_LABEL: job.name, ROLE_LABEL: "process"}):
            if service["Spec"]["Name"] not in names:
                job.swarm.remove_service(service["Spec"]["Name"])
                results[service["Spec"]["Name"]] = "removed"
        verify_processes(job, wanted)
        if all(r == "unchanged" for r in results.values()):
            s.skip("no process changed")
        else:
            s.detail = ", ".join(f"{name.split('_', 1)[1]} {what}" for name, what in sorted(results.items()))
    try:
        with job.step("wait") as s:
            live = wait_live(job, wanted, results, release.spec)
            s.detail = live.detail
            if live.warning:
                s.warn(live.warning)
    except YadockeriError as error:
        raise roll_back(job, wanted, results, error) from None
    job.updated_services = sorted(name for name, what in results.items() if what == "updated")


def wait_live(job: Job, wanted: list[dict], results: dict[str, str], spec: AppSpec | None,
              rolling_back: bool = False) -> waits.Live:
    """Until the rollout is live (stacks/waits.py): new tasks run, old ones are gone, middleware
    runs and the router answered from a new web task (healthy, with the web's health check)."""
    web = names.service_name(job.name, "web")
    watched = [waits.Watched(
        name=s["name"], want_hash=s["labels"][HASH_LABEL], replicas=s["mode"]["Replicated"]["Replicas"],
        # A new non-web process must stay up a moment (one that exits at once is "running" briefly
        # too); the web's proof is the router's answer, an update's is swarm's monitor.
        settle=waits.SETTLE if results.get(s["name"]) == "created" and s["name"] != web else 0.0,
        rolling_back=rolling_back,
    ) for s in wanted]
    middleware = [svc["Spec"]["Name"] for svc in job.swarm.services(**{STACK_LABEL: job.name,
                                                                       ROLE_LABEL: "middleware"})]
    check = waits.RouterCheck(job.settings.router_check_url, f"{job.name}.{job.settings.domains[0]}",
                              router_token(job.settings), requests.Session())
    healthcheck = spec.processes["web"].healthcheck if spec else None
    return waits.wait_live(
        stack=job.name, services=watched, web=web if any(w.name == web for w in watched) else None,
        middleware=[] if rolling_back else middleware, check=check, tasks=job.swarm.tasks,
        update_of=lambda name: (job.swarm.service(name) or {}).get("UpdateStatus") or {},
        router_network=job.settings.router_network, timeout=job.settings.deploy_timeout,
        fail=lambda service, why: process_failure(job, service, job.swarm.tasks(service), why),
        health=waits.Health(healthcheck.path, healthcheck.timeout) if healthcheck else None,
        no_address_left=lambda service: _router_network_full(job) if service == web else None,
    )


def _router_network_full(job: Job) -> str | None:
    """How full the router network is, if a web task given no address is confirmed to lack one
    (one Docker call, only then); None while addresses are left."""
    try:
        found = router_network.addresses(job.swarm, job.settings)
    except YadockeriError:
        found = None  # cannot tell: say what was seen
    else:
        if found is not None and found.free > 0:
            return None
    return router_network.full(found, job.settings.router_network)


def roll_back(job: Job, wanted: list[dict], results: dict[str, str], error: YadockeriError) -> YadockeriError:
    """A rollout that did not go live on a stack that ran before: yadockeri puts the previous
    version back itself (swarm rolls back a task that exits, not one that runs and answers 500),
    and waits until the router answers from it again. Returns the error to raise, which says so."""
    if not job.stack.commit:
        return error  # a first deploy: the runner scales what it created to 0
    back = [spec["name"] for spec in wanted if results.get(spec["name"]) == "updated" and _new_version_runs(job, spec)]
    removed = [spec["name"] for spec in wanted if results.get(spec["name"]) == "created"]
    if not back and not removed:
        return error  # swarm rolled back already, or only the scale changed (a wake)
    with job.step("rollback") as s:
        back = [name for name in back if job.swarm.rollback_service(name)]
        for name in removed:
            job.swarm.remove_service(name)
        previous = [_spec_of_now(job, name) for name in back]
        live = wait_live(job, [p for p in previous if p], {}, None, rolling_back=True)
        _wait_rollbacks_done(job, back)
        s.detail = ", ".join([f"{n.split('_', 1)[1]} back to the previous version" for n in back]
                             + [f"{n.split('_', 1)[1]} removed" for n in removed]) + f" ({live.detail})"
    first, _, rest = str(error).partition("\n")
    return type(error)(f"{first}; yadockeri rolled back to the previous version, which serves again"
                       + (f"\n{rest}" if rest else ""))


def _wait_rollbacks_done(job: Job, names: list[str]) -> None:
    """Swarm's rollback ends after its monitor period: until then the stack stays locked."""
    def done() -> bool | None:
        states = [((job.swarm.service(name) or {}).get("UpdateStatus") or {}).get("State") for name in names]
        return True if all(state in (None, "rollback_completed") for state in states) else None

    def stuck() -> bool:
        raise DeployFailed(f"swarm did not finish rolling back {', '.join(names)}")

    poll_until(done, timeout=job.settings.update_monitor + job.settings.deploy_timeout, interval=SETTLE_POLL,
               timed_out=stuck)


def _new_version_runs(job: Job, spec: dict) -> bool:
    """The service runs this rollout's spec, and its previous spec was another version."""
    service = job.swarm.service(spec["name"]) or {}
    current = (service.get("Spec") or {}).get("Labels", {}).get(HASH_LABEL)
    previous = (service.get("PreviousSpec") or {}).get("Labels", {}).get(HASH_LABEL)
    return current == spec["labels"][HASH_LABEL] and previous is not None and previous != current


def _spec_of_now(job: Job, name: str) -> dict | None:
    """A service's current spec in the shape wait_live reads (its hash label and replicas)."""
    service = job.swarm.service(name)
    if service is None:
        return None
    spec = service["Spec"]
    return {"name": name, "labels": spec.get("Labels") or {}, "mode": spec.get("Mode") or {"Replicated": {"Replicas": 1}}}


def settle_updates(job: Job, stop: Callable[[], bool]) -> str | None:
    """After a rollout went live: until swarm's update monitor has passed for every updated
    service (the stack's lock is held meanwhile). Returns what swarm said if it rolled one back."""
    pending = list(job.updated_services)

    def settled() -> str | None:  # "" when every update completed, the rollback when one happened
        for name in list(pending):
            update = (job.swarm.service(name) or {}).get("UpdateStatus") or {}
            if update.get("State") in waits.ROLLBACK_STATES:
                return f"{name}: {update.get('Message') or 'rolled back'}"
            if update.get("State") in (None, "completed"):
                pending.remove(name)
        return None if pending else ""

    said = poll_until(settled, timeout=job.settings.update_monitor + job.settings.deploy_timeout,
                      interval=SETTLE_POLL, timed_out=lambda: "", stop=stop)
    return said or None


def wait_running(job: Job, name: str, deadline: float, *, healthy: bool = False) -> None:
    """Until a task of the service runs (with a healthcheck, swarm says so once it is healthy)."""
    def running() -> bool | None:
        tasks = job.swarm.tasks(name)
        return True if any(t["Status"]["State"] == "running" and t["DesiredState"] == "running" for t in tasks) else None

    def failed() -> bool:
        what = "become healthy" if healthy else "start"
        raise process_failure(job, name, job.swarm.tasks(name), f"did not {what} within {job.settings.deploy_timeout}s")

    poll_until(running, timeout=max(0.0, deadline - time.monotonic()), interval=waits.FAST_POLL, timed_out=failed)


def process_failure(job: Job, service: str, tasks: list[dict], what: str) -> DeployFailed:
    errors = [t["Status"].get("Err") for t in sorted(tasks, key=lambda t: t.get("UpdatedAt", "")) if t["Status"].get("Err")]
    logs = [job.log.redact(line) for line in job.swarm.service_logs(service, tail=20)]
    for line in logs:
        job.log(f"{service}: {line}")
    reason = f" ({errors[-1]})" if errors else ""
    tail = "\n".join(logs[-20:])
    return DeployFailed(f"{service} {what}{reason}" + (f"\nlast log lines:\n{tail}" if tail else ""))


def stop_failed_new_services(job: Job) -> None:
    """A first deploy that failed leaves no crash loop behind: scale what it created to 0."""
    for name in job.created_services:
        try:
            job.swarm.scale(name, 0)
        except YadockeriError:
            pass


# Read back ------------------------------------------------------------------------------------------
def verify_middleware(job: Job, compose: PreparedCompose) -> None:
    """What `docker stack deploy` made, compared with what was checked; on any difference the
    middleware is removed and the deploy stops (a parser confusion must never run)."""
    expected_all = [readback.middleware_expected(job.name, name, service, tmpfs_max=job.limits.max_tmpfs)
                    for name, service in (compose.data.get("services") or {}).items()]
    inspected_all = [job.swarm.service(expected.name) for expected in expected_all]
    names = job.swarm.network_names(readback.network_ids(inspected_all))
    found: list[str] = []
    for expected, inspected in zip(expected_all, inspected_all, strict=True):
        found += [f"{expected.name} is missing"] if inspected is None else readback.differences(inspected, expected, names)
    if found:
        for service in job.swarm.services(**{STACK_LABEL: job.name, ROLE_LABEL: "middleware"}):
            job.swarm.remove_service(service["ID"])
        raise DeployFailed("what Docker runs is not what yadockeri checked, so the middleware was removed: "
                           + "; ".join(found[:5]))


def verify_processes(job: Job, wanted: list[dict]) -> None:
    inspected_all = [job.swarm.service(spec["name"]) for spec in wanted]
    names = job.swarm.network_names(readback.network_ids(inspected_all))
    found: list[str] = []
    for spec, inspected in zip(wanted, inspected_all, strict=True):
        found += [f"{spec['name']} is missing"] if inspected is None else readback.differences(
            inspected, readback.process_expected(spec), names)
    if found:
        for spec in wanted:
            if spec["name"] in job.created_services:
                job.swarm.remove_service(spec["name"])
        raise DeployFailed("what Docker runs is not what yadockeri asked for: " + "; ".join(found[:5]))


# Env and destroy ---------------------------------------------------------------------------------
def run_env(job: Job) -> bool:
    """Apply the stack's env to its processes (same image). False if it was never deployed."""
    stack = job.stack
    if not stack.commit or not stack.image:
        with job.step("processes") as s:
            s.skip("not deployed yet: the env applies at the first deploy")
        return False
    with job.step("spec") as s:
        spec, compose = read_spec(job, stack.commit)
        s.detail = f"{stack.branch} at {stack.commit[:12]}"
    roll_out(job, Release(stack.commit, spec, compose, stack.image))
    return True


def run_sleep(job: Job, timing: Timing) -> None:
    """Scale the processes to zero (middleware and data stay), unless used meanwhile."""
    with job.step("sleep") as s:
        stack = job.store.require_stack(job.name)  # re-read: the decision may be stale
        if stack.state != "running" or stack.asleep:
            s.skip(f"not slept: the stack is {stack.state}")
            return
        if utcnow() - stack.last_activity_at < timing.sleep_after:
            s.skip("not slept: used since the decision")
            return
        processes = job.swarm.services(**{STACK_LABEL: job.name, ROLE_LABEL: "process"})
        for service in processes:
            job.swarm.scale(service["Spec"]["Name"], 0)
        def stopped() -> bool | None:
            running = [s["Spec"]["Name"] for s in processes
                       if any(t["Status"]["State"] == "running" for t in job.swarm.tasks(s["Spec"]["Name"]))]
            return True if not running else None

        def still_running() -> bool:
            raise DeployFailed(f"the processes of {job.name} did not stop within {job.settings.deploy_timeout}s")

        # asleep means nothing runs: the router then asks yadockeri
        poll_until(stopped, timeout=job.settings.deploy_timeout, interval=job.settings.poll_interval,
                   timed_out=still_running)
        job.store.update_stack(job.name, asleep=True)
        job.store.set_stack_state(job.name, "sleeping", only_from=("running",))
        s.detail = f"{len(processes)} processes scaled to 0"


def run_wake(job: Job) -> None:
    """Scale a sleeping stack's processes back up and wait until the web answers."""
    if not job.store.require_stack(job.name).asleep:
        with job.step("wake") as s:
            s.skip("already awake")
        return
    try:
        run_env(job)  # the same release, applied again: its services come back at their scale
    except YadockeriError:
        # It stays asleep: no task left waiting to take an address (or a node) once one frees up.
        for service in job.swarm.services(**{STACK_LABEL: job.name, ROLE_LABEL: "process"}):
            job.swarm.scale(service["Spec"]["Name"], 0)
        raise


def run_destroy(job: Job) -> None:
    name = job.name
    hooks.run_predestroy(job)
    with job.step("services") as s:
        services = job.swarm.services(**{STACK_LABEL: name})
        for service in services:
            job.swarm.remove_service(service["ID"])
        wait_gone(job, name)
        s.detail = f"{len(services)} removed"
    with job.step("cleanup") as s:
        networks = job.swarm.remove_networks(**{STACK_LABEL: name})
        volumes = nodes.remove_stack_volumes(job)  # on the node that holds them
        images = unused_images(job)
        for image in images:
            job.swarm.remove_image(image)
        remove_built_images(job, images)
        deleted = registry.delete_images(job.settings, images, job.log)
        job.mirror.unpin(name)
        s.detail = f"{len(networks)} networks, {len(volumes)} volumes, {len(images)} images removed" + (
            f" ({len(deleted)} from the registry)" if job.settings.registry else "")


def wait_gone(job: Job, name: str, timeout: float = 120) -> None:
    """Containers of removed services linger a moment; networks and volumes wait for them.
    Exited ones (a finished job's) swarm does not always remove: remove those ourselves."""
    def gone() -> bool | None:
        if not job.swarm.containers(**{STACK_LABEL: name}):
            return True
        job.swarm.remove_containers(exited_only=True, **{STACK_LABEL: name})
        return None

    def lingering() -> bool:
        raise YadockeriError(f"containers of stack {name} did not stop within {timeout:.0f}s")

    poll_until(gone, timeout=timeout, interval=job.settings.poll_interval, timed_out=lingering)


def remove_built_images(job: Job, images: list[str]) -> None:
    """A separate builder keeps what it built: remove it there too (if it is up: else the
    scheduler's garbage collection does, later)."""
    if not job.settings.builder:
        return
    try:
        for image in images:
            job.builder.remove_image(image)
    except YadockeriError as error:
        job.log(f"images left on the builder for now: {error}")


def unused_images(job: Job) -> list[str]:
    """The stack's images that no other stack runs or is about to run."""
    return sorted(job.store.images_of(job.name) - job.store.images_in_use(except_stack=job.name))
