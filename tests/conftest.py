"""Fixtures: a real Docker engine and swarm, a real nginx router, a real database.

Everything a test session creates in Docker is named with one unique prefix and removed at the
end, also when tests fail. Tests never touch a real install's `router` network or port 80.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import yaml

from stacks.config import AppConfig, Settings
from stacks.engine import Actor, Engine
from tests.support.sample_app import SampleRepo

SESSION_PREFIX = "t" + secrets.token_hex(3)
POSTGRES_URL = os.environ.get("YADOCKERI_TEST_POSTGRES_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def unique(kind: str = "") -> str:
    """A name no other test (or session) uses: a valid stack name, app name and Docker name."""
    return f"{SESSION_PREFIX}{kind}{secrets.token_hex(2)}"


# Docker ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env(timeout=600)
    try:
        client.ping()
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"these tests need a Docker engine and swarm (scripts/test.sh starts them): {error}")
    yield client
    purge(client, SESSION_PREFIX)
    client.close()


def purge(client: docker.DockerClient, prefix: str) -> None:
    """Remove every Docker object whose stack label or name starts with prefix."""
    api = client.api
    for service in api.services():
        labels = service["Spec"].get("Labels", {})
        if service["Spec"]["Name"].startswith(prefix) or labels.get("yadockeri.stack", "").startswith(prefix):
            _quietly(api.remove_service, service["ID"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        c["Labels"].get("com.docker.swarm.service.name", "").startswith(prefix) for c in api.containers(all=True)
    ):
        time.sleep(0.5)
    for network in api.networks():
        if network["Name"].startswith(prefix):
            _quietly(api.remove_network, network["Id"])
    for volume in api.volumes().get("Volumes") or []:
        if volume["Name"].startswith(prefix):
            _quietly(api.remove_volume, volume["Name"])
    for config in api.configs():
        if config["Spec"]["Name"].startswith(prefix):
            _quietly(api.remove_config, config["ID"])
    for image in api.images():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(f"yadockeri/{prefix}"):
                _quietly(api.remove_image, tag, force=True)


def _quietly(action, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    try:
        action(*args, **kwargs)
    except docker.errors.APIError:
        pass


# Settings, router, engine -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def infra(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A router of this session: its own network, service, port and domains."""
    from stacks.router import ensure_router, remove_router

    values = {
        "router_network": f"{SESSION_PREFIX}-router",
        "router_service": f"{SESSION_PREFIX}-router",
        "router_port": free_port(),
        "router_base_image": os.environ.get("YADOCKERI_ROUTER_BASE_IMAGE", "yadockeri/nginx-base:local"),
        "domain": "y.localhost,y2.localhost",
        "update_monitor": 2,
        "deploy_timeout": 90,
        "poll_interval": 0.2,
        # The router asks this session's status endpoint (on the docker_gwbridge gateway).
        "status_port": free_port(),
        "reaper_interval": 1,
        "activity_flush": 0.5,
        # One router serves every test's engine (each with its own data folder): they share its token.
        "router_token": secrets.token_hex(32),
    }
    settings = Settings(data_dir=tmp_path_factory.mktemp("infra"), **values)
    ensure_router(docker_client, settings)
    yield values
    remove_router(docker_client, settings)


@pytest.fixture
def sample_repo(tmp_path: Path) -> SampleRepo:
    return SampleRepo(tmp_path / "app")


@pytest.fixture
def make_settings(infra: dict, tmp_path: Path, sample_repo: SampleRepo):  # type: ignore[no-untyped-def]
    """Settings for one test: its own data folder and database, the sample app under a unique name."""

    def make(**overrides: object) -> Settings:
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
def settings(make_settings) -> Settings:  # type: ignore[no-untyped-def]
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


def engine_stacks(settings: Settings) -> list[str]:
    from stacks.secrets import load_fernet
    from stacks.store import Store

    store = Store(settings.db_url, load_fernet(None, settings.data_dir))
    try:
        return [s.name for s in store.list_stacks()]
    finally:
        store.close()


def env_for_cli(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The same settings as environment variables plus a yadockeri.yml, for a `yadockeri` process."""
    config = tmp_path / "yadockeri.yml"
    config.write_text(yaml.safe_dump({"apps": {n: a.model_dump() for n, a in settings.apps.items()}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("YADOCKERI_")}
    env.update({
        "YADOCKERI_CONFIG": str(config),
        "YADOCKERI_DATA_DIR": str(settings.data_dir),
        "YADOCKERI_DOMAIN": settings.domain,
        "YADOCKERI_ROUTER_NETWORK": settings.router_network,
        "YADOCKERI_ROUTER_SERVICE": settings.router_service,
        "YADOCKERI_ROUTER_PORT": str(settings.router_port),
        "YADOCKERI_ROUTER_BASE_IMAGE": settings.router_base_image,
        "YADOCKERI_UPDATE_MONITOR": str(settings.update_monitor),
        "YADOCKERI_DEPLOY_TIMEOUT": str(settings.deploy_timeout),
        "YADOCKERI_POLL_INTERVAL": str(settings.poll_interval),
        "YADOCKERI_STATUS_PORT": str(settings.status_port),
        "YADOCKERI_REAPER_INTERVAL": str(settings.reaper_interval),
        "YADOCKERI_ACTIVITY_FLUSH": str(settings.activity_flush),
        "YADOCKERI_ROUTER_TOKEN": settings.router_token.get_secret_value() if settings.router_token else "",
        "YADOCKERI_SLEEP_AFTER": str(settings.sleep_after),
        "YADOCKERI_REAP_AFTER": str(settings.reap_after),
        "YADOCKERI_REAP_WARNING": str(settings.reap_warning),
    })
    if settings.database_url:
        env["YADOCKERI_DATABASE_URL"] = settings.database_url
    return env


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
