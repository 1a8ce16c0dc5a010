"""YADOCKERI_MAX_STACKS and YADOCKERI_MAX_STACKS_PER_OWNER (stacks/capacity.py), and the
summary `list --summary` shows, on a real database (SQLite, and PostgreSQL when
YADOCKERI_TEST_POSTGRES_URL is set). No Docker: a refusal comes before any Docker call, and
where a test needs the engine past its Docker checks they are stood in for and jobs are
recorded, never run."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from stacks.capacity import (
    Capacity,
    OwnedStack,
    StackCounts,
    StackLimits,
    installation_full,
    measure,
    owner_full,
    summary_lines,
)
from stacks.config import AppConfig, Settings, load_settings
from stacks.engine import Actor, Engine
from stacks.errors import ConfigError, DockerUnavailable, LimitReached
from stacks.models import Deployment, EnvVar, Stack
from stacks.pull_requests import GITHUB
from stacks.router_network import Addresses
from stacks.store import Store
from tests.support.engines import NO_DOCKER, engines_on, past_docker
from tests.support.helpers import run_cli
from tests.test_bot_support import RunningBot

ANN = Actor(id="U_ANN", source="slack")
BOB = Actor(id="U_BOB", source="slack")
ADMIN = Actor(id="U_ADMIN", source="slack", admin=True)
ANN_FULL = ("you already own 3 stacks, the most one person may (YADOCKERI_MAX_STACKS_PER_OWNER=3): akira (asleep), "
            "beta, gamma (asleep). Destroy one you no longer need (asleep ones first), for example `destroy akira`; "
            "an admin is not limited.")


# Engines on one database -----------------------------------------------------------------------
@pytest.fixture
def engines(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """make(**settings): an engine on the test's database, with no Docker to reach."""
    with engines_on(db_url, tmp_path) as make:
        yield make


def a_stack(engine: Engine, name: str, owner: str, *, asleep: bool = False, state: str = "running") -> None:
    engine.store.create_deployment(stack=name, app="app", branch="main", kind="deploy", actor=owner, source="slack",
                                   create=True)
    engine.store.update_stack(name, asleep=asleep, state="sleeping" if asleep else state)


def anns_three(engine: Engine) -> Engine:
    for name, asleep in (("gamma", True), ("beta", False), ("akira", True)):
        a_stack(engine, name, ANN.id, asleep=asleep)
    return engine


def rows(engine: Engine) -> tuple[int, int, int]:
    """(stacks, deployments, env vars) in the database."""
    return engine.store.count(Stack), engine.store.count(Deployment), engine.store.count(EnvVar)


# The per-person cap ----------------------------------------------------------------------------
def test_a_person_at_the_cap_is_refused_with_their_stacks_and_nothing_is_made(engines: Callable[..., Engine]) -> None:
    engine = anns_three(engines(max_stacks_per_owner=3))
    with pytest.raises(LimitReached) as refused:
        engine.deploy("delta", "main", ANN, env={"KEY": "value"})
    assert str(refused.value) == ANN_FULL
    assert engine.docker._swarm is None  # refused before any Docker call
    assert engine.store.get_stack("delta") is None and rows(engine) == (3, 3, 0)
    (event, *_) = engine.store.events("delta")
    assert (event.actor, event.action, event.result, event.detail) == (
        "U_ANN", "deploy", "refused", "limit YADOCKERI_MAX_STACKS_PER_OWNER=3")


def test_someone_else_and_an_admin_are_not_limited_by_anns_stacks(engines: Callable[..., Engine]) -> None:
    engine = anns_three(engines(max_stacks_per_owner=3))
    with pytest.raises(DockerUnavailable):  # past the caps: the Docker check is next
        engine.deploy("delta", "main", BOB)
    for name in ("a1", "a2", "a3"):
        a_stack(engine, name, ADMIN.id)
    past_docker(engine).deploy("a4", "main", ADMIN)  # an admin's 4th stack
    assert engine.store.require_stack("a4").owner == ADMIN.id


def test_pull_request_stacks_are_not_limited_per_owner_but_count_for_the_installation(
    engines: Callable[..., Engine],
) -> None:
    engine = past_docker(engines(max_stacks_per_owner=1, max_stacks=3))
    engine.deploy("pr-1", "pull/1/head", GITHUB)
    engine.deploy("pr-2", "pull/2/head", GITHUB)  # the github identity is not a person
    engine.deploy("mine", "main", ANN)
    with pytest.raises(LimitReached) as refused:
        engine.deploy("pr-3", "pull/3/head", GITHUB)
    assert refused.value.setting == "YADOCKERI_MAX_STACKS"
    assert [s.name for s in engine.list_stacks()] == ["mine", "pr-1", "pr-2"]


def test_a_cap_lowered_below_what_someone_owns_says_more_than(engines: Callable[..., Engine]) -> None:
    engine = engines(max_stacks_per_owner=1)
    for name in ("one", "two"):
        a_stack(engine, name, ANN.id)
    with pytest.raises(LimitReached) as refused:
        engine.deploy("three", "main", ANN)
    assert str(refused.value) == (
        "you already own 2 stacks, more than the 1 one person may (YADOCKERI_MAX_STACKS_PER_OWNER=1): one, two. "
        "Destroy one you no longer need, for example `destroy one`; an admin is not limited.")


def test_a_long_list_of_stacks_is_cut_and_one_awake_is_offered_when_none_sleeps() -> None:
    owned = [OwnedStack(f"s{n:02d}", asleep=False) for n in range(25)]
    said = str(owner_full(25, owned))
    assert "s18, s19 and 5 more. Destroy one you no longer need, for example `destroy s00`" in said
    assert "s20" not in said
    assert str(installation_full(1, 1, 0)) == ("yadockeri holds 1 stack, its most (YADOCKERI_MAX_STACKS=1); none of "
                                               "them is asleep: ask their owners or an admin to destroy some")


# The installation's cap ------------------------------------------------------------------------
def test_the_installation_cap_refuses_everyone_and_says_how_many_sleep(engines: Callable[..., Engine]) -> None:
    engine = engines(max_stacks=2)
    a_stack(engine, "akira", ANN.id, asleep=True)
    a_stack(engine, "beta", BOB.id)
    for actor in (ANN, ADMIN):  # an admin makes room by destroying; the cap is the swarm's
        with pytest.raises(LimitReached) as refused:
            engine.deploy("delta", "main", actor)
        assert str(refused.value) == ("yadockeri holds 2 stacks, its most (YADOCKERI_MAX_STACKS=2); 1 of them is "
                                      "asleep: ask their owners or an admin to destroy some")
    assert rows(engine)[:2] == (2, 2) and engine.docker._swarm is None
    assert [e.result for e in engine.store.events("delta")] == ["refused", "refused"]


def test_a_destroyed_stack_makes_room(engines: Callable[..., Engine]) -> None:
    engine = past_docker(engines(max_stacks=1))
    a_stack(engine, "akira", ANN.id)
    engine.store.mark_destroyed("akira")
    engine.deploy("beta", "main", ANN)
    assert engine.store.get_stack("beta") is not None


# What is never refused -------------------------------------------------------------------------
def test_redeploys_and_env_changes_of_existing_stacks_are_never_refused_at_the_caps(
    engines: Callable[..., Engine],
) -> None:
    engine = past_docker(anns_three(engines(max_stacks_per_owner=3, max_stacks=3)))
    engine.deploy("beta", "main", ANN)  # `deploy` of a stack that exists: built again
    engine.deploy("akira", "feature", ANN)  # moved to another branch
    engine.redeploy("gamma", ANN)
    changed, _ = engine.change_env("beta", {"KEY": "value"}, [], ANN)
    assert changed == ["KEY"]
    assert rows(engine)[:2] == (3, 7)
    assert not [e for e in engine.store.events(limit=100) if e.result == "refused"]


# Checked again where the stack is created ------------------------------------------------------
def test_a_stack_made_during_the_docker_checks_fills_the_cap_and_the_second_is_refused(
    engines: Callable[..., Engine],
) -> None:
    """Both deploys pass the engine's first check; the record's check, in its transaction, sees
    the stack the other one made meanwhile."""
    ann_engine = past_docker(engines(max_stacks=1))
    bob_engine = past_docker(engines(max_stacks=1), lambda: ann_engine.deploy("akira", "main", ANN))
    with pytest.raises(LimitReached):
        bob_engine.deploy("beta", "main", BOB, env={"KEY": "value"})
    assert [s.name for s in bob_engine.list_stacks()] == ["akira"] and rows(bob_engine) == (1, 1, 0)
    (event, *_) = bob_engine.store.events("beta")
    assert (event.actor, event.result, event.detail) == ("U_BOB", "refused", "limit YADOCKERI_MAX_STACKS=1")


def test_creations_at_once_from_several_processes_never_pass_the_cap(db_url: str) -> None:
    """Stores of their own (like processes), all asking at the same moment: exactly the cap is made."""
    key = Fernet(Fernet.generate_key())
    stores = [Store(db_url, key) for _ in range(6)]
    stores[0].sync_apps({"app": AppConfig(repo="/srv/app.git", default=True)})
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def create(store: Store, number: int) -> None:
        barrier.wait()
        try:
            store.create_deployment(stack=f"s{number}", app="app", branch="main", kind="deploy", actor=f"U{number}",
                                    source="slack", create=True, limits=StackLimits(max_stacks=2))
            outcomes.append("created")
        except LimitReached:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(store, n)) for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 4
        assert stores[0].count_stacks().total == 2
    finally:
        for store in stores:
            store.close()


# Counting ---------------------------------------------------------------------------------------
def test_stacks_are_counted_by_state_without_the_destroyed(engines: Callable[..., Engine]) -> None:
    engine = engines()
    a_stack(engine, "up", ANN.id)
    a_stack(engine, "down", ANN.id, asleep=True)
    a_stack(engine, "broken", BOB.id, state="failed")
    a_stack(engine, "new", BOB.id, state="deploying")
    a_stack(engine, "gone", BOB.id)
    engine.store.mark_destroyed("gone")
    assert engine.store.count_stacks() == StackCounts(total=4, running=1, asleep=1, failed=1)


# Settings ---------------------------------------------------------------------------------------
def test_the_caps_are_unset_by_default_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().max_stacks, Settings().max_stacks_per_owner) == (None, None)
    monkeypatch.setenv("YADOCKERI_MAX_STACKS", "1000")
    monkeypatch.setenv("YADOCKERI_MAX_STACKS_PER_OWNER", "5")
    assert StackLimits.of(load_settings()) == StackLimits(1000, 5)


@pytest.mark.parametrize("name", ["max_stacks", "max_stacks_per_owner"])
@pytest.mark.parametrize("value", [0, -3])
def test_a_cap_below_one_is_refused(name: str, value: int) -> None:
    given: dict[str, Any] = {name: value}
    with pytest.raises(ValidationError):
        Settings(**given)
    with pytest.raises(ConfigError) as refused:
        load_settings(**given)
    assert f"YADOCKERI_{name.upper()} must be at least 1, not {value} (leave it unset for no limit)" in str(refused.value)


# The summary ------------------------------------------------------------------------------------
ROUTER = Addresses("router", "172.16.0.0/19", 8189, 184)


def capacity(**changes: Any) -> Capacity:
    values: dict[str, Any] = dict(stacks=StackCounts(412, 180, 232, 0), max_stacks=1000, max_stacks_per_owner=5,
                                  router_network="router", router=ROUTER, router_error=None)
    values.update(changes)
    return Capacity(**values)


def test_the_summary_says_stacks_router_addresses_and_the_per_person_cap() -> None:
    assert summary_lines(capacity()) == [
        "stacks: 412 (180 running, 232 asleep) of at most 1000",
        "router network router (172.16.0.0/19): 184 of 8189 addresses taken, 8005 free",
        "per person: at most 5 stacks",
    ]


def test_the_summary_without_limits_with_failures_and_without_a_router_network() -> None:
    assert summary_lines(capacity(stacks=StackCounts(3, 1, 1, 1), max_stacks=None, max_stacks_per_owner=None,
                                  router=None)) == [
        "stacks: 3 (1 running, 1 asleep, 1 failed), no limit",
        "router network router: not made yet (`yadockeri router` makes it)",
        "per person: no limit",
    ]


def test_the_summary_when_docker_cannot_say() -> None:
    said = summary_lines(capacity(router=None, router_error="cannot reach the Docker daemon\n at x" + "!" * 300))
    assert said[1].startswith("router network router: unknown (Docker: cannot reach the Docker daemon at x!!!")
    assert said[1].endswith("…)") and len(said[1]) < 250
    assert said[0] == "stacks: 412 (180 running, 232 asleep) of at most 1000"  # the database still answers


class _Swarm:
    """What measure() asks of Docker: the router network, verbose."""

    def __init__(self, verbose: dict | None) -> None:
        self.verbose = verbose

    def network_verbose(self, name: str) -> dict | None:
        return self.verbose


def test_measure_reads_the_router_network_or_says_why_it_cannot() -> None:
    settings = Settings(max_stacks=10, router_network="rn")
    counts = StackCounts(2, 1, 1, 0)
    verbose = {"IPAM": {"Config": [{"Subnet": "172.16.0.0/28"}]}, "Services": {"web": {"Tasks": [{}, {}]}},
               "Peers": [{}]}
    assert measure(counts, settings, lambda: cast(Any, _Swarm(verbose))).router == Addresses("rn", "172.16.0.0/28", 13, 3)
    assert measure(counts, settings, lambda: cast(Any, _Swarm(None))) == Capacity(counts, 10, None, "rn", None, None)

    def unreachable() -> Any:
        raise DockerUnavailable("cannot reach the Docker daemon")

    assert measure(counts, settings, unreachable).router_error == "cannot reach the Docker daemon"


def test_the_engine_s_capacity_without_docker(engines: Callable[..., Engine]) -> None:
    engine = engines(max_stacks=10, max_stacks_per_owner=2)
    a_stack(engine, "akira", ANN.id, asleep=True)
    found = engine.capacity()
    assert (found.stacks, found.max_stacks, found.max_stacks_per_owner, found.router) == (
        StackCounts(1, 0, 1, 0), 10, 2, None)
    assert found.router_error is not None and "cannot reach the Docker daemon" in found.router_error


# Where the summary is shown ----------------------------------------------------------------------
def test_list_summary_on_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "YADOCKERI_DATA_DIR": str(tmp_path / "data"), "DOCKER_HOST": NO_DOCKER,
           "YADOCKERI_MAX_STACKS": "1000", "YADOCKERI_MAX_STACKS_PER_OWNER": "5", "YADOCKERI_ROUTER_NETWORK": "rn"}
    env.pop("YADOCKERI_CONFIG", None)
    shown = run_cli(["list", "--summary"], env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "stacks: 0 (0 running, 0 asleep) of at most 1000"
    assert lines[1].startswith("router network rn: unknown (Docker: cannot reach the Docker daemon")
    assert lines[2:] == ["per person: at most 5 stacks"]
    refused = run_cli(["list", "--summary=yes"], env)
    assert refused.returncode == 2 and "`--summary` takes no value" in refused.stderr


def test_slack_list_shows_the_summary_and_list_summary_only_the_summary(quiet_bot: RunningBot,
                                                                         quiet_engine: Engine) -> None:
    quiet_engine.store.create_deployment(stack="akira", app="demo", branch="main", kind="deploy", actor="U123",
                                         source="slack", create=True)
    _, response_url = quiet_bot.command("list")
    (answer,) = quiet_bot.answers(response_url)
    context = [b for b in answer["blocks"] if b["type"] == "context"]
    said = context[0]["elements"][0]["text"]
    assert said.startswith("stacks: 1 (0 running, 0 asleep), no limit · router network router: unknown (Docker: ")
    assert said.endswith(" · per person: no limit") and "akira" in str(answer["blocks"])
    _, response_url = quiet_bot.command("list --summary")
    (answer,) = quiet_bot.answers(response_url)
    assert "akira" not in str(answer["blocks"]) and "per person: no limit" in str(answer["blocks"])
    assert [name for name, _, _ in quiet_bot.engine_calls] == ["list_stacks", "capacity", "capacity"]


def test_a_deploy_refused_in_slack_says_why_to_the_asker_and_posts_nothing(quiet_bot: RunningBot,
                                                                         quiet_engine: Engine) -> None:
    quiet_engine.settings = quiet_engine.settings.model_copy(update={"max_stacks_per_owner": 1})
    quiet_engine.store.create_deployment(stack="akira", app="demo", branch="main", kind="deploy", actor="U123",
                                         source="slack", create=True)
    quiet_engine.store.update_stack("akira", asleep=True, state="sleeping")
    _, response_url = quiet_bot.command("deploy beta main")
    (answer,) = quiet_bot.answers(response_url)
    assert answer["text"] == (
        ":warning: you already own 1 stack, the most one person may (YADOCKERI_MAX_STACKS_PER_OWNER=1): akira (asleep). "
        "Destroy one you no longer need (asleep ones first), for example `destroy akira`; an admin is not limited.")
    assert quiet_bot.slack.calls("chat.postMessage") == [] and quiet_engine.store.get_stack("beta") is None
