"""yadockeri's connections to Docker: the manager's engine and, with YADOCKERI_BUILDER, the
engine images are built on. Connected on first use (so `yadockeri list` needs no Docker), logged
in to the registry when there is one, and dropped when a check finds Docker gone (the next use
connects again)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .config import Settings
from .errors import DockerUnavailable, YadockeriError

if TYPE_CHECKING:
    from .docker_adapter import Swarm


class DockerConnections:
    def __init__(self, settings: Settings, docker_host: str | None = None) -> None:
        self.settings = settings
        self._docker_host = docker_host
        self._swarm: Swarm | None = None
        self._builder: Swarm | None = None  # YADOCKERI_BUILDER's engine, when set
        self._swarm_lock = threading.Lock()

    @property
    def swarm(self) -> Swarm:
        with self._swarm_lock:
            if self._swarm is None:
                from .docker_adapter import Swarm

                swarm = Swarm.manager(self._docker_host)
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
                from .docker_adapter import Swarm, connect_builder

                client = connect_builder(self.settings.builder, self.settings.builder_tls,
                                         self.settings.data_dir / "builder-tls")
                builder = Swarm(client, self.settings.builder)
                if self.settings.builder_tls:  # the docker CLI (BuildKit builds) reads the same files
                    builder.tls_dir = self.settings.data_dir / "builder-tls"
                self._login(builder)
                self._builder = builder
            return self._builder

    def _login(self, engine: Swarm) -> None:
        """With a registry login, pushes and service creations carry it: any node pulls."""
        if self.settings.registry and self.settings.registry_username:
            password = self.settings.registry_password
            engine.login(self.settings.registry, self.settings.registry_username,
                         password.get_secret_value() if password else "")

    def check(self) -> None:
        """Fail now, with a clear message, if Docker is unreachable (before recording anything)."""
        try:
            self.swarm.ping()
        except YadockeriError as error:
            with self._swarm_lock:
                self._swarm = None  # the next use connects again
            if isinstance(error, DockerUnavailable):
                raise
            raise DockerUnavailable(f"cannot reach the Docker daemon: {error}") from None

    def require_registry(self) -> None:
        """The image can reach the nodes: a registry where one is needed, and the builder is up."""
        from .nodes import require_registry

        require_registry(self.swarm, self.settings)
        if self.settings.builder:  # an unreachable builder is refused up front
            self.builder.ping()

    def refuse_foreign_stack(self, stack: str) -> None:
        """A Docker stack of that name that yadockeri did not make is not ours to touch."""
        from .docker_adapter.labels import NAMESPACE_LABEL, STACK_LABEL

        foreign = [s for s in self.swarm.services(**{NAMESPACE_LABEL: stack})
                   if s["Spec"].get("Labels", {}).get(STACK_LABEL) != stack]
        if foreign:
            raise YadockeriError(f"a Docker stack named `{stack}` already exists and is not yadockeri's; pick another name")
