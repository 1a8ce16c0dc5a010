"""Health checks, middleware readiness and the lifecycle hooks (postdeploy, predestroy) on the
fakes: what each step records, when a hook runs, and yadockeri's own rollback.

deploy:  ... -> ready -> release -> processes -> wait [-> rollback] -> postdeploy (first deploy only)
destroy: predestroy -> services -> cleanup
"""

from __future__ import annotations

import pytest

from stacks import pipeline
from stacks.docker_adapter.labels import HASH_LABEL
from stacks.errors import BuildFailed, DeployFailed
from tests.fakes.swarm import Behaviour, BuildScript
from tests.fakes.world import World

HEALTHY_WEB = "processes:\n  web: {command: a, healthcheck: {path: /up, timeout: 1s}}\n"
MIDDLEWARE_CHECKED = """\
services:
  db:
    image: busybox:latest
    command: sleep 600
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  cache:
    image: busybox:latest
    command: sleep 600
"""


def spec(world: World, text: str, **files: str) -> None:
    world.repo.commit("main", {".yadockeri.yml": text, **files})


def step(world: World, deployment_id: int, name: str) -> tuple[str, str | None]:
    found = next(s for s in world.store.get_deployment(deployment_id).steps if s.name == name)
    return found.state, found.detail


# Health check -----------------------------------------------------------------------------------
def test_a_health_checked_web_is_live_when_its_path_answers(world: World) -> None:
    spec(world, HEALTHY_WEB)
    world.router.statuses = {"/": 500, "/up": 200}
    job = world.job()
    pipeline.run_deploy(job)
    assert step(world, job.deployment.id, "wait") == ("ok", "web answered /up with 200 through the router")


def test_a_redeploy_whose_health_check_fails_is_rolled_back_by_yadockeri(world: World) -> None:
    spec(world, HEALTHY_WEB)
    pipeline.run_deploy(world.job())
    before = world.swarm.service("akira_web")
    assert before is not None
    world.repo.commit("main", {"www/content.txt": "broken"})
    world.router.statuses = {"/up": 500}
    job = world.job(kind="redeploy")
    with pytest.raises(DeployFailed) as error:
        pipeline.run_deploy(job)
    assert str(error.value).startswith("akira_web is not healthy: /up did not answer 2xx or 3xx within 1s "
                                       "(/up answered 500); yadockeri rolled back to the previous version")
    assert world.steps(job.deployment.id)[-2:] == [("wait", "failed"), ("rollback", "ok")]
    after = world.swarm.service("akira_web")
    assert after is not None and after["Spec"]["Labels"][HASH_LABEL] == before["Spec"]["Labels"][HASH_LABEL]
    assert after["UpdateStatus"]["State"] == "rollback_completed"
    assert world.store.require_stack("akira").commit != world.repo.branches["main"]  # the record keeps the old one


def test_a_first_deploy_whose_health_check_fails_has_nothing_to_roll_back(world: World) -> None:
    spec(world, HEALTHY_WEB)
    world.router.statuses = {"/up": 503}
    job = world.job()
    with pytest.raises(DeployFailed, match="is not healthy"):
        pipeline.run_deploy(job)
    assert "rollback" not in dict(world.steps(job.deployment.id))


def test_swarms_own_rollback_is_not_rolled_back_again(world: World) -> None:
    pipeline.run_deploy(world.job())
    world.repo.commit("main", {"www/content.txt": "broken"})
    world.swarm.behave("akira_web", Behaviour(rolls_back=True))
    job = world.job(kind="redeploy")
    with pytest.raises(DeployFailed, match="was rolled back"):
        pipeline.run_deploy(job)
    assert "rollback" not in dict(world.steps(job.deployment.id))
    assert "rollback_service" not in world.swarm.calls


def test_without_a_health_check_a_500_is_a_warning_and_the_deploy_succeeds(world: World) -> None:
    world.router.statuses = {"/": 500}
    job = world.job()
    pipeline.run_deploy(job)
    assert step(world, job.deployment.id, "wait") == ("warning", "the web answered / answered 500")
    assert "warning: wait: the web answered / answered 500" in world.reporter.lines()


# Middleware readiness ---------------------------------------------------------------------------
def test_middleware_with_a_healthcheck_is_waited_for_before_the_processes(world: World) -> None:
    spec(world, "processes:\n  web: {command: a}\nservices: mw.yml\n", **{"mw.yml": MIDDLEWARE_CHECKED})
    job = world.job()
    pipeline.run_deploy(job)
    assert step(world, job.deployment.id, "ready") == ("ok", "db healthy")
    names = [name for name, _ in world.steps(job.deployment.id)]
    assert names.index("ready") < names.index("processes")


def test_with_a_release_every_middleware_is_waited_for(world: World) -> None:
    spec(world, "processes:\n  web: {command: a}\nservices: mw.yml\nrelease: migrate\n", **{"mw.yml": MIDDLEWARE_CHECKED})
    job = world.job()
    pipeline.run_deploy(job)
    assert step(world, job.deployment.id, "ready") == ("ok", "cache running, db healthy")


def test_middleware_that_never_gets_healthy_fails_the_ready_step(world: World) -> None:
    spec(world, "processes:\n  web: {command: a}\nservices: mw.yml\n", **{"mw.yml": MIDDLEWARE_CHECKED})
    world.swarm.behave("akira_db", Behaviour(starts=False, err="container is unhealthy"))
    job = world.job()
    with pytest.raises(DeployFailed, match=r"akira_db did not become healthy within 1s \(container is unhealthy\)"):
        pipeline.run_deploy(job)
    assert world.steps(job.deployment.id)[-1] == ("ready", "failed")


def test_middleware_without_healthcheck_or_release_adds_no_step(world: World) -> None:
    spec(world, "processes:\n  web: {command: a}\nservices: mw.yml\n",
         **{"mw.yml": "services:\n  cache:\n    image: busybox:latest\n"})
    job = world.job()
    pipeline.run_deploy(job)
    assert "ready" not in dict(world.steps(job.deployment.id))


# postdeploy -------------------------------------------------------------------------------------
WITH_HOOKS = "processes:\n  web: {command: a}\npostdeploy: ./seed\npredestroy: ./goodbye\n"


def test_postdeploy_runs_once_after_the_first_deploy(world: World) -> None:
    spec(world, WITH_HOOKS)
    world.swarm.behave("akira__postdeploy", Behaviour(logs=("seeded 3 notes",)))
    first = world.job()
    pipeline.run_deploy(first)
    assert world.steps(first.deployment.id)[-1] == ("postdeploy", "ok")
    assert "postdeploy: seeded 3 notes" in world.reporter.lines()
    assert world.swarm.service("akira__postdeploy") is None
    world.repo.commit("main", {"www/content.txt": "second"})
    again = world.job(kind="redeploy")
    pipeline.run_deploy(again)
    world.store.change_env("akira", {"A": "1"}, [], "U1")
    env = world.job(kind="env")
    pipeline.run_env(env)
    for deployment in (again, env):
        assert "postdeploy" not in dict(world.steps(deployment.deployment.id))
    assert world.swarm.calls.count("create_job") == 1


def test_postdeploy_waits_for_a_deploy_that_goes_live(world: World) -> None:
    spec(world, WITH_HOOKS)
    world.swarm.build_script = BuildScript(fails="RUN make: exit code 2")
    with pytest.raises(BuildFailed):
        pipeline.run_deploy(world.job())
    assert world.store.require_stack("akira").first_live_at is None
    world.swarm.build_script = BuildScript()
    job = world.job(kind="redeploy")
    pipeline.run_deploy(job)
    assert world.steps(job.deployment.id)[-1] == ("postdeploy", "ok")


def test_a_failing_postdeploy_is_a_warning_and_the_stack_stays_up(world: World) -> None:
    spec(world, WITH_HOOKS)
    world.swarm.behave("akira__postdeploy", Behaviour(exit_code=1, logs=("duplicate key",)))
    job = world.job()
    pipeline.run_deploy(job)
    state, detail = step(world, job.deployment.id, "postdeploy")
    assert state == "warning" and detail is not None
    assert detail.startswith("the postdeploy command failed (task: non-zero exit (1)); the stack is up")
    assert "postdeploy: duplicate key" in world.reporter.lines()
    assert world.swarm.service("akira_web") is not None


# predestroy -------------------------------------------------------------------------------------
def test_predestroy_runs_before_the_services_are_removed(world: World) -> None:
    spec(world, WITH_HOOKS)
    pipeline.run_deploy(world.job())
    world.swarm.behave("akira__predestroy", Behaviour(logs=("bye",)))
    world.swarm.calls.clear()
    job = world.job(kind="destroy")
    pipeline.run_destroy(job)
    assert [name for name, _ in world.steps(job.deployment.id)] == ["predestroy", "services", "cleanup"]
    assert world.swarm.calls.index("create_job") < world.swarm.calls.index("remove_service")
    assert "predestroy: bye" in world.reporter.lines()


def test_a_failing_predestroy_does_not_block_the_destroy(world: World) -> None:
    spec(world, WITH_HOOKS)
    pipeline.run_deploy(world.job())
    world.swarm.behave("akira__predestroy", Behaviour(exit_code=2))
    job = world.job(kind="destroy")
    pipeline.run_destroy(job)
    assert world.steps(job.deployment.id) == [("predestroy", "warning"), ("services", "ok"), ("cleanup", "ok")]
    assert world.swarm.services(**{"yadockeri.stack": "akira"}) == []


def test_a_stack_never_deployed_runs_no_predestroy(world: World) -> None:
    spec(world, WITH_HOOKS)
    world.swarm.build_script = BuildScript(fails="RUN make: exit code 2")
    with pytest.raises(BuildFailed):
        pipeline.run_deploy(world.job())
    job = world.job(kind="destroy")
    pipeline.run_destroy(job)
    assert "predestroy" not in dict(world.steps(job.deployment.id))
