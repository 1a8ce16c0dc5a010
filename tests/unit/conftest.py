"""Fixtures of the Docker-free unit tests: a World of fakes (tests/fakes/world.py) per test,
its database copied from one migrated once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.store import template_database
from tests.fakes.world import World, make_world


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_database(tmp_path_factory.mktemp("template-db"))


@pytest.fixture
def world(tmp_path: Path, template_db: Path) -> Iterator[World]:
    made = make_world(tmp_path, template_db)
    yield made
    made.close()
