"""What every part of FakeSwarm shares: the lock, the call record and scripted failures, the
engine's state (services, containers, networks, volumes, images, nodes) and the lookups in it
more than one part makes; and Docker's small shapes (IDs, timestamps, label matches)."""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class StoredService:
    """A service as swarm keeps it: its spec, the previous one, and its tasks."""

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


class SwarmState:
    """The engine's state, behind one lock; every DockerPort method runs inside `_call`."""

    def __init__(self, *, node_id: str, registry: set[str] | None) -> None:
        self._lock = threading.RLock()
        self._services: dict[str, StoredService] = {}  # by ID
        self._containers: list[dict[str, Any]] = []
        self._networks: dict[str, dict[str, Any]] = {}  # by ID
        self._volumes: dict[str, dict[str, Any]] = {}  # by name
        self._images: dict[str, dict[str, Any]] = {}  # by ID
        self._nodes: list[dict[str, Any]] = []
        self._failures: dict[str, list[Exception]] = {}
        self.node_id = node_id
        # Images pushed here can be pulled by every engine given the same set (a registry).
        self.registry: set[str] = registry if registry is not None else set()
        self.calls: list[str] = []  # every DockerPort method called, in order

    def fail_next(self, method: str, error: Exception, times: int = 1) -> None:
        """The next `times` calls of `method` raise `error` (Docker going away, refusing, a bug...)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([error] * times)

    def add_image(self, ref: str, labels: dict[str, str] | None = None, *, created: float | None = None) -> str:
        with self._lock:
            image_id = "sha256:" + secrets.token_hex(32)
            self._images[image_id] = {"Id": image_id, "RepoTags": [normal_ref(ref)], "RepoDigests": [],
                                      "Labels": dict(labels or {}), "Created": int(created or time.time()), "Size": 1}
            return image_id

    @contextmanager
    def _call(self, method: str) -> Iterator[None]:
        with self._lock:
            self.calls.append(method)
            pending = self._failures.get(method)
            if pending:
                raise pending.pop(0)
            yield

    def _image(self, ref: str) -> dict[str, Any] | None:
        wanted = normal_ref(ref)
        for image in self._images.values():
            if ref == image["Id"] or wanted in image["RepoTags"] or ref in image["RepoDigests"]:
                return image
        return None

    def _network_ids_by_name(self) -> dict[str, str]:
        return {network["Name"]: network_id for network_id, network in self._networks.items()}


# Docker's shapes ---------------------------------------------------------------------------------
def new_id() -> str:
    return secrets.token_hex(12)[:25]


def now() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def matches(labels: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    have = labels or {}
    return all(have.get(key) == value for key, value in wanted.items())


def normal_ref(ref: str) -> str:
    """`busybox` -> `busybox:latest`, as Docker reads a reference without a tag."""
    name = ref.split("@", 1)[0]
    return ref if ":" in name.rsplit("/", 1)[-1] or "@" in ref else f"{ref}:latest"


def public(container: dict[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in container.items() if not key.startswith("_")}
