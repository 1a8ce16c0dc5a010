"""The pipeline's other jobs on the fakes: env changes, destroy, sleep and wake, and where the
parts of a stack live when the swarm has several nodes (stacks/nodes.py through the job)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stacks import pipeline
from stacks.errors import YadockeriError
from stacks.idle import Timing
from tests.fakes.swarm import Behaviour
from tests.fakes.world import World

VOLUME_MIDDLEWARE = """\
services:
  db:
    image: busybox:latest
    command: sleep 600
    volumes: [data:/data]
volumes:
  data: {}
"""
OTHER_NODE = "fakenode0worker000000002"


def deploy(world: World, stack: str = "akira") -> None:
    job = world.job(stack)
    pipeline.run_deploy(job)
    world.store.update_stack(stack, state="running")  # what the runner does after a deploy that worked


def env_of(world: World, service: str) -> list[str]:
    found = world.swarm.service(service)
    assert found is not None
    return found["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]


def with_volume_middleware(world: World) -> None:
    world.repo.commit("main", {".yadockeri.yml": "processes: {web: {command: a}}\nservices: mw.yml\n",
                               "mw.yml": VOLUME_MIDDLEWARE})


# env --------------------------------------------------------------------------------------------
def test_an_env_change_updates_the_processes_without_a_build(world: World) -> None:
    deploy(world)
    world.store.change_env("akira", {"GREETING": "from-env", "TOKEN": "s3cret"}, [], "U1")
    job = world.job(kind="env")
    assert pipeline.run_env(job) is True
    assert world.steps(job.deployment.id) == [("spec", "ok"), ("processes", "ok"), ("wait", "ok")]
    assert {"GREETING=from-env", "TOKEN=s3cret"} <= set(env_of(world, "akira_web"))
    assert len(world.swarm.builds) == 1 and job.updated_services == ["akira_web"]


def test_an_env_change_of_a_stack_never_deployed_waits_for_its_first_deploy(world: World) -> None:
    world.store.create_deployment(stack="akira", app="app", branch="main", kind="deploy", actor="U1", source="cli",
                                  create=True)
    job = world.job(kind="env")
    assert pipeline.run_env(job) is False
    assert world.steps(job.deployment.id) == [("processes", "skipped")] and world.swarm.calls == []


def test_an_env_change_reads_the_deployed_commit_even_after_the_branch_moved(world: World) -> None:
    deploy(world)
    world.repo.commit("main", {".yadockeri.yml": "processes: [broken]\n"})  # not fetched, not deployed
    job = world.job(kind="env")
    assert pipeline.run_env(job) is True
    assert world.steps(job.deployment.id)[0] == ("spec", "ok")


# destroy ----------------------------------------------------------------------------------------
def test_destroy_removes_services_networks_volumes_images_and_the_pin(world: World) -> None:
    with_volume_middleware(world)
    deploy(world)
    image = world.store.require_stack("akira").image
    assert "akira_data" in world.swarm.volume_names() and world.mirror.pinned("akira") is not None
    job = world.job(kind="destroy")
    pipeline.run_destroy(job)
    assert world.steps(job.deployment.id) == [("services", "ok"), ("cleanup", "ok")]
    assert world.swarm.services(**{"yadockeri.stack": "akira"}) == []
    assert world.swarm.containers(**{"yadockeri.stack": "akira"}) == []
    assert world.swarm.network("akira_default") is None and world.swarm.volume_names() == []
    assert image not in world.swarm.image_tags() and world.mirror.pinned("akira") is None
    detail = world.store.get_deployment(job.deployment.id).steps[1].detail
    assert detail == "1 networks, 1 volumes, 1 images removed"


def test_destroy_keeps_an_image_another_stack_runs(world: World) -> None:
    deploy(world, "akira")
    deploy(world, "bravo")  # the same commit: the same image
    image = world.store.require_stack("akira").image
    pipeline.run_destroy(world.job("akira", kind="destroy"))
    assert image in world.swarm.image_tags()
    assert world.swarm.service("bravo_web") is not None


def test_destroy_removes_what_a_finished_job_left(world: World) -> None:
    world.repo.commit("main", {".yadockeri.yml": "processes: {web: {command: a}}\nrelease: ./migrate\n"})
    deploy(world)
    world.swarm.create_job({**pipeline.specs.release_job_spec(
        stack="akira", app="app", image="busybox:latest", command="x", env={}, deployment_id=9,
        hardening=pipeline.specs.Hardening(cpus=1, memory_bytes=1 << 26, pids=10)), "name": "akira__left"})
    world.swarm.remove_service("akira__left")  # a killed run's job: its exited container stays
    assert world.swarm.containers(**{"yadockeri.stack": "akira"})
    pipeline.run_destroy(world.job(kind="destroy"))
    assert world.swarm.containers(**{"yadockeri.stack": "akira"}) == []


def test_a_network_docker_will_not_remove_fails_the_cleanup_step(world: World) -> None:
    deploy(world)
    world.swarm.fail_next("remove_networks", YadockeriError("Docker refused removing networks: network x is in use"))
    job = world.job(kind="destroy")
    with pytest.raises(YadockeriError, match="in use"):
        pipeline.run_destroy(job)
    assert world.steps(job.deployment.id) == [("services", "ok"), ("cleanup", "failed")]
    assert world.mirror.pinned("akira") is not None  # kept until a destroy finishes


# sleep and wake ---------------------------------------------------------------------------------
def test_sleep_scales_the_processes_to_zero_and_keeps_middleware(world: World) -> None:
    with_volume_middleware(world)
    deploy(world)
    world.store.update_stack("akira", last_activity_at=pipeline.utcnow() - timedelta(hours=3))
    job = world.job(kind="sleep")
    pipeline.run_sleep(job, Timing.of(world.settings))
    web, db = world.swarm.service("akira_web"), world.swarm.service("akira_db")
    assert web is not None and web["Spec"]["Mode"] == {"Replicated": {"Replicas": 0}}
    assert db is not None and db["Spec"]["Mode"] == {"Replicated": {"Replicas": 1}}
    assert not [t for t in world.swarm.tasks("akira_web") if t["Status"]["State"] == "running"]
    stack = world.store.require_stack("akira")
    assert (stack.asleep, stack.state) == (True, "sleeping")


@pytest.mark.parametrize(("changes", "said"), [
    ({"last_activity_at": "now"}, "not slept: used since the decision"),
    ({"state": "deploying"}, "not slept: the stack is deploying"),
    ({"asleep": True}, "not slept: the stack is running"),
])
def test_sleep_re_reads_the_stack_and_does_nothing_if_the_decision_went_stale(
    world: World, changes: dict[str, object], said: str,
) -> None:
    deploy(world)
    world.store.update_stack("akira", last_activity_at=pipeline.utcnow() - timedelta(hours=3))
    world.store.update_stack("akira", **{k: pipeline.utcnow() if v == "now" else v for k, v in changes.items()})
    job = world.job(kind="sleep")
    pipeline.run_sleep(job, Timing.of(world.settings))
    (step,) = world.store.get_deployment(job.deployment.id).steps
    assert (step.state, step.detail) == ("skipped", said)
    assert "scale" not in world.swarm.calls


def test_wake_brings_the_processes_back_and_waits_until_the_web_answers(world: World) -> None:
    deploy(world)
    world.store.update_stack("akira", last_activity_at=pipeline.utcnow() - timedelta(hours=3))
    pipeline.run_sleep(world.job(kind="sleep"), Timing.of(world.settings))
    world.router.requests.clear()
    job = world.job(kind="wake")
    pipeline.run_wake(job)
    assert [t["Status"]["State"] for t in world.swarm.tasks("akira_web") if t["DesiredState"] == "running"] == ["running"]
    assert ("akira.y.localhost", "/") in world.router.requests
    assert world.steps(job.deployment.id)[-1] == ("wait", "ok")


def test_waking_an_awake_stack_does_nothing(world: World) -> None:
    deploy(world)
    job = world.job(kind="wake")
    pipeline.run_wake(job)
    assert world.steps(job.deployment.id) == [("wake", "skipped")]


def test_a_wake_whose_web_no_longer_starts_fails_its_wait(world: World) -> None:
    deploy(world)
    world.store.update_stack("akira", last_activity_at=pipeline.utcnow() - timedelta(hours=3))
    pipeline.run_sleep(world.job(kind="sleep"), Timing.of(world.settings))
    world.swarm.behave("akira_web", Behaviour(exit_code=1))
    job = world.job(kind="wake")
    with pytest.raises(pipeline.DeployFailed, match="keeps exiting"):
        pipeline.run_wake(job)
    assert world.steps(job.deployment.id)[-1] == ("wait", "failed")


# Several nodes ----------------------------------------------------------------------------------
def test_middleware_with_volumes_is_pinned_to_the_node_with_fewest_stacks(world: World) -> None:
    world.swarm.add_node(OTHER_NODE, "worker-2")
    world.store.create_deployment(stack="bravo", app="app", branch="main", kind="deploy", actor="U1", source="cli",
                                  create=True)
    world.store.update_stack("bravo", node=world.swarm.node_id)  # the manager holds one stack's volumes
    with_volume_middleware(world)
    deploy(world)
    assert world.store.require_stack("akira").node == OTHER_NODE
    db = world.swarm.service("akira_db")
    assert db is not None and db["Spec"]["TaskTemplate"]["Placement"]["Constraints"] == [f"node.id == {OTHER_NODE}"]
    assert any("will live on node worker-2" in line for line in world.reporter.lines())


def test_a_stack_whose_volume_node_left_fails_its_spec_step(world: World) -> None:
    with_volume_middleware(world)
    deploy(world)
    world.store.update_stack("akira", node="fakenode0gone00000000003")
    job = world.job(kind="redeploy")
    with pytest.raises(YadockeriError, match="has left the swarm"):
        pipeline.run_deploy(job)
    assert world.steps(job.deployment.id) == [("fetch", "ok"), ("spec", "failed")]


def test_destroy_removes_volumes_on_their_node_with_a_job_there(world: World) -> None:
    world.swarm.add_node(OTHER_NODE, "worker-2")
    world.swarm.add_image(world.settings.image)  # the job runs yadockeri's own image
    with_volume_middleware(world)
    deploy(world)
    world.store.update_stack("akira", node=OTHER_NODE)
    world.swarm.behave("akira__volumes", Behaviour(logs=("removed akira_data",)))
    job = world.job(kind="destroy")
    pipeline.run_destroy(job)
    assert world.swarm.service("akira__volumes") is None  # the job ran and was removed
    detail = world.store.get_deployment(job.deployment.id).steps[1].detail
    assert detail is not None and ", 2 volumes," in detail  # the manager's copy and the node's


def test_a_failing_volume_job_fails_the_cleanup_step(world: World) -> None:
    world.swarm.add_node(OTHER_NODE, "worker-2")
    world.swarm.add_image(world.settings.image)
    deploy(world)
    world.store.update_stack("akira", node=OTHER_NODE)
    world.swarm.behave("akira__volumes", Behaviour(exit_code=1, logs=("failed akira_data: volume is in use",)))
    job = world.job(kind="destroy")
    with pytest.raises(YadockeriError, match="job akira__volumes failed"):
        pipeline.run_destroy(job)
    assert world.steps(job.deployment.id)[-1] == ("cleanup", "failed")


def test_a_volume_job_whose_image_is_missing_says_so(world: World) -> None:
    world.swarm.add_node(OTHER_NODE, "worker-2")
    deploy(world)
    world.store.update_stack("akira", node=OTHER_NODE)
    with pytest.raises(YadockeriError, match=r"job akira__volumes rejected \(No such image: yadockeri/yadockeri:latest\)"):
        pipeline.run_destroy(world.job(kind="destroy"))


def test_docker_failing_while_services_are_removed_fails_the_services_step(world: World) -> None:
    deploy(world)
    world.swarm.fail_next("remove_service", YadockeriError("Docker refused removing service akira_web: x"))
    job = world.job(kind="destroy")
    with pytest.raises(YadockeriError, match="refused removing service"):
        pipeline.run_destroy(job)
    assert world.steps(job.deployment.id) == [("services", "failed")]


def test_docker_failing_while_processes_are_scaled_down_fails_the_sleep_step(world: World) -> None:
    from stacks.errors import DockerUnavailable

    deploy(world)
    world.store.update_stack("akira", last_activity_at=pipeline.utcnow() - timedelta(hours=3))
    world.swarm.fail_next("scale", DockerUnavailable("cannot reach the Docker daemon while scaling akira_web"))
    job = world.job(kind="sleep")
    with pytest.raises(DockerUnavailable):
        pipeline.run_sleep(job, Timing.of(world.settings))
    assert world.steps(job.deployment.id) == [("sleep", "failed")]
    assert world.store.require_stack("akira").asleep is False  # it says asleep only once nothing runs
