"""The ports: what the engine needs of Docker, of a git mirror and of the database, as small
typed interfaces (structural: `stacks.docker_adapter.Swarm`, `stacks.gitrepo.Mirror` and
`stacks.store.Store` satisfy them without naming them).

The pipeline, the job runner and maintenance are written against these, so the tests can run
them on in-memory fakes (tests/fakes/), kept honest by one contract suite that runs against the
fake and the real adapter alike (tests/contract/). Each port holds exactly what those modules
call (directly, or through stacks/nodes.py with the job's connection): a method nobody calls
is not part of it. Connection concerns (`client`, `login`, following the router's log) stay on
the concrete adapter, with the modules that make connections (connections.py, router.py,
activity.py, install.py).

Pure: no I/O, and no import of docker, git or SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .capacity import StackLimits
    from .docker_adapter.buildkit import BuildRequest
    from .gitrepo import CommitInfo
    from .store import DeploymentRecord, LockRecord, StackRecord


class DockerPort(Protocol):
    """A Docker engine (a swarm manager, or the engine images are built on): objects by name and
    label, specs as the docker SDK's dicts (stacks/docker_adapter/specs.py), answers as Docker's inspect dicts.
    Docker's failures come out as YadockeriErrors (DockerUnavailable when it cannot be reached)."""

    # Services and their tasks
    def service(self, name: str) -> dict | None:
        """The service's inspect dict (by name or ID), None if there is none."""
        ...

    def services(self, **labels: str) -> list[dict]:
        """Every service with all these labels (`key=value`)."""
        ...

    def apply_service(self, spec: dict) -> str:
        """Create the service or update it; returns `created`, `updated` or `unchanged`."""
        ...

    def rollback_service(self, name: str) -> bool:
        """Put the service's previous spec back (swarm rolls its tasks back); False if it has none."""
        ...

    def create_job(self, spec: dict) -> str:
        """Start a job service (a leftover of the same name is removed first); returns its ID."""
        ...

    def scale(self, name: str, replicas: int) -> bool:
        """Set the replica count; False if the service does not exist."""
        ...

    def remove_service(self, name: str) -> bool:
        """Remove by name or ID; False if there was none."""
        ...

    def tasks(self, service: str, *, desired_running: bool = False) -> list[dict]:
        """The service's tasks (old ones too, unless desired_running); a service that does not
        exist is an error."""
        ...

    def service_logs(self, service: str, tail: int = 100, timestamps: bool = False) -> list[str]:
        """The last lines of the service's output; [] if the service does not exist."""
        ...

    # Networks, volumes, containers
    def ensure_network(self, name: str, labels: dict[str, str]) -> None: ...

    def network_names(self, ids: Collection[str]) -> dict[str, str]:
        """Network ID -> name (inspected specs name their networks by ID)."""
        ...

    def network_verbose(self, name: str) -> dict | None:
        """A swarm network with its services' tasks and addresses (None: no such network)."""
        ...

    def remove_networks(self, **labels: str) -> list[str]: ...

    def remove_volumes(self, **labels: str) -> list[str]: ...

    def containers(self, **labels: str) -> list[dict]:
        """This node's containers with these labels, stopped ones too."""
        ...

    def remove_containers(self, *, exited_only: bool = False, ancestor: str | None = None, **labels: str) -> int: ...

    # Images and builds
    def image_exists(self, ref: str) -> bool: ...

    def buildkit_build(self, request: BuildRequest, *, log_line: Callable[[str], None], timeout: float) -> str:
        """Build a folder with BuildKit into `request.tag`; returns the image ID. A failed build
        (a missing Dockerfile too) raises BuildFailed."""
        ...

    def push(self, ref: str, log_line: Callable[[str], None]) -> None: ...

    def own_image_ids(self) -> set[str]: ...

    def images(self, **labels: str) -> list[dict]: ...

    def remove_image(self, ref: str) -> bool: ...

    def prune_build_cache(self, older_than_seconds: int, keep_bytes: int | None = None) -> int: ...

    def engine_log_driver(self) -> str | None: ...

    # Middleware (`docker stack deploy`) and nodes
    def stack_deploy(self, stack: str, compose_yaml: str, *, with_registry_auth: bool) -> str:
        """Deploy a checked compose file as the stack's services; returns the CLI's output."""
        ...

    def nodes(self) -> list[dict]: ...

    def local_node_id(self) -> str: ...


class MirrorPort(Protocol):
    """A git mirror of one app's repository. Unknown branches raise BranchNotFound, unknown or
    malformed commits GitError, files and contexts over their limit SpecError."""

    def fetch(self, branch: str) -> str:
        """Fetch the branch; returns its commit (40 hex digits)."""
        ...

    def describe(self, commit: str) -> CommitInfo: ...

    def read_file(self, commit: str, path: str, *, max_bytes: int = ...) -> str | None:
        """The file's text at the commit; None if it is not there."""
        ...

    def archive(self, commit: str, subdir: str = ".", *, max_bytes: int) -> AbstractContextManager[Path]:
        """A tar file of the commit's tree under subdir, removed after the block."""
        ...

    def unpacked(self, commit: str, subdir: str = ".", *, max_bytes: int) -> AbstractContextManager[Path]:
        """A folder holding exactly the commit's tree under subdir (a build context), removed after the block."""
        ...

    def pin(self, stack: str, commit: str) -> None: ...

    def unpin(self, stack: str) -> None: ...


class StorePort(Protocol):
    """The database, as the pipeline, the job runner and maintenance use it (stacks/store.py:
    frozen records out, conditional updates for every decision)."""

    # Stacks
    def get_stack(self, name: str) -> StackRecord | None: ...

    def require_stack(self, name: str) -> StackRecord: ...

    def list_stacks(self) -> list[StackRecord]: ...

    def require_room(self, owner: str, *, admin: bool, limits: StackLimits) -> None: ...

    def update_stack(self, name: str, **values: object) -> None: ...

    def claim_first_live(self, name: str) -> bool: ...

    def set_stack_state(self, name: str, state: str, *, only_from: tuple[str, ...] | None = None) -> bool: ...

    def mark_destroyed(self, name: str) -> None: ...

    def forget_stack(self, name: str) -> None: ...

    def images_in_use(self, *, except_stack: str | None = None) -> set[str]: ...

    def images_of(self, name: str) -> set[str]: ...

    def recent_images(self, app: str, *, limit: int = 3) -> list[str]: ...

    def change_env(self, stack: str, set_values: dict[str, str], unset: list[str], actor: str) -> list[str]: ...

    def get_env(self, stack: str) -> dict[str, str]: ...

    # Deployments and their steps
    def create_deployment(self, *, stack: str, app: str, branch: str, kind: str, actor: str, source: str,
                          create: bool, admin: bool = False,
                          limits: StackLimits | None = None) -> tuple[DeploymentRecord, bool]: ...

    def get_deployment(self, deployment_id: int) -> DeploymentRecord: ...

    def deployments(self, stack: str, limit: int = 10) -> list[DeploymentRecord]: ...

    def claim_deployment(self, deployment_id: int, runner: str) -> None: ...

    def start_deployment(self, deployment_id: int, runner: str) -> bool: ...

    def finish_deployment(self, deployment_id: int, state: str, **values: object) -> None: ...

    def set_deployment(self, deployment_id: int, **values: object) -> None: ...

    def start_step(self, deployment_id: int, name: str) -> int: ...

    def end_step(self, step_id: int, state: str, detail: str | None = None) -> None: ...

    # Runners and the per-stack lock queue
    def heartbeat(self, runner: str) -> None: ...

    def recover_interrupted(self, is_dead: Callable[[str | None, datetime | None], bool]) -> list[DeploymentRecord]: ...

    def try_lock(self, stack: str, deployment_id: int, holder: str, runner: str) -> LockRecord | None: ...

    def unlock(self, stack: str, deployment_id: int) -> None: ...

    # Idle stacks
    def warn_stack(self, name: str, at: datetime) -> bool: ...

    def unwarn_stack(self, name: str) -> bool: ...

    def keep_stack(self, name: str, until: datetime) -> None: ...

    def busy_stacks(self) -> set[str]: ...

    def active_kinds(self, name: str) -> set[str]: ...

    # Events
    def add_event(self, *, actor: str, source: str, action: str, stack: str | None, result: str,
                  detail: str | None = None) -> None: ...
