"""Connections to Docker engines: the swarm manager yadockeri runs stacks on, a separate
builder engine (YADOCKERI_BUILDER), and the local engine a job on one node talks to."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import docker
import docker.tls
import requests
from docker.constants import MINIMUM_DOCKER_API_VERSION as MINIMUM_API_VERSION

from ..errors import DockerUnavailable
from .errors import reason

DOCKER_TIMEOUT = 600  # builds and pushes stream for a long time
LOCAL_TIMEOUT = 60


def docker_host(explicit: str | None = None) -> str:
    return explicit or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(docker_host_url: str | None = None) -> docker.DockerClient:
    """A client for the engine yadockeri manages; it must be a swarm manager."""
    host = docker_host(docker_host_url)
    try:
        client = docker.DockerClient(base_url=host, timeout=DOCKER_TIMEOUT)
        info = client.info()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as error:
        raise DockerUnavailable(
            f"cannot reach the Docker daemon at {host} ({reason(error)}); is dockerd running? "
            "scripts/setup.sh starts it"
        ) from None
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise DockerUnavailable(
            f"the Docker engine at {host} is not a swarm manager; run `docker swarm init` (scripts/setup.sh does)"
        )
    return client


def connect_local() -> docker.DockerClient:
    """The engine of this node, as its environment says (a job yadockeri runs on a node)."""
    return docker.from_env(timeout=LOCAL_TIMEOUT)


def connect_builder(url: str, tls: tuple[str, str, str] | None = None, tls_dir: Path | None = None) -> docker.DockerClient:
    """A client for the engine that builds images (YADOCKERI_BUILDER): any Docker engine, by a
    DOCKER_HOST URL; with `tls` (CA, certificate, key PEM texts) it is verified and we are too."""
    try:
        tls_config = _tls_config(tls, tls_dir) if tls else False
        # requests lets REQUESTS_CA_BUNDLE (set on many machines) win over a session's own CA, so
        # trust_env is off; and the API version is asked with it off too (not `auto`).
        probe = docker.APIClient(base_url=url, tls=tls_config, version=MINIMUM_API_VERSION, timeout=DOCKER_TIMEOUT)
        probe.trust_env = False
        version = probe.version(api_version=False)["ApiVersion"]
        client = docker.DockerClient(base_url=url, tls=tls_config, version=version, timeout=DOCKER_TIMEOUT)
        client.api.trust_env = False
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as error:
        raise DockerUnavailable(
            f"cannot reach the builder's Docker engine at {url} (YADOCKERI_BUILDER): {reason(error)}"
        ) from None
    return client


def _tls_config(tls: tuple[str, str, str], folder: Path | None) -> docker.tls.TLSConfig:
    """docker-py reads certificates from files: write them, private, where only we look."""
    folder = folder or Path(tempfile.mkdtemp(prefix="yadockeri-builder-tls-"))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca, cert, key = (write_private(str(folder / name), text)
                     for name, text in zip(("ca.pem", "cert.pem", "key.pem"), tls, strict=True))
    return docker.tls.TLSConfig(ca_cert=ca, client_cert=(cert, key), verify=True)


def write_private(path: str, text: str) -> str:
    """Write a file only its owner may read (mode 600 from its creation on); returns its path."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
