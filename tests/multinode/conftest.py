"""Fixtures of the multi-node tests: a separate two-node swarm with a real registry
(tests/support/multinode/, made for the session and removed after it, also on failure), an
engine and router on it, and the yadockeri image built there with no network."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from pydantic import SecretStr

from stacks.config import AppConfig, Settings
from stacks.docker_adapter import Swarm
from stacks.engine import Engine
from stacks.install import Installer
from tests.conftest import SESSION_PREFIX, purge, unique
from tests.support.helpers import wait_until
from tests.support.multinode import (
    MANAGER_ADDR,
    Cluster,
    build_yadockeri_image,
    ensure_base_image,
    make_cli_image,
    make_wheelhouse,
)
from tests.support.sample_app import SampleRepo

ROUTER_PORT = 8071  # on the cluster's own nodes; the install test's router uses another
# The cluster's router serves every test engine (each with its own data folder): they share its token.
ROUTER_TOKEN = secrets.token_hex(32)


@pytest.fixture(scope="session")
def cluster(docker_client: docker.DockerClient) -> Iterator[Cluster]:
    started = time.monotonic()
    made = Cluster().up()
    print(f"\nmulti-node cluster up in {time.monotonic() - started:.0f}s")
    try:
        yield made
    finally:
        made.down()


@dataclass(frozen=True)
class BuiltImage:
    tag: str  # on the cluster's manager
    image_id: str
    seconds: float  # the docker build alone
    log: list[str]


@pytest.fixture(scope="session")
def yadockeri_image(cluster: Cluster) -> BuiltImage:
    """The top-level Dockerfile built on the cluster's manager with `--network none`, from a
    Debian base made with debootstrap (kept between runs) and a wheelhouse made on the host."""
    base = ensure_base_image()
    cluster.load_images((base,))
    cli = make_cli_image(cluster.manager)
    make_wheelhouse()
    tag = f"yadockeri/yadockeri:{SESSION_PREFIX}"
    started = time.monotonic()
    image_id, log = build_yadockeri_image(cluster.manager, base=base, cli=cli, tag=tag)
    return BuiltImage(tag, image_id, time.monotonic() - started, log)


def cluster_settings(cluster: Cluster, data_dir: Path, **values: Any) -> Settings:
    """Settings of a yadockeri that manages the cluster from this host (a test engine)."""
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "router_network": f"{SESSION_PREFIX}-router",
        "router_service": f"{SESSION_PREFIX}-router",
        "router_port": ROUTER_PORT,
        "router_url": f"http://{MANAGER_ADDR}:{ROUTER_PORT}",
        "router_base_image": "yadockeri/nginx-base:local",
        "domain": "y.localhost",
        "registry": cluster.registry,
        "registry_username": cluster.registry_user,
        "registry_password": SecretStr(cluster.registry_password),
        "update_monitor": 2,
        "deploy_timeout": 120,
        "poll_interval": 0.2,
        # The cluster's nodes are network namespaces of their own: this host's packet filter
        # (the main session's, tests/conftest.py) is not theirs to change.
        "firewall": False,
        "router_token": SecretStr(ROUTER_TOKEN),
    }
    base.update(values)
    return Settings(**base)


@pytest.fixture(scope="session")
def cluster_router(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A router on every node of the cluster (its image pushed to the registry, as install does)."""
    settings = cluster_settings(cluster, tmp_path_factory.mktemp("mn-router"))
    swarm = Swarm.manager(cluster.manager.docker_host)
    swarm.login(cluster.registry, cluster.registry_user, cluster.registry_password)
    Installer(swarm, settings, say=lambda line: None).router_up()
    yield settings
    from stacks.router import remove_router

    remove_router(swarm, settings)


@pytest.fixture
def mn_engine(cluster: Cluster, cluster_router: Settings, tmp_path: Path) -> Iterator[tuple[Engine, Settings, SampleRepo]]:
    repo = SampleRepo(tmp_path / "app")
    settings = cluster_settings(cluster, tmp_path / "data", apps={unique("a"): AppConfig(repo=str(repo.path))})
    engine = Engine(settings, docker_host=cluster.manager.docker_host)
    engine.start()
    try:
        yield engine, settings, repo
    finally:
        stacks = [s.name for s in engine.store.list_stacks()]  # a failed test's stacks, which hold the router network
        engine.close()
        for node in ("manager", "worker"):
            cluster.set_availability(node, "active")
        for stack in stacks:
            purge(cluster.manager.client(), stack)


def wait_for(predicate, timeout: float = 90, what: str = "condition"):
    """The predicate's first true value, asked every half second (Docker calls, mostly)."""
    return wait_until(predicate, timeout, 0.5, what=what)
