"""Maintenance (stacks/maintenance.py) on the fakes: the idle pass acting on stacks/idle.py's
decisions (sleep, warn, unwarn, reap), wake and keep, and garbage collection."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from stacks.errors import DockerUnavailable, PermissionDenied
from stacks.idle import FOREVER
from stacks.limits import parse_size
from stacks.maintenance import Maintenance
from stacks.models import utcnow
from stacks.runner import Actor, JobRunner
from tests.fakes.swarm import FakeSwarm
from tests.fakes.world import APP, World, eventually


def kept_cache(world: World) -> tuple[int, int]:
    """What garbage collection asks of a builder's cache: its age and size limits."""
    return world.settings.build_cache_max_age, parse_size(world.settings.build_cache_max_size)

ANN = Actor(id="U_ANN", source="slack")
ADMIN = Actor(id="U_ADMIN", source="slack", admin=True)
WAIT = 10


@pytest.fixture
def runner(world: World) -> JobRunner:
    return world.runner()


@pytest.fixture
def maintenance(world: World, runner: JobRunner) -> Maintenance:
    return world.maintenance(runner)


def deployed(world: World, runner: JobRunner, stack: str = "akira") -> None:
    handle = runner.submit(stack, APP, "main", "deploy", ANN, None, create=True)
    assert handle.wait(WAIT).state == "succeeded"
    handle.done.result(WAIT)


def idle_for(world: World, stack: str, idle: timedelta) -> datetime:
    """Make the stack's last activity `idle` ago; returns now."""
    now = utcnow()
    world.store.update_stack(stack, last_activity_at=now - idle)
    return now


def settled(world: World, stack: str = "akira") -> None:
    """Until the jobs the pass started have ended and freed the stack."""
    eventually(lambda: not world.store.busy_stacks() and world.store.lock_holder(stack) is None, "jobs ended")


def replicas(world: World, service: str) -> int:
    found = world.swarm.service(service)
    assert found is not None
    return found["Spec"]["Mode"]["Replicated"]["Replicas"]


# The idle pass --------------------------------------------------------------------------------------
def test_an_idle_stack_is_put_to_sleep_once(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    deployed(world, runner)
    now = idle_for(world, "akira", timedelta(hours=3))
    assert [(a.kind, a.stack) for a in maintenance.idle_pass(now)] == [("sleep", "akira")]
    settled(world)
    assert replicas(world, "akira_web") == 0
    stack = world.store.require_stack("akira")
    assert (stack.state, stack.asleep) == ("sleeping", True)
    assert world.event_kinds() == ["created", "slept"]
    assert maintenance.idle_pass(now) == []


def test_a_stack_used_after_the_decision_is_not_slept(world: World, runner: JobRunner,
                                                      maintenance: Maintenance) -> None:
    deployed(world, runner)
    later = utcnow() + timedelta(hours=3)  # the pass decided on a clock that ran ahead of the job's
    assert [a.kind for a in maintenance.idle_pass(later)] == ["sleep"]
    settled(world)
    assert replicas(world, "akira_web") == 1 and world.store.require_stack("akira").asleep is False
    (sleep, _) = world.store.deployments("akira", limit=2)
    assert (sleep.kind, sleep.state, sleep.steps[0].detail) == ("sleep", "succeeded", "not slept: used since the decision")
    assert world.event_kinds() == ["created"]


def test_an_idle_week_warns_then_a_day_later_reaps(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    deployed(world, runner)
    now = idle_for(world, "akira", timedelta(days=8))
    assert [a.kind for a in maintenance.idle_pass(now)] == ["warn"]
    assert world.store.require_stack("akira").state == "warned"
    assert maintenance.idle_pass(now + timedelta(hours=1)) == []  # warned: a day to answer
    assert [a.kind for a in maintenance.idle_pass(now + timedelta(days=1, seconds=1))] == ["reap"]
    settled(world)
    assert world.store.get_stack("akira") is None
    assert world.swarm.services(**{"yadockeri.stack": "akira"}) == [] and world.swarm.network("akira_default") is None
    assert world.event_kinds() == ["created", "warned", "reaped"]


def test_a_warned_stack_used_again_is_unwarned(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    deployed(world, runner)
    now = idle_for(world, "akira", timedelta(days=8))
    maintenance.idle_pass(now)
    world.store.update_stack("akira", last_activity_at=now + timedelta(minutes=5))  # a request came
    assert [a.kind for a in maintenance.idle_pass(now + timedelta(minutes=10))] == ["unwarn"]
    assert world.store.require_stack("akira").state == "running"
    assert [e.action for e in world.store.events("akira")][:2] == ["unwarn", "warn"]


def test_a_kept_stack_is_neither_slept_nor_warned(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    deployed(world, runner)
    maintenance.keep("akira", ANN, seconds=30 * 86400)
    assert maintenance.idle_pass(utcnow() + timedelta(days=8)) == []
    assert world.event_kinds() == ["created", "kept"]


def test_a_stack_with_a_deployment_in_line_is_left_alone(world: World, runner: JobRunner,
                                                          maintenance: Maintenance) -> None:
    deployed(world, runner)
    world.store.create_deployment(stack="akira", app=APP, branch="main", kind="redeploy", actor="U1", source="cli",
                                  create=False)  # queued: its runner will take it
    assert maintenance.idle_pass(utcnow() + timedelta(days=30)) == []


def test_a_destroy_cut_short_is_finished(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    deployed(world, runner)
    world.store.set_stack_state("akira", "destroying")
    assert [a.kind for a in maintenance.idle_pass(utcnow())] == ["reap"]
    settled(world)
    assert world.store.get_stack("akira") is None


# Wake and keep --------------------------------------------------------------------------------------
def asleep(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    deployed(world, runner)
    maintenance.idle_pass(idle_for(world, "akira", timedelta(hours=3)))
    settled(world)
    assert world.store.require_stack("akira").asleep


def test_wake_brings_a_sleeping_stack_back_once(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    asleep(world, runner, maintenance)
    handle = maintenance.wake("akira", ANN)
    assert handle is not None
    assert maintenance.wake("akira", ANN) is None  # a second request while it wakes
    assert handle.wait(WAIT).state == "succeeded"
    settled(world)
    assert replicas(world, "akira_web") == 1
    stack = world.store.require_stack("akira")
    assert (stack.state, stack.asleep) == ("running", False)
    assert world.event_kinds()[-1] == "woke"
    assert maintenance.wake("akira", ANN) is None and maintenance.wake("nobody", ANN) is None


def test_keep_wakes_a_sleeping_stack(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    asleep(world, runner, maintenance)
    until = maintenance.keep("akira", ANN, seconds=3600)
    assert until > utcnow()
    settled(world)
    assert world.store.require_stack("akira").asleep is False
    assert world.event_kinds()[-2:] == ["kept", "woke"]


def test_only_an_admin_keeps_a_stack_forever(world: World, runner: JobRunner, maintenance: Maintenance) -> None:
    deployed(world, runner)
    with pytest.raises(PermissionDenied):
        maintenance.keep("akira", ANN, forever=True)
    assert maintenance.keep("akira", ADMIN, forever=True) == FOREVER


# Garbage collection ---------------------------------------------------------------------------------
def test_garbage_collection_removes_old_images_no_stack_runs(world: World, runner: JobRunner,
                                                             maintenance: Maintenance) -> None:
    deployed(world, runner)
    in_use = world.store.require_stack("akira").image
    day_ago = time.time() - 86400
    world.swarm.add_image("yadockeri/app:old", {"yadockeri.app": APP}, created=day_ago)
    world.swarm.add_image("yadockeri/app:young", {"yadockeri.app": APP})  # a build in flight, maybe
    world.swarm.add_image("yadockeri/other:old", {"yadockeri.app": "other"}, created=day_ago)  # not our app
    assert maintenance.collect_garbage() == ["yadockeri/app:old"]
    assert in_use in world.swarm.image_tags()
    assert {"yadockeri/app:young", "yadockeri/other:old"} <= set(world.swarm.image_tags())
    assert world.swarm.pruned == [kept_cache(world)]


def test_garbage_collection_goes_on_when_the_builder_is_down(new_world: Callable[..., World]) -> None:
    world = new_world(builder="tcp://builder.example:2376", registry="registry.example:5000")
    world.builder = FakeSwarm(registry=world.swarm.registry)
    world.builder.fail_next("images", DockerUnavailable("cannot reach the builder's Docker engine"))
    maintenance = world.maintenance(world.runner())
    world.swarm.add_image("registry.example:5000/yadockeri/app:young", {"yadockeri.app": APP})
    assert maintenance.collect_garbage() == []
    assert world.swarm.pruned == [kept_cache(world)] and world.builder.pruned == []
