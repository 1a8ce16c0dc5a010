"""Fixtures of the Docker-free unit tests: a World of fakes (tests/fakes/world.py) per test, on
the session's store (its database emptied for every test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.store import Databases
from tests.fakes.world import World, make_world


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    made = Databases(tmp_path_factory.mktemp("databases"))
    yield made
    made.close()


@pytest.fixture
def new_world(tmp_path: Path, databases: Databases) -> Iterator[Callable[..., World]]:
    """Make the test's World with other settings (one World a test: they share the store)."""
    made: list[World] = []

    def make(**overrides: Any) -> World:
        assert not made, "one World a test"
        made.append(make_world(tmp_path, databases, **overrides))
        return made[0]

    yield make
    for world in made:
        world.close()


@pytest.fixture
def world(new_world: Callable[..., World]) -> World:
    return new_world()
