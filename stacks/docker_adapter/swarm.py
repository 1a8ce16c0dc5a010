"""Swarm: the one object the engine talks to Docker through (services, resources, images and
the docker CLI), over one SDK client. Specs come in as plain dicts built by specs.py."""

from __future__ import annotations

from pathlib import Path

import docker

from .buildkit import BuildKit
from .cli import Cli
from .connect import connect, connect_local, docker_host
from .images import Images
from .labels import NAMESPACE_LABEL, STACK_LABEL
from .resources import Resources
from .services import Services


class Swarm(Services, Resources, Images, BuildKit, Cli):
    """Operations on one swarm (or one engine), by name and label."""

    def __init__(self, client: docker.DockerClient, host: str | None = None) -> None:
        self.client = client
        self.api = client.api
        self.host = host or client.api.base_url  # for the docker CLI: the same engine as the SDK
        self.registry_auth: tuple[str, str, str] | None = None  # (registry, username, password) after login()
        self.tls_dir: Path | None = None  # ca.pem, cert.pem, key.pem for the CLI, when the SDK uses TLS

    @classmethod
    def manager(cls, docker_host_url: str | None = None) -> Swarm:
        """The swarm manager at DOCKER_HOST (or that URL); refused unless it is one."""
        return cls(connect(docker_host_url), docker_host(docker_host_url))

    @classmethod
    def local(cls) -> Swarm:
        """This node's engine (a job on one node)."""
        return cls(connect_local())

    def stack_services(self, stack: str) -> list[dict]:
        return self.services(**{NAMESPACE_LABEL: stack, STACK_LABEL: stack})

    def close(self) -> None:
        self.client.close()
