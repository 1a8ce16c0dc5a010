"""Engines on a test's database with no Docker to reach: for the engine's checks and records
(owner races, stack limits) where a job never needs to run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stacks.config import AppConfig, Settings
from stacks.engine import Engine

NO_DOCKER = "unix:///nonexistent/docker.sock"  # what asks Docker hears it is not there


def past_docker(engine: Engine, during_docker_checks: Callable[[], object] | None = None) -> Engine:
    """The engine's Docker checks stood in for (`during_docker_checks` runs where it would call
    Docker); jobs are recorded, never run."""
    def docker_checks() -> None:
        if during_docker_checks is not None:
            during_docker_checks()

    engine.check_docker = docker_checks  # type: ignore[method-assign]  # no Docker here
    engine._require_router = lambda: None  # type: ignore[method-assign]  # no router here
    engine._require_registry = lambda: None  # type: ignore[method-assign]  # no registry here
    engine._refuse_foreign_stack = lambda stack: None  # type: ignore[method-assign]  # no swarm here
    engine._require_router_address = lambda: None  # type: ignore[method-assign]  # no router network here
    engine.jobs._pool.submit = lambda *args, **kwargs: Future()  # type: ignore[method-assign]  # never run
    return engine


@contextmanager
def engines_on(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """make(**settings): an engine on this database (one app, `app`), closed at the end."""
    made: list[Engine] = []

    def make(**overrides: Any) -> Engine:
        settings = Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=None,
                            apps={"app": AppConfig(repo=str(tmp_path / "repo"), branch="main", default=True)},
                            **overrides)
        engine = Engine(settings, docker_host=NO_DOCKER)
        engine.store.sync_apps(settings.apps)
        made.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in made:
            engine.close()
