"""The owner/branch race through the engine (issue 18 item 6), on SQLite and PostgreSQL.

Engine.deploy checks who owns the stack, then makes its Docker calls, then records the
deployment. Another engine (another process) may create or move the stack in between; the
check is repeated where the deployment is recorded. Docker is not needed: the Docker checks
are where the other engine's deploy is made to happen, and jobs are recorded but not run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stacks.engine import Actor, Engine
from stacks.errors import InvalidName, PermissionDenied
from tests.support.engines import engines_on, past_docker

ANN = Actor(id="U_ANN", source="slack")
BOB = Actor(id="U_BOB", source="slack")
ADMIN = Actor(id="U_ADMIN", source="cli", admin=True)
MOVE_REFUSED = "only the owner of `akira` (<U_ANN>) or an admin may move `akira` to another branch"


@pytest.fixture
def engines(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """make(during_docker_checks): an engine past its Docker checks, on the test's database."""
    with engines_on(db_url, tmp_path) as make:
        yield lambda during_docker_checks=None: past_docker(make(), during_docker_checks)


def test_a_stack_created_during_the_docker_checks_is_not_deployed_from_another_branch(
    engines: Callable[..., Engine],
) -> None:
    ann_engine = engines()
    bob_engine = engines(lambda: ann_engine.deploy("akira", "feature-ann", ANN))  # Ann wins the race
    with pytest.raises(PermissionDenied) as refused:
        bob_engine.deploy("akira", "feature-bob", BOB)
    assert str(refused.value) == MOVE_REFUSED
    stack = ann_engine.store.require_stack("akira")
    assert (stack.owner, stack.branch) == ("U_ANN", "feature-ann")
    assert [d.branch for d in ann_engine.store.deployments("akira")] == ["feature-ann"]
    (event, *_) = ann_engine.store.events("akira")
    assert (event.actor, event.result, event.detail) == ("U_BOB", "refused", "not owner or admin")


def test_a_stack_created_meanwhile_on_the_same_branch_is_just_built_again(engines: Callable[..., Engine]) -> None:
    ann_engine = engines()
    bob_engine = engines(lambda: ann_engine.deploy("akira", "main", ANN))
    handle = bob_engine.deploy("akira", "main", BOB)
    assert handle.deployment.branch == "main" and bob_engine.store.require_stack("akira").owner == "U_ANN"


def test_a_stack_moved_during_a_redeploy_is_not_moved_back(engines: Callable[..., Engine]) -> None:
    ann_engine = engines()
    ann_engine.deploy("akira", "main", ANN)
    def moved() -> None:  # Ann's deploy of `feature` succeeded meanwhile
        ann_engine.store.update_stack("akira", branch="feature")

    bob_engine = engines(moved)
    with pytest.raises(PermissionDenied, match="may move `akira` to another branch"):
        bob_engine.redeploy("akira", BOB)  # Bob read `main`; the stack is on `feature` now
    admin_engine = engines()
    assert admin_engine.redeploy("akira", ADMIN).deployment.branch == "feature"


def test_admins_and_owners_still_move_stacks(engines: Callable[..., Engine]) -> None:
    ann_engine = engines()
    ann_engine.deploy("akira", "main", ANN)
    assert ann_engine.deploy("akira", "feature", ANN).deployment.branch == "feature"
    assert engines().deploy("akira", "other", ADMIN).deployment.branch == "other"


@pytest.mark.parametrize("value", ["a\x00b", "x\udc80"])
def test_env_values_with_nul_or_surrogates_are_refused_before_anything_is_stored(
    engines: Callable[..., Engine], value: str,
) -> None:
    engine = engines()
    engine.deploy("akira", "main", ANN)
    with pytest.raises(InvalidName) as refused:
        engine.change_env("akira", {"TOKEN": value}, [], ANN)
    assert "`TOKEN`" in str(refused.value) and value not in str(refused.value)
    assert engine.store.get_env("akira") == {}
