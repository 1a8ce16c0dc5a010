"""FakeSwarm's scheduler: a service's tasks and their containers, made at once from its spec and
the `Behaviour` scripted for it."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .swarm_state import StoredService, SwarmState, new_id, normal_ref, now, stamp

JOB_MODES = ("ReplicatedJob", "GlobalJob")
MODE_NAMES = {name.lower(): name for name in ("Replicated", "Global", *JOB_MODES)}


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


class FakeTasks(SwarmState):
    """Tasks reach their state at once and have been in it for `task_age` seconds."""

    task_age: float
    behaviours: dict[str, Behaviour]
    _addresses: Iterator[int]  # the last part of the next task's address on a network

    def behave(self, service: str, behaviour: Behaviour) -> None:
        """Script what the tasks of `service` (a name) do from its next start on."""
        with self._lock:
            self.behaviours[service] = behaviour

    def _converge(self, service: StoredService, behaviour: Behaviour | None = None) -> None:
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
        wanted = replicas_of(service.spec) or 0
        for task in current[wanted:]:
            self._end_task(task, "shutdown", "shutdown")
        for slot in range(len(current) + 1, wanted + 1):
            self._start(service, slot=slot, behaviour=behaviour, node=self.node_id)

    def _job_nodes(self, service: StoredService) -> list[str]:
        """The nodes a job runs on: every node its placement allows for a global job, the first of
        them for a replicated one (none: it stays pending, as swarm's would)."""
        constraints = (service.spec["TaskTemplate"].get("Placement") or {}).get("Constraints") or []
        allowed = [n["ID"] for n in self._nodes if n["Status"]["State"] == "ready" and _placed(n["ID"], constraints)]
        return allowed[:1] if service.mode == "ReplicatedJob" else allowed

    def _start(self, service: StoredService, *, slot: int, behaviour: Behaviour, node: str) -> None:
        image = service.spec["TaskTemplate"]["ContainerSpec"]["Image"]
        if self._image(image) is None and normal_ref(image) in self.registry:  # pulled
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

    def _task(self, service: StoredService, slot: int, node: str, state: str, desired: str, *,
              behaviour: Behaviour | None = None, err: str | None = None, message: str = "") -> dict[str, Any]:
        at = stamp(now() - timedelta(seconds=self.task_age))
        template = copy.deepcopy(service.spec["TaskTemplate"])
        task: dict[str, Any] = {
            "ID": new_id(), "Version": {"Index": service.version}, "CreatedAt": at, "UpdatedAt": at, "Labels": {},
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

    def _container(self, service: StoredService, task: dict[str, Any]) -> str:
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
            task["Status"].update(State=state, Timestamp=stamp(now()), Message=state)
            if err:
                task["Status"]["Err"] = err
        for container in self._containers:
            if container["_task"] == task["ID"] and container["State"] == "running":
                container.update(State="exited", Status="Exited (0) Less than a second ago")


def replicas_of(spec: dict[str, Any]) -> int | None:
    mode = spec.get("Mode") or spec.get("mode") or {}
    mode = {MODE_NAMES.get(key.lower(), key): value for key, value in mode.items()}
    return (mode.get("Replicated") or {}).get("Replicas")


def _placed(node_id: str, constraints: list[str]) -> bool:
    """The placement constraints yadockeri writes: `node.id == X` and `node.id != X`."""
    for constraint in constraints:
        key, op, value = constraint.replace("!=", " != ").replace("==", " == ").split(None, 2)
        if key == "node.id" and (node_id == value) != (op == "=="):
            return False
    return True
