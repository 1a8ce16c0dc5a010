"""The job runner (stacks/runner.py) on the fakes: the per-stack lock queue, what a job's outcome
does to its stack, rollback, and the recovery of jobs whose runner died."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from stacks import pipeline
from stacks.models import utcnow
from stacks.progress import RecordingReporter, Reporter
from stacks.runner import SCHEDULER, Actor, JobHandle, JobRunner
from stacks.store import DeploymentRecord, LockRecord, StackRecord
from tests.fakes.swarm import Behaviour
from tests.fakes.world import APP, World, eventually

ANN = Actor(id="U_ANN", source="slack")
WAIT = 10  # seconds: the fakes answer at once; a handle not done by then never will be


def submit(runner: JobRunner, stack: str, kind: str = "deploy", branch: str = "main",
           reporter: Reporter | None = None, actor: Actor = ANN) -> JobHandle:
    return runner.submit(stack, APP, branch, kind, actor, reporter, create=kind == "deploy")


def deployed(world: World, runner: JobRunner, stack: str = "akira", branch: str = "main") -> DeploymentRecord:
    handle = submit(runner, stack, branch=branch)
    final = handle.wait(WAIT)
    assert final.state == "succeeded", final.error
    handle.done.result(WAIT)  # and the stack's lock is free again
    return final


# The lock queue ---------------------------------------------------------------------------------
def test_jobs_of_one_stack_run_one_at_a_time_in_order_while_another_stack_s_run(world: World) -> None:
    runner = world.runner()
    held = world.swarm.hold_builds_of(world.repo.branches["main"])
    world.repo.commit("other", {"www/content.txt": "other"}, start="main")
    reporters = [RecordingReporter() for _ in range(3)]
    first = submit(runner, "akira", reporter=reporters[0])
    assert held.reached.wait(WAIT)  # the first job builds
    second = submit(runner, "akira", "redeploy", reporter=reporters[1])
    third = submit(runner, "akira", "redeploy", reporter=reporters[2])
    other = submit(runner, "bravo", branch="other").wait(WAIT)  # another stack is not held up
    assert other.state == "succeeded"
    eventually(lambda: "waiting" in reporters[1].names() and "waiting" in reporters[2].names(), "wait in line")
    assert not first.future.done() and world.store.get_deployment(first.deployment.id).state == "running"
    assert [world.store.get_deployment(h.deployment.id).state for h in (second, third)] == ["queued", "queued"]
    waited = [args[1] for name, args in reporters[1].events if name == "waiting"]
    assert isinstance(waited[0], LockRecord) and waited[0].deployment_id == first.deployment.id
    held.go.set()
    finals = [handle.wait(WAIT) for handle in (first, second, third)]
    third.done.result(WAIT)  # the lock is freed after the outcome is said
    assert [f.state for f in finals] == ["succeeded"] * 3
    for earlier, later in zip(finals, finals[1:], strict=False):
        assert earlier.finished_at is not None and later.started_at is not None
        assert later.started_at >= earlier.finished_at  # one at a time, in the order asked
    assert world.store.lock_holder("akira") is None


def test_a_job_waits_its_turn_behind_a_lock_held_by_another_yadockeri(world: World) -> None:
    runner = world.runner()
    deployed(world, runner)
    other, _ = world.store.create_deployment(stack="akira", app=APP, branch="main", kind="redeploy", actor="U_BOB",
                                             source="cli", create=False)
    alive = "otherhost:1:1"
    world.store.start_deployment(other.id, alive)
    assert world.store.try_lock("akira", other.id, "U_BOB", alive) is None
    reporter = RecordingReporter()
    world.swarm.calls.clear()
    handle = submit(runner, "akira", "redeploy", reporter=reporter)
    eventually(lambda: "waiting" in reporter.names(), "wait in line")
    assert world.store.get_deployment(handle.deployment.id).state == "queued" and world.swarm.calls == []
    world.store.finish_deployment(other.id, "succeeded")
    world.store.unlock("akira", other.id)
    assert handle.wait(WAIT).state == "succeeded"


# Outcomes ---------------------------------------------------------------------------------------
def test_a_first_deploy_that_works_creates_a_running_stack(world: World) -> None:
    runner = world.runner()
    final = deployed(world, runner)
    stack = world.store.require_stack("akira")
    assert (stack.state, stack.asleep) == ("running", False)
    assert world.event_kinds() == ["created"] and world.events[0].detail == "http://akira.y.localhost"
    assert [e.result for e in world.store.events("akira")][:2] == ["ok", "queued"]
    assert final.steps[-1].name == "wait"


def test_a_first_deploy_that_fails_leaves_no_crash_loop_and_a_failed_stack(world: World) -> None:
    runner = world.runner()
    world.swarm.behave("akira_web", Behaviour(exit_code=1))
    final = submit(runner, "akira").wait(WAIT)
    assert final.state == "failed" and final.error is not None and "keeps exiting" in final.error
    web = world.swarm.service("akira_web")
    assert web is not None and web["Spec"]["Mode"] == {"Replicated": {"Replicas": 0}}  # stop_failed_new_services
    assert world.store.require_stack("akira").state == "failed"
    assert world.event_kinds() == ["failed"]


def test_a_redeploy_that_fails_keeps_the_running_version_and_the_stack_running(world: World) -> None:
    runner = world.runner()
    deployed(world, runner)
    world.repo.commit("main", {"www/content.txt": "broken"})
    world.swarm.behave("akira_web", Behaviour(rolls_back=True))
    final = submit(runner, "akira", "redeploy").wait(WAIT)
    assert final.state == "failed" and "rolled back" in (final.error or "")
    web = world.swarm.service("akira_web")
    assert web is not None and web["Spec"]["Mode"] == {"Replicated": {"Replicas": 1}}  # not scaled down
    assert world.store.require_stack("akira").state == "running"
    assert world.event_kinds() == ["created", "failed"]


def test_a_new_stack_on_a_branch_that_does_not_exist_is_forgotten(world: World) -> None:
    runner = world.runner()
    final = submit(runner, "akira", branch="nope").wait(WAIT)
    assert final.state == "failed" and "`nope` does not exist" in (final.error or "")
    assert world.store.get_stack("akira") is None and world.events == []


def test_a_bug_in_a_job_fails_it_plainly_and_the_runner_goes_on(world: World) -> None:
    runner = world.runner()
    world.swarm.fail_next("image_exists", RuntimeError("boom"))
    final = submit(runner, "akira").wait(WAIT)
    assert final.state == "failed" and final.error == "internal error: RuntimeError: boom"
    assert submit(runner, "akira", "redeploy").wait(WAIT).state == "succeeded"


def test_swarm_rolling_back_after_the_change_went_live_is_announced(world: World) -> None:
    runner = world.runner()
    deployed(world, runner)
    world.repo.commit("main", {"www/content.txt": "v2"})

    class RollsBackWhenLive(Reporter):
        def finished(self, deployment: DeploymentRecord, urls: list[str]) -> None:
            world.swarm.roll_back("akira_web", "update rolled back due to failure or early termination of task x")

    handle = submit(runner, "akira", "redeploy", reporter=RollsBackWhenLive())
    assert handle.wait(WAIT).state == "succeeded"  # it went live: the command said so
    handle.done.result(WAIT)  # the stack's lock is held until swarm's monitor has passed
    assert world.event_kinds() == ["created", "rolled-back"]
    assert "akira_web: update rolled back due to failure" in (world.events[-1].detail or "")
    assert world.store.events("akira")[0].action == "rollback"
    assert world.store.lock_holder("akira") is None


def test_an_update_swarm_keeps_is_followed_until_its_monitor_passed(world: World) -> None:
    runner = world.runner()
    deployed(world, runner)
    world.repo.commit("main", {"www/content.txt": "v2"})
    handle = submit(runner, "akira", "redeploy")
    handle.done.result(WAIT)
    assert world.event_kinds() == ["created"]
    assert world.store.deployments("akira")[0].state == "succeeded"


# Interruption and recovery ----------------------------------------------------------------------
def dead_runner_on_this_host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:0"  # our pid with another start time: a process gone


def test_recovery_marks_jobs_of_dead_runners_interrupted_and_frees_their_stacks(world: World) -> None:
    runner = world.runner()
    gone, _ = world.store.create_deployment(stack="akira", app=APP, branch="main", kind="deploy", actor="U1",
                                            source="cli", create=True)
    world.store.start_deployment(gone.id, dead_runner_on_this_host())
    world.store.try_lock("akira", gone.id, "U1", dead_runner_on_this_host())
    silent, _ = world.store.create_deployment(stack="bravo", app=APP, branch="main", kind="deploy", actor="U2",
                                              source="cli", create=True)
    world.store.start_deployment(silent.id, "otherhost:7:7")  # another host that stopped heartbeating
    world.store.set_deployment(silent.id, heartbeat_at=utcnow() - timedelta(minutes=5))
    alive, _ = world.store.create_deployment(stack="carol", app=APP, branch="main", kind="deploy", actor="U3",
                                             source="cli", create=True)
    world.store.start_deployment(alive.id, "otherhost:8:8")  # heartbeat just now: it runs elsewhere

    interrupted = runner.start()
    assert sorted(d.id for d in interrupted) == [gone.id, silent.id]
    for deployment_id in (gone.id, silent.id):
        record = world.store.get_deployment(deployment_id)
        assert record.state == "interrupted" and "stopped" in (record.error or "")
    assert world.store.get_deployment(alive.id).state == "running"
    assert world.store.lock_holder("akira") is None
    assert world.store.require_stack("akira").state == "failed"  # it never ran: nothing serves
    assert sorted(e.stack for e in world.events if e.kind == "interrupted") == ["akira", "bravo"]
    assert runner.recover() == []  # once


def test_a_stack_that_served_before_the_interruption_is_running_again(world: World) -> None:
    runner = world.runner()
    deployed(world, runner)
    gone, _ = world.store.create_deployment(stack="akira", app=APP, branch="main", kind="redeploy", actor="U1",
                                            source="cli", create=False)
    world.store.start_deployment(gone.id, dead_runner_on_this_host())
    world.store.set_stack_state("akira", "deploying")
    assert [d.id for d in runner.recover()] == [gone.id]
    assert world.store.require_stack("akira").state == "running"


def test_a_job_queued_behind_a_dead_runner_s_lock_recovers_it_and_runs(world: World) -> None:
    runner = world.runner()
    gone, _ = world.store.create_deployment(stack="akira", app=APP, branch="main", kind="deploy", actor="U1",
                                            source="cli", create=True)
    world.store.start_deployment(gone.id, dead_runner_on_this_host())
    world.store.try_lock("akira", gone.id, "U1", dead_runner_on_this_host())
    assert submit(runner, "akira", "redeploy").wait(WAIT).state == "succeeded"
    assert world.store.get_deployment(gone.id).state == "interrupted"


def test_a_job_interrupted_while_it_waited_is_not_run(world: World) -> None:
    runner = world.runner()
    made: list[int] = []

    def make_job(deployment: DeploymentRecord, stack: StackRecord, reporter: Reporter) -> pipeline.Job:
        made.append(deployment.id)
        return world.make_job(deployment, stack, reporter)

    runner.make_job = make_job
    held = world.swarm.hold_builds_of(world.repo.branches["main"])
    first = submit(runner, "akira")
    assert held.reached.wait(WAIT)
    waiting = RecordingReporter()
    second = submit(runner, "akira", "redeploy", reporter=waiting)
    eventually(lambda: "waiting" in waiting.names(), "wait in line")
    # Another yadockeri's recovery decided this one's runner was dead.
    world.store.finish_deployment(second.deployment.id, "interrupted",
                                  error="interrupted: the yadockeri process running it stopped")
    held.go.set()
    assert first.wait(WAIT).state == "succeeded"
    assert second.wait(WAIT).state == "interrupted"
    assert made == [first.deployment.id] and "started" not in waiting.names()


def test_the_scheduler_s_jobs_are_announced_as_the_scheduler_s(world: World) -> None:
    runner = world.runner()
    deployed(world, runner)
    assert submit(runner, "akira", "destroy", actor=SCHEDULER).wait(WAIT).state == "succeeded"
    assert world.event_kinds() == ["created", "reaped"]


def test_a_failed_first_deploy_is_recorded_even_if_its_services_cannot_be_scaled_down(world: World) -> None:
    from stacks.errors import DockerUnavailable

    runner = world.runner()
    world.swarm.behave("akira_web", Behaviour(exit_code=1))
    world.swarm.fail_next("scale", DockerUnavailable("cannot reach the Docker daemon while scaling akira_web"))
    final = submit(runner, "akira").wait(WAIT)
    assert final.state == "failed" and "keeps exiting" in (final.error or "")
    assert world.store.require_stack("akira").state == "failed" and world.event_kinds() == ["failed"]
