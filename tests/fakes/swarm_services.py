"""FakeSwarm's services: create, update, scale, roll back and remove them (jobs too); read their
tasks and logs. The specs are stored as Docker stores them; the tasks come from swarm_tasks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from stacks.docker_adapter.labels import HASH_LABEL
from stacks.errors import YadockeriError

from .swarm_state import StoredService, matches, new_id, now, public, stamp
from .swarm_tasks import JOB_MODES, MODE_NAMES, Behaviour, FakeTasks, replicas_of

LOG_LINE_TIME = "2026-01-01T00:00:00.000000000Z"


class FakeServices(FakeTasks):
    """Services by name or ID, their specs, versions and update status."""

    # What Docker stores of a service spec, made different (a CLI or an engine that reads a key otherwise).
    tamper: Callable[[dict[str, Any]], None] | None

    def roll_back(self, name: str, message: str = "rollback completed") -> None:
        """Swarm's update monitor saw the new tasks fail: the previous spec runs again."""
        with self._lock:
            service = self._find(name)
            assert service is not None and service.previous is not None, f"{name} was never updated"
            self._revert(service, message)

    def service(self, name: str) -> dict | None:
        with self._call("service"):
            found = self._find(name)
            return found.inspect() if found else None

    def services(self, **labels: str) -> list[dict]:
        with self._call("services"):
            return [s.inspect() for s in self._services.values() if matches(s.spec.get("Labels"), labels)]

    def apply_service(self, spec: dict) -> str:
        with self._call("apply_service"):
            current = self._find(spec["name"])
            if current is None:
                self._create(spec)
                return "created"
            # As Swarm.apply_service: the spec hash and the scale decide; nothing is sent when both agree.
            same_hash = current.spec.get("Labels", {}).get(HASH_LABEL) == spec["labels"].get(HASH_LABEL)
            if same_hash and replicas_of(current.spec) == replicas_of({"Mode": _mode(spec.get("mode"))}):
                return "unchanged"
            self._update(current, self._spec_of(spec))
            return "updated"

    def rollback_service(self, name: str) -> bool:
        with self._call("rollback_service"):
            service = self._find(name)
            if service is None or service.previous is None:
                return False
            self._revert(service, "rollback completed", failed=False)
            return True

    def create_job(self, spec: dict) -> str:
        with self._call("create_job"):
            self._remove(spec["name"])  # a job left behind by a killed run, as Swarm.create_job
            return self._create(spec).id

    def scale(self, name: str, replicas: int) -> bool:
        with self._call("scale"):
            service = self._find(name)
            if service is None:
                return False
            if replicas_of(service.spec) != replicas:
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
            return [public(task) for task in found.tasks
                    if not desired_running or task.get("DesiredState") == "running"]

    def service_logs(self, service: str, tail: int = 100, timestamps: bool = False) -> list[str]:
        with self._call("service_logs"):
            found = self._find(service)
            if found is None:
                return []
            lines = [line for task in found.tasks for line in task.get("_logs", ())]
            lines = [f"{LOG_LINE_TIME} {line}" if timestamps else line for line in lines]
            return lines[-tail:] if tail else []

    # Inside -----------------------------------------------------------------------------------
    def _find(self, name_or_id: str) -> StoredService | None:
        if name_or_id in self._services:
            return self._services[name_or_id]
        return next((s for s in self._services.values() if s.name == name_or_id), None)

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

    def _create(self, kwargs: dict[str, Any]) -> StoredService:
        return self._create_from(self._spec_of(kwargs), volumes={})

    def _create_from(self, spec: dict[str, Any], *, volumes: dict[str, dict[str, str]]) -> StoredService:
        if self._find(spec["Name"]) is not None:
            raise YadockeriError(f"Docker refused creating service {spec['Name']}: name conflicts with an existing object")
        at = stamp(now())
        service = StoredService(id=new_id(), spec=self._stored(spec), version=1, created_at=at, updated_at=at,
                                volumes=volumes)
        self._services[service.id] = service
        self._converge(service)
        return service

    def _stored(self, spec: dict[str, Any]) -> dict[str, Any]:
        if self.tamper is not None:
            self.tamper(spec)
        return spec

    def _update(self, service: StoredService, spec: dict[str, Any]) -> None:
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

    def _revert(self, service: StoredService, message: str, *, failed: bool = True) -> None:
        """Swarm's rollback (the new tasks failed), or one asked for (they are shut down)."""
        for task in service.tasks:
            if task["_generation"] == service.generation and task["DesiredState"] == "running":
                if failed:
                    self._end_task(task, "failed", "shutdown", err="task: non-zero exit (1)")
                else:
                    self._end_task(task, "shutdown", "shutdown")
        assert service.previous is not None
        service.spec, service.previous = service.previous, service.spec
        service.generation += 1
        self._touch(service)
        self._converge(service, behaviour=Behaviour())  # the previous version ran: it runs again
        service.update_status = {"State": "rollback_completed", "StartedAt": service.updated_at,
                                 "CompletedAt": service.updated_at, "Message": message}

    def _touch(self, service: StoredService) -> None:
        service.version += 1
        service.updated_at = stamp(now())

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


def _mode(mode: Any) -> dict[str, Any]:
    """Docker reads the mode's key in any case (Go's JSON); it stores it capitalised, jobs filled in."""
    given: dict[str, Any] = dict(mode or {"Replicated": {"Replicas": 1}})
    normal: dict[str, Any] = {MODE_NAMES.get(key.lower(), key): dict(value or {}) for key, value in given.items()}
    if "ReplicatedJob" in normal:
        normal["ReplicatedJob"] = {"MaxConcurrent": 1, "TotalCompletions": 1, **normal["ReplicatedJob"]}
    if "Replicated" in normal:
        normal["Replicated"].setdefault("Replicas", 1)
    return normal


def _clean(value: Any) -> Any:
    """A docker.types value as Docker stores it: plain dicts, no None fields."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value
