"""Fixtures: a real Docker engine and swarm, a real nginx router, a real database.

Everything a test session creates in Docker is named with one unique prefix and removed at the
end, also when tests fail. Tests never touch a real install's `router` network or port 80.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from stacks.config import AppConfig, Settings
from stacks.docker_adapter import Swarm
from stacks.engine import Actor, Engine
from tests.support.infra import SESSION_PREFIX, env_for_cli, free_port, free_subnet, purge, unique  # noqa: F401 (tests import them from here)
from tests.support.sample_app import SampleRepo
from tests.test_bot_support import bot, quiet_bot, quiet_engine, slack  # noqa: F401 (the bot tests' fixtures, for every test module)

POSTGRES_URL = os.environ.get("YADOCKERI_TEST_POSTGRES_URL")
# Fixtures that reach a Docker engine (infra, settings, make_settings and engine all use
# docker_client); a test that uses one, directly or through another, is a swarm test.
DOCKER_FIXTURES = frozenset({"docker_client", "docker_engine"})  # docker_engine: tests/contract's real engine


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: the marks added here count
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs Docker `swarm`, whether or not its module says so: then
    `-m "not swarm"` selects exactly the tests that run without Docker (and without the router)."""
    for item in items:
        if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.swarm)


# Docker ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env(timeout=600)
    try:
        client.ping()
    except Exception as error:  # noqa: BLE001 (any failure to reach the engine means no Docker)
        pytest.fail(f"these tests need a Docker engine and swarm (scripts/test.sh starts them): {error}")
    yield client
    purge(client, SESSION_PREFIX)
    client.close()


# Settings, router, engine -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def infra(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A router of this session: its own network, service, port and domains."""
    from stacks.router import ensure_router, remove_router

    values: dict[str, Any] = {
        "router_network": f"{SESSION_PREFIX}-router",
        "router_subnet": free_subnet(22),  # its own: another yadockeri on this engine may use the default
        "router_service": f"{SESSION_PREFIX}-router",
        "router_port": free_port(),
        "router_base_image": os.environ.get("YADOCKERI_ROUTER_BASE_IMAGE", "yadockeri/nginx-base:local"),
        "domain": "y.localhost,y2.localhost",
        "update_monitor": 2,
        "deploy_timeout": 90,
        "poll_interval": 0.2,
        # The router asks this session's status endpoint (on the docker_gwbridge gateway).
        "status_port": free_port(),
        "api_port": 0,  # tests that serve the API start it themselves, on a free port
        "reaper_interval": 1,
        "activity_flush": 0.5,
        # One router serves every test's engine (each with its own data folder): they share its token.
        "router_token": secrets.token_hex(32),
    }
    settings = Settings(data_dir=tmp_path_factory.mktemp("infra"), **values)
    ensure_router(Swarm(docker_client), settings)
    yield values
    remove_router(Swarm(docker_client), settings)


@pytest.fixture
def sample_repo(tmp_path: Path) -> SampleRepo:
    return SampleRepo(tmp_path / "app")


@pytest.fixture
def make_settings(infra: dict[str, Any], tmp_path: Path, sample_repo: SampleRepo) -> Callable[..., Settings]:
    """Settings for one test: its own data folder and database, the sample app under a unique name."""

    def make(**overrides: Any) -> Settings:
        app = overrides.pop("app_name", None) or unique("a")
        values = dict(infra)
        values.update(
            data_dir=tmp_path / "data",
            apps={app: AppConfig(repo=str(sample_repo.path), branch="main", default=True)},
            secret_key=None,
        )
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def engine(settings: Settings, docker_client: docker.DockerClient) -> Iterator[Engine]:
    engine = Engine(settings)
    engine.start()
    yield engine
    engine.close()
    for stack in engine_stacks(settings):
        purge(docker_client, stack)
    for app in settings.apps:
        purge(docker_client, app)


@contextmanager
def own_router(make_settings: Callable[..., Settings], client: docker.DockerClient, kind: str,
               **overrides: Any) -> Iterator[tuple[Engine, Settings]]:
    """An engine with a router of its own (service, port, network: give `router_subnet`), started;
    its stacks and the router removed afterwards, also when the test fails."""
    from stacks.router import ensure_router, remove_router

    name = unique(kind)
    settings = make_settings(router_network=f"{name}-net", router_service=f"{name}-router", router_port=free_port(),
                             **overrides)
    swarm = Swarm(client)
    engine = Engine(settings)
    try:
        ensure_router(swarm, settings)
        engine.start()
        yield engine, settings
    finally:
        engine.close()
        for stack in engine_stacks(settings):
            purge(client, stack)
        remove_router(swarm, settings)


def engine_stacks(settings: Settings) -> list[str]:
    from stacks.secrets import load_fernet
    from stacks.store import Store

    store = Store(settings.db_url, load_fernet(None, settings.data_dir))
    try:
        return [s.name for s in store.list_stacks()]
    finally:
        store.close()


CLI_ADMIN = Actor(id="cli:test", source="cli", admin=True)


# Databases ----------------------------------------------------------------------------------------
def _postgres_database() -> Iterator[str]:
    import psycopg

    name = f"{SESSION_PREFIX}_{uuid.uuid4().hex[:8]}"
    admin_url = POSTGRES_URL or ""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind; the store builds it with the migrations."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("YADOCKERI_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)")
    yield from _postgres_database()
