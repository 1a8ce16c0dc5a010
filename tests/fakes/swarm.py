"""FakeSwarm: an in-memory Docker engine and one-node swarm behind `stacks.ports.DockerPort`.

It answers in Docker's own shapes (inspect dicts with IDs, task states and `Err`s, container
lists, network IDs in service specs), so the pipeline's real code reads it as it reads Docker;
tests/contract/test_docker_contract.py runs the same checks against it and against a real
engine to keep it so. What it does not model it does not pretend: no scheduling delays, no
restart timing, no pulling (an image it does not have is `No such image`, as on an engine
without a registry).

Tasks reach their state at once (a test never waits for Docker) and have been in it for
`task_age` seconds, so a rollout that must stay up a moment has. What a service's tasks do is
scripted by name with `behave(name, Behaviour(...))`; builds with `build_script`; any method
can be made to fail with `fail_next`.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from stacks.docker_adapter import BuildRequest
from stacks.docker_adapter.labels import HASH_LABEL, NAMESPACE_LABEL
from stacks.errors import BuildFailed, YadockeriError

from . import stack_cli

NAMESPACE = NAMESPACE_LABEL
JOB_MODES = ("ReplicatedJob", "GlobalJob")
MODE_NAMES = {name.lower(): name for name in ("Replicated", "Global", *JOB_MODES)}
DEFAULT_NETWORKS = ("ingress", "bridge", "host", "none", "docker_gwbridge")
LOG_LINE_TIME = "2026-01-01T00:00:00.000000000Z"


@dataclass(frozen=True)
class Behaviour:
    """What the tasks of one service do.

    exit_code: a job's exit code (default 0); for a process, that it exits with this code again
        and again (a crash loop: swarm restarts it, the tasks say `non-zero exit`).
    starts: False keeps every task `pending` with `err` (no node can run it).
    logs: the lines each task writes (service_logs).
    rolls_back: an update fails swarm's monitor: the service reads as updating until its tasks
        are next listed, and by then swarm has put the previous spec back (UpdateStatus
        `rollback_completed`). `FakeSwarm.roll_back` does it on demand, later.
    """

    exit_code: int | None = None
    starts: bool = True
    logs: tuple[str, ...] = ()
    rolls_back: bool = False
    err: str = "no suitable node (insufficient resources on 1 node)"


@dataclass(frozen=True)
class BuildScript:
    """What the next builds do: fail with `fails` (docker's error line), never end (`hangs`: the
    build timeout stops it), and write `lines` first."""

    fails: str | None = None
    hangs: bool = False
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeldBuild:
    """A build held on cue: `reached` is set when it starts, it goes on once `go` is set."""

    reached: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class BuildCall:
    tag: str
    dockerfile: str
    labels: dict[str, str]
    files: dict[str, bytes]  # the context, as the build saw it (.dockerignore applied)
    request: BuildRequest


@dataclass
class _Service:
    id: str
    spec: dict[str, Any]
    version: int
    created_at: str
    updated_at: str
    generation: int = 0  # bumped by every spec change: tasks of older ones are old tasks
    previous: dict[str, Any] | None = None
    update_status: dict[str, Any] | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)  # named volume -> labels (stack deploy's)
    rolling_back: bool = False  # Behaviour.rolls_back: taken back when its tasks are next listed

    @property
    def name(self) -> str:
        return self.spec["Name"]

    @property
    def mode(self) -> str:
        return next(iter(self.spec["Mode"]))

    def inspect(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ID": self.id, "Version": {"Index": self.version}, "CreatedAt": self.created_at,
                                 "UpdatedAt": self.updated_at, "Spec": copy.deepcopy(self.spec), "Endpoint": {"Spec": {}}}
        if self.previous is not None:
            found["PreviousSpec"] = copy.deepcopy(self.previous)
        if self.update_status is not None:
            found["UpdateStatus"] = dict(self.update_status)
        return found


def _id() -> str:
    return secrets.token_hex(12)[:25]


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _matches(labels: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    have = labels or {}
    return all(have.get(key) == value for key, value in wanted.items())


def _normal_ref(ref: str) -> str:
    """`busybox` -> `busybox:latest`, as Docker reads a reference without a tag."""
    name = ref.split("@", 1)[0]
    return ref if ":" in name.rsplit("/", 1)[-1] or "@" in ref else f"{ref}:latest"


def _clean(value: Any) -> Any:
    """A docker.types value as Docker stores it: plain dicts, no None fields."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


class FakeSwarm:
    """An in-memory DockerPort (see the module docstring). Thread-safe: the pipeline calls it
    from the build and the middleware threads at once, the runner from several jobs."""

    def __init__(self, *, images: tuple[str, ...] = ("busybox:latest",), task_age: float = 60.0,
                 log_driver: str | None = "json-file", node_id: str = "fakenode0manager00000001",
                 registry: set[str] | None = None) -> None:
        self._lock = threading.RLock()
        self._services: dict[str, _Service] = {}  # by ID
        self._containers: list[dict[str, Any]] = []
        self._networks: dict[str, dict[str, Any]] = {}  # by ID
        self._volumes: dict[str, dict[str, Any]] = {}  # by name
        self._images: dict[str, dict[str, Any]] = {}  # by ID
        self._nodes: list[dict[str, Any]] = []
        self._failures: dict[str, list[Exception]] = {}
        self._held_builds: dict[str, HeldBuild] = {}
        self._addresses = itertools.count(2)
        self.node_id = node_id
        self.task_age = task_age
        self.log_driver = log_driver
        self.behaviours: dict[str, Behaviour] = {}
        # Images pushed here can be pulled by every engine given the same set (a registry).
        self.registry: set[str] = registry if registry is not None else set()
        # What Docker stores of a service spec, made different (a CLI or an engine that reads a key otherwise).
        self.tamper: Callable[[dict[str, Any]], None] | None = None
        self.build_script = BuildScript()
        self.builds: list[BuildCall] = []
        self.pushed: list[str] = []
        self.stack_deploys: list[tuple[str, str]] = []  # (stack, compose text)
        self.pruned: list[tuple[int, int | None]] = []  # (max age, size kept)
        self.calls: list[str] = []  # every DockerPort method called, in order
        self.add_node(node_id, "fake-manager")
        for name in DEFAULT_NETWORKS:
            self._add_network(name, {}, driver="overlay" if name == "ingress" else "bridge")
        for ref in images:
            self.add_image(ref)

    # Scripting (not part of DockerPort) ---------------------------------------------------------
    def behave(self, service: str, behaviour: Behaviour) -> None:
        """Script what the tasks of `service` (a name) do from its next start on."""
        with self._lock:
            self.behaviours[service] = behaviour

    def fail_next(self, method: str, error: Exception, times: int = 1) -> None:
        """The next `times` calls of `method` raise `error` (Docker going away, refusing, a bug...)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([error] * times)

    def add_image(self, ref: str, labels: dict[str, str] | None = None, *, created: float | None = None) -> str:
        with self._lock:
            image_id = "sha256:" + secrets.token_hex(32)
            self._images[image_id] = {"Id": image_id, "RepoTags": [_normal_ref(ref)], "RepoDigests": [],
                                      "Labels": dict(labels or {}), "Created": int(created or time.time()), "Size": 1}
            return image_id

    def add_node(self, node_id: str, hostname: str, *, state: str = "ready", availability: str = "active") -> None:
        with self._lock:
            self._nodes.append({"ID": node_id, "Description": {"Hostname": hostname}, "Status": {"State": state},
                                "Spec": {"Availability": availability, "Role": "manager"}})

    def hold_builds_of(self, commit: str) -> HeldBuild:
        """Builds of this commit wait until the test says go (a slow build, on cue)."""
        with self._lock:
            return self._held_builds.setdefault(commit, HeldBuild())

    def release_held_builds(self) -> None:
        """Let every held build go on (a test that failed while one was held must not hang its teardown)."""
        with self._lock:
            for held in self._held_builds.values():
                held.go.set()

    def roll_back(self, name: str, message: str = "rollback completed") -> None:
        """Swarm's update monitor saw the new tasks fail: the previous spec runs again."""
        with self._lock:
            service = self._find(name)
            assert service is not None and service.previous is not None, f"{name} was never updated"
            self._revert(service, message)

    def network(self, name: str) -> dict[str, Any] | None:
        """The network called `name` (Docker's network list shape), if any."""
        with self._lock:
            return next((dict(n) for n in self._networks.values() if n["Name"] == name), None)

    def volume_names(self) -> list[str]:
        with self._lock:
            return sorted(self._volumes)

    def image_tags(self) -> list[str]:
        with self._lock:
            return sorted(tag for image in self._images.values() for tag in image["RepoTags"])

    # Services ---------------------------------------------------------------------------------
    def service(self, name: str) -> dict | None:
        with self._call("service"):
            found = self._find(name)
            return found.inspect() if found else None

    def services(self, **labels: str) -> list[dict]:
        with self._call("services"):
            return [s.inspect() for s in self._services.values() if _matches(s.spec.get("Labels"), labels)]

    def apply_service(self, spec: dict) -> str:
        with self._call("apply_service"):
            current = self._find(spec["name"])
            if current is None:
                self._create(spec)
                return "created"
            # As Swarm.apply_service: the spec hash and the scale decide; nothing is sent when both agree.
            same_hash = current.spec.get("Labels", {}).get(HASH_LABEL) == spec["labels"].get(HASH_LABEL)
            if same_hash and _replicas(current.spec) == _replicas({"Mode": _mode(spec.get("mode"))}):
                return "unchanged"
            self._update(current, self._spec_of(spec))
            return "updated"

    def create_job(self, spec: dict) -> str:
        with self._call("create_job"):
            self._remove(spec["name"])  # a job left behind by a killed run, as Swarm.create_job
            return self._create(spec).id

    def scale(self, name: str, replicas: int) -> bool:
        with self._call("scale"):
            service = self._find(name)
            if service is None:
                return False
            if _replicas(service.spec) != replicas:
                service.spec["Mode"] = {"Replicated": {"Replicas": replicas}}
                self._touch(service)
                self._converge(service)
            return True

    def remove_service(self, name: str) -> bool:
        with self._call("remove_service"):
            return self._remove(name)

    def tasks(self, service: str, *, desired_running: bool = False) -> list[dict]:
        with self._call("tasks"):
            found = self._find(service)
            if found is None:  # Docker answers 404 to a task filter naming no service
                raise YadockeriError(f"Docker refused listing tasks of {service}: service {service} not found")
            if found.rolling_back:
                found.rolling_back = False
                self._revert(found, "rollback completed")
            return [_public(task) for task in found.tasks
                    if not desired_running or task.get("DesiredState") == "running"]

    def service_logs(self, service: str, tail: int = 100, timestamps: bool = False) -> list[str]:
        with self._call("service_logs"):
            found = self._find(service)
            if found is None:
                return []
            lines = [line for task in found.tasks for line in task.get("_logs", ())]
            lines = [f"{LOG_LINE_TIME} {line}" if timestamps else line for line in lines]
            return lines[-tail:] if tail else []

    # Networks, volumes, containers ----------------------------------------------------------------
    def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        with self._call("ensure_network"):
            if self.network(name) is None:
                self._add_network(name, labels)

    def network_names(self) -> dict[str, str]:
        with self._call("network_names"):
            return {network_id: network["Name"] for network_id, network in self._networks.items()}

    def remove_networks(self, **labels: str) -> list[str]:
        with self._call("remove_networks"):
            removed = []
            for network_id, network in list(self._networks.items()):
                if not _matches(network["Labels"], labels):
                    continue
                users = [s.name for s in self._services.values() if network_id in _network_ids(s.spec)]
                if users:  # what Docker says (after Swarm's retries while tasks leave)
                    raise YadockeriError(f"Docker refused removing networks: network {network_id} is in use by "
                                         f"service {users[0]}")
                del self._networks[network_id]
                removed.append(network["Name"])
            return removed

    def remove_volumes(self, **labels: str) -> list[str]:
        with self._call("remove_volumes"):
            removed = []
            for name, volume in list(self._volumes.items()):
                if _matches(volume["Labels"], labels):
                    if any(name in c["_volumes"] and c["State"] == "running" for c in self._containers):
                        raise YadockeriError(f"Docker refused removing volumes: volume is in use - [{name}]")
                    del self._volumes[name]
                    removed.append(name)
            return removed

    def containers(self, **labels: str) -> list[dict]:
        with self._call("containers"):
            return [_public(c) for c in self._containers if _matches(c["Labels"], labels)]

    def remove_containers(self, *, exited_only: bool = False, ancestor: str | None = None, **labels: str) -> int:
        with self._call("remove_containers"):
            doomed = [c for c in self._containers if _matches(c["Labels"], labels)
                      and (not exited_only or c["State"] in ("exited", "created", "dead"))
                      and (ancestor is None or ancestor in (c["ImageID"], c["Image"]))]
            self._containers = [c for c in self._containers if c not in doomed]
            return len(doomed)

    # Images -----------------------------------------------------------------------------------
    def image_exists(self, ref: str) -> bool:
        with self._call("image_exists"):
            return self._image(ref) is not None

    def buildkit_build(self, request: BuildRequest, *, log_line: Callable[[str], None], timeout: float) -> str:
        """BuildKit's plain progress in its shape: `#<n> [<i>/<count>] <instruction>` per step."""
        tag, dockerfile, labels = request.tag, request.dockerfile, request.labels
        with self._call("buildkit_build"):
            files = _read_folder(request.folder)
            script = self.build_script
            held = self._held_builds.get(labels.get("yadockeri.commit", ""))
        if held is not None:
            held.reached.set()
            assert held.go.wait(30), f"the build of {tag} was held for 30 s"
        log_line("#1 [internal] load build definition from " + dockerfile)
        if dockerfile not in files:  # BuildKit fails before any step runs
            raise BuildFailed(f"docker build failed: failed to solve with frontend dockerfile.v0: failed to read "
                              f"dockerfile: open {dockerfile}: no such file or directory")
        steps = _steps(files[dockerfile])
        lines = [f"#{n + 1} [{n}/{len(steps)}] {step}" for n, step in enumerate(steps, 1)] + list(script.lines)
        for line in lines:
            log_line(line)
        with self._lock:
            self.builds.append(BuildCall(tag, dockerfile, dict(labels), files, request))
        if script.hangs:
            raise BuildFailed(f"docker build did not finish within {timeout:.0f}s (YADOCKERI_BUILD_TIMEOUT); it was stopped\n"
                              + "\n".join(lines[-25:]))
        if script.fails is not None:
            log_line(script.fails)
            raise BuildFailed(f"docker build failed: {script.fails}\n" + "\n".join([*lines, script.fails][-25:]))
        with self._lock:
            self._untag(_normal_ref(tag))
            return self.add_image(tag, labels)

    def push(self, ref: str, log_line: Callable[[str], None]) -> None:
        with self._call("push"):
            if self._image(ref) is None:
                raise YadockeriError(f"pushing {ref} failed: An image does not exist locally with the tag: {ref}")
            self.pushed.append(ref)
            self.registry.add(_normal_ref(ref))
        log_line(f"The push refers to repository [{ref.rsplit(':', 1)[0]}]")

    def own_image_ids(self) -> set[str]:
        with self._call("own_image_ids"):
            found = set()
            for image in self._images.values():
                if "yadockeri.app" in image["Labels"]:
                    found.add(image["Id"])
                    found.update(d.split("@", 1)[1] for d in image["RepoDigests"] if "@" in d)
            return found

    def images(self, **labels: str) -> list[dict]:
        with self._call("images"):
            return [copy.deepcopy(i) for i in self._images.values() if _matches(i["Labels"], labels)]

    def remove_image(self, ref: str) -> bool:
        with self._call("remove_image"):
            image = self._image(ref)
            if image is None:
                return False
            tag = _normal_ref(ref)
            last = tag not in image["RepoTags"] or len(image["RepoTags"]) == 1
            user = next((c for c in self._containers if c["ImageID"] == image["Id"]), None)
            if last and user is not None:  # stopped containers hold it too (Swarm retries, then says so)
                raise YadockeriError(f"Docker refused removing image {ref}: conflict: unable to remove repository "
                                     f"reference {ref!r} (must force) - container {user['Id'][:12]} is using its "
                                     "referenced image")
            if tag in image["RepoTags"]:
                self._untag(tag)
            elif len(image["RepoTags"]) > 1:
                raise YadockeriError(f"Docker refused removing image {ref}: conflict: unable to delete {ref} (must be "
                                     "forced) - image is referenced in multiple repositories")
            else:
                del self._images[image["Id"]]
            return True

    def prune_build_cache(self, older_than_seconds: int, keep_bytes: int | None = None) -> int:
        with self._call("prune_build_cache"):
            self.pruned.append((older_than_seconds, keep_bytes))
            return 0

    def engine_log_driver(self) -> str | None:
        with self._call("engine_log_driver"):
            return self.log_driver

    # The docker CLI ---------------------------------------------------------------------------------
    def stack_deploy(self, stack: str, compose_yaml: str, *, with_registry_auth: bool) -> str:
        with self._call("stack_deploy"):
            self.stack_deploys.append((stack, compose_yaml))
            data = stack_cli.unescape(yaml.safe_load(compose_yaml))
            said = []
            for name, network in (data.get("networks") or {}).items():
                full = f"{stack}_{name}"
                if self.network(full) is None:
                    self._add_network(full, {**(network.get("labels") or {}), NAMESPACE: stack},
                                      driver=network.get("driver") or "overlay")
                    said.append(f"Creating network {full}")
            for name, service in (data.get("services") or {}).items():
                spec = stack_cli.service_spec(stack, name, service, self._network_ids_by_name())
                current = self._find(spec["Name"])
                if current is None:
                    said.append(f"Creating service {spec['Name']}")
                    self._create_from(spec, volumes=stack_cli.named_volumes(stack, service, data))
                else:
                    said.append(f"Updating service {spec['Name']} (id: {current.id})")
                    if spec != current.spec:
                        self._update(current, spec)
            return "\n".join(said)

    # Nodes ---------------------------------------------------------------------------------------
    def nodes(self) -> list[dict]:
        with self._call("nodes"):
            return copy.deepcopy(self._nodes)

    def local_node_id(self) -> str:
        with self._call("local_node_id"):
            return self.node_id

    # Inside -----------------------------------------------------------------------------------
    @contextmanager
    def _call(self, method: str) -> Iterator[None]:
        with self._lock:
            self.calls.append(method)
            pending = self._failures.get(method)
            if pending:
                raise pending.pop(0)
            yield

    def _find(self, name_or_id: str) -> _Service | None:
        if name_or_id in self._services:
            return self._services[name_or_id]
        return next((s for s in self._services.values() if s.name == name_or_id), None)

    def _image(self, ref: str) -> dict[str, Any] | None:
        wanted = _normal_ref(ref)
        for image in self._images.values():
            if ref == image["Id"] or wanted in image["RepoTags"] or ref in image["RepoDigests"]:
                return image
        return None

    def _untag(self, tag: str) -> None:
        for image_id, image in list(self._images.items()):
            if tag in image["RepoTags"]:
                image["RepoTags"].remove(tag)
                if not image["RepoTags"] and not any(c["ImageID"] == image_id for c in self._containers):
                    del self._images[image_id]

    def _add_network(self, name: str, labels: dict[str, str], driver: str = "overlay") -> str:
        network_id = _id()
        self._networks[network_id] = {"Id": network_id, "Name": name, "Labels": dict(labels), "Driver": driver,
                                      "Scope": "swarm" if driver == "overlay" else "local", "_index": len(self._networks)}
        return network_id

    def _network_ids_by_name(self) -> dict[str, str]:
        return {network["Name"]: network_id for network_id, network in self._networks.items()}

    def _spec_of(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The SDK's create_service kwargs -> the Spec Docker stores (networks by ID, defaults filled)."""
        template = _clean(copy.deepcopy(dict(kwargs["task_template"])))
        by_name = self._network_ids_by_name()
        networks = []
        for attachment in template.get("Networks") or []:
            target = attachment["Target"]
            if target not in self._networks and target not in by_name:
                raise YadockeriError(f"Docker refused creating or updating service {kwargs['name']}: "
                                     f"network {target} not found")
            networks.append({**attachment, "Target": target if target in self._networks else by_name[target]})
        if networks:
            template["Networks"] = networks
        template.setdefault("ForceUpdate", 0)
        template.setdefault("Runtime", "container")
        template["ContainerSpec"].setdefault("Isolation", "default")
        spec = {"Name": kwargs["name"], "Labels": dict(kwargs.get("labels") or {}), "TaskTemplate": template,
                "Mode": _mode(kwargs.get("mode"))}
        for key, docker_key in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig"),
                                ("endpoint_spec", "EndpointSpec")):
            if kwargs.get(key) is not None:
                spec[docker_key] = _clean(dict(kwargs[key]))
        return spec

    def _create(self, kwargs: dict[str, Any]) -> _Service:
        return self._create_from(self._spec_of(kwargs), volumes={})

    def _create_from(self, spec: dict[str, Any], *, volumes: dict[str, dict[str, str]]) -> _Service:
        if self._find(spec["Name"]) is not None:
            raise YadockeriError(f"Docker refused creating service {spec['Name']}: name conflicts with an existing object")
        stamp = _stamp(_now())
        service = _Service(id=_id(), spec=self._stored(spec), version=1, created_at=stamp, updated_at=stamp,
                           volumes=volumes)
        self._services[service.id] = service
        self._converge(service)
        return service

    def _stored(self, spec: dict[str, Any]) -> dict[str, Any]:
        if self.tamper is not None:
            self.tamper(spec)
        return spec

    def _update(self, service: _Service, spec: dict[str, Any]) -> None:
        service.previous, service.spec = service.spec, self._stored(spec)
        service.generation += 1
        self._touch(service)
        self._converge(service)
        if self.behaviours.get(service.name, Behaviour()).rolls_back:
            service.rolling_back = True
            service.update_status = {"State": "updating", "StartedAt": service.updated_at,
                                     "Message": "update in progress"}
        else:
            service.update_status = {"State": "completed", "StartedAt": service.updated_at,
                                     "CompletedAt": service.updated_at, "Message": "update completed"}

    def _revert(self, service: _Service, message: str) -> None:
        for task in service.tasks:
            if task["_generation"] == service.generation and task["DesiredState"] == "running":
                self._end_task(task, "failed", "shutdown", err="task: non-zero exit (1)")
        assert service.previous is not None
        service.spec, service.previous = service.previous, service.spec
        service.generation += 1
        self._touch(service)
        self._converge(service, behaviour=Behaviour())  # the previous version ran: it runs again
        service.update_status = {"State": "rollback_completed", "StartedAt": service.updated_at,
                                 "CompletedAt": service.updated_at, "Message": message}

    def _touch(self, service: _Service) -> None:
        service.version += 1
        service.updated_at = _stamp(_now())

    def _remove(self, name_or_id: str) -> bool:
        service = self._find(name_or_id)
        if service is None:
            return False
        del self._services[service.id]
        job = service.mode in JOB_MODES
        # Swarm stops and removes a service's containers; a finished job's exited ones it keeps.
        self._containers = [c for c in self._containers
                            if c["Labels"].get("com.docker.swarm.service.id") != service.id
                            or (job and c["State"] == "exited")]
        return True

    def _converge(self, service: _Service, behaviour: Behaviour | None = None) -> None:
        """Make the service's tasks what its spec and behaviour say, at once."""
        behaviour = behaviour or self.behaviours.get(service.name, Behaviour())
        current = [t for t in service.tasks if t["DesiredState"] in ("running", "ready")
                   and t["_generation"] == service.generation]
        for task in service.tasks:
            if task["DesiredState"] in ("running", "ready") and task["_generation"] != service.generation:
                self._end_task(task, "shutdown", "shutdown")
        if service.mode in JOB_MODES:
            if not service.tasks or all(t["_generation"] != service.generation for t in service.tasks):
                for node in self._job_nodes(service):
                    self._start(service, slot=1, behaviour=behaviour, node=node)
            return
        wanted = _replicas(service.spec) or 0
        for task in current[wanted:]:
            self._end_task(task, "shutdown", "shutdown")
        for slot in range(len(current) + 1, wanted + 1):
            self._start(service, slot=slot, behaviour=behaviour, node=self.node_id)

    def _job_nodes(self, service: _Service) -> list[str]:
        """The nodes a job runs on: every node its placement allows for a global job, the first of
        them for a replicated one (none: it stays pending, as swarm's would)."""
        constraints = (service.spec["TaskTemplate"].get("Placement") or {}).get("Constraints") or []
        allowed = [n["ID"] for n in self._nodes if n["Status"]["State"] == "ready" and _placed(n["ID"], constraints)]
        return allowed[:1] if service.mode == "ReplicatedJob" else allowed

    def _start(self, service: _Service, *, slot: int, behaviour: Behaviour, node: str) -> None:
        image = service.spec["TaskTemplate"]["ContainerSpec"]["Image"]
        if self._image(image) is None and _normal_ref(image) in self.registry:  # pulled
            self.add_image(image)
        if self._image(image) is None:  # no registry has it: swarm rejects the task, and again
            for _ in range(2):
                self._task(service, slot, node, "rejected", "shutdown", err=f"No such image: {image}")
            self._task(service, slot, node, "pending", "running", err=f"No such image: {image}")
            return
        if not behaviour.starts:
            self._task(service, slot, node, "pending", "running", err=behaviour.err)
            return
        if service.mode in JOB_MODES:
            code = behaviour.exit_code or 0
            if code == 0:
                self._task(service, slot, node, "complete", "complete", behaviour=behaviour, message="finished")
            else:
                self._task(service, slot, node, "failed", "shutdown", behaviour=behaviour,
                           err=f"task: non-zero exit ({code})")
            return
        if behaviour.exit_code is not None:  # restarted by swarm, exits again: a crash loop
            for _ in range(2):
                self._task(service, slot, node, "failed", "shutdown", behaviour=behaviour,
                           err=f"task: non-zero exit ({behaviour.exit_code})")
            self._task(service, slot, node, "ready", "ready")
            return
        self._task(service, slot, node, "running", "running", behaviour=behaviour, message="started")

    def _task(self, service: _Service, slot: int, node: str, state: str, desired: str, *,
              behaviour: Behaviour | None = None, err: str | None = None, message: str = "") -> dict[str, Any]:
        at = _stamp(_now() - timedelta(seconds=self.task_age))
        template = copy.deepcopy(service.spec["TaskTemplate"])
        task: dict[str, Any] = {
            "ID": _id(), "Version": {"Index": service.version}, "CreatedAt": at, "UpdatedAt": at, "Labels": {},
            "Spec": template, "ServiceID": service.id, "Slot": slot, "NodeID": node, "DesiredState": desired,
            "Status": {"Timestamp": at, "State": state, "Message": message or state},
            "NetworksAttachments": self._attachments(template), "_generation": service.generation,
            "_logs": list(behaviour.logs) if behaviour else [],
        }
        if err:
            task["Status"]["Err"] = err
        if state in ("running", "complete", "failed"):  # a container ran
            task["Status"]["ContainerStatus"] = {"ContainerID": self._container(service, task), "ExitCode": 0}
        service.tasks.append(task)
        return task

    def _attachments(self, template: dict[str, Any]) -> list[dict[str, Any]]:
        attachments = []
        for attachment in template.get("Networks") or []:
            network = self._networks[attachment["Target"]]
            address = f"10.0.{network['_index']}.{next(self._addresses) % 250 + 2}/24"
            attachments.append({"Network": {"ID": network["Id"], "Spec": {"Name": network["Name"],
                                                                             "Labels": dict(network["Labels"])}},
                                "Addresses": [address]})
        return attachments

    def _container(self, service: _Service, task: dict[str, Any]) -> str:
        spec = task["Spec"]["ContainerSpec"]
        image = self._image(spec["Image"])
        container_id = secrets.token_hex(32)
        volumes = service.volumes
        for name, labels in volumes.items():  # a task's volumes are made where it starts
            self._volumes.setdefault(name, {"Name": name, "Labels": dict(labels), "Driver": "local"})
        labels = {**(spec.get("Labels") or {}), "com.docker.swarm.node.id": task["NodeID"],
                  "com.docker.swarm.service.id": service.id, "com.docker.swarm.service.name": service.name,
                  "com.docker.swarm.task": "", "com.docker.swarm.task.id": task["ID"],
                  "com.docker.swarm.task.name": f"{service.name}.{task['Slot']}.{task['ID']}"}
        running = task["Status"]["State"] == "running"
        self._containers.append({
            "Id": container_id, "Names": [f"/{service.name}.{task['Slot']}.{task['ID']}"], "Image": spec["Image"],
            "ImageID": image["Id"] if image else "", "Labels": labels, "State": "running" if running else "exited",
            "Status": "Up 1 minute" if running else "Exited (0) 1 minute ago", "_task": task["ID"],
            "_volumes": set(volumes),
        })
        return container_id

    def _end_task(self, task: dict[str, Any], state: str, desired: str, err: str | None = None) -> None:
        task["DesiredState"] = desired
        if task["Status"]["State"] in ("running", "ready", "pending", "starting"):
            task["Status"].update(State=state, Timestamp=_stamp(_now()), Message=state)
            if err:
                task["Status"]["Err"] = err
        for container in self._containers:
            if container["_task"] == task["ID"] and container["State"] == "running":
                container.update(State="exited", Status="Exited (0) Less than a second ago")


# Docker's shapes ---------------------------------------------------------------------------------
def _public(container: dict[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in container.items() if not key.startswith("_")}


def _replicas(spec: dict[str, Any]) -> int | None:
    mode = spec.get("Mode") or spec.get("mode") or {}
    mode = {MODE_NAMES.get(key.lower(), key): value for key, value in mode.items()}
    return (mode.get("Replicated") or {}).get("Replicas")


def _mode(mode: Any) -> dict[str, Any]:
    """Docker reads the mode's key in any case (Go's JSON); it stores it capitalised, jobs filled in."""
    given: dict[str, Any] = dict(mode or {"Replicated": {"Replicas": 1}})
    normal: dict[str, Any] = {MODE_NAMES.get(key.lower(), key): dict(value or {}) for key, value in given.items()}
    if "ReplicatedJob" in normal:
        normal["ReplicatedJob"] = {"MaxConcurrent": 1, "TotalCompletions": 1, **normal["ReplicatedJob"]}
    if "Replicated" in normal:
        normal["Replicated"].setdefault("Replicas", 1)
    return normal


def _network_ids(spec: dict[str, Any]) -> set[str]:
    return {n["Target"] for n in spec["TaskTemplate"].get("Networks") or []}


def _placed(node_id: str, constraints: list[str]) -> bool:
    """The placement constraints yadockeri writes: `node.id == X` and `node.id != X`."""
    for constraint in constraints:
        key, op, value = constraint.replace("!=", " != ").replace("==", " == ").split(None, 2)
        if key == "node.id" and (node_id == value) != (op == "=="):
            return False
    return True


def _read_folder(folder: Path) -> dict[str, bytes]:
    """The context as BuildKit sends it: every file, but those .dockerignore names (exact paths
    and `*` patterns, the common case)."""
    ignored = (folder / ".dockerignore").read_text().split() if (folder / ".dockerignore").exists() else []
    files = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and not any(fnmatch.fnmatch(name, pattern) for pattern in ignored):
            files[name] = path.read_bytes()
    return files


def _steps(dockerfile: bytes) -> list[str]:
    lines = [line.strip() for line in dockerfile.decode("utf-8", "replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]
