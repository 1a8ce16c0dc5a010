"""The deploy pipeline (stacks/pipeline.py run_deploy) on the fakes: every step's success, and
each step's failure recorded as that step failed, with the error class a user is told.

deploy:  fetch -> spec -> (build || middleware) -> release -> processes -> wait
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stacks import pipeline
from stacks.docker_adapter import labels as specs
from stacks.errors import BranchNotFound, BuildFailed, DeployFailed, GitError, ReleaseFailed, SpecError, YadockeriError
from tests.fakes.swarm import Behaviour, BuildScript, FakeSwarm
from tests.fakes.world import APP, World

ALL_OK = [("fetch", "ok"), ("spec", "ok"), ("middleware", "skipped"), ("build", "ok"), ("processes", "ok"), ("wait", "ok")]
MIDDLEWARE = """\
services:
  cache:
    image: busybox:latest
    command: sleep 600
"""


def failed_at(world: World, job: pipeline.Job, error: type[Exception], match: str = "") -> list[tuple[str, str]]:
    """Run the deploy, expecting it to fail with `error`; returns its steps as recorded."""
    with pytest.raises(error, match=match):
        pipeline.run_deploy(job)
    return world.steps(job.deployment.id)


def image_of(world: World, commit: str) -> str:
    return specs.image_tag(APP, commit, world.settings.registry)


# A deploy that works ----------------------------------------------------------------------------
def test_a_first_deploy_runs_every_step_and_records_what_it_released(world: World) -> None:
    commit = world.repo.branches["main"]
    job = world.job()
    release = pipeline.run_deploy(job)
    assert world.steps(job.deployment.id) == ALL_OK
    assert release.commit == commit and release.image == image_of(world, commit)
    stack = world.store.require_stack("akira")
    assert (stack.commit, stack.image, stack.branch) == (commit, release.image, "main")
    assert world.store.get_deployment(job.deployment.id).image == release.image
    assert world.mirror.pinned("akira") == commit  # a wake or an env change reads this spec again
    (build,) = world.swarm.builds
    assert {"Dockerfile", "www/content.txt"} <= set(build.files) and build.labels["yadockeri.commit"] == commit
    web = world.swarm.service("akira_web")
    assert web is not None and web["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == release.image
    assert "GREETING=from-spec" in web["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert ("akira.y.localhost", "/") in world.router.requests  # live: the router answered from the new task


def test_the_reporter_hears_each_step_start_and_end(world: World) -> None:
    job = world.job()
    pipeline.run_deploy(job)
    said = [(args[1], args[2]) for name, args in world.reporter.events if name == "step"]
    assert said[:2] == [("fetch", "running"), ("fetch", "ok")]
    assert ("wait", "ok") == said[-1]


def test_a_redeploy_of_the_same_commit_reuses_the_image_and_changes_nothing(world: World) -> None:
    pipeline.run_deploy(world.job())
    job = world.job(kind="redeploy")
    pipeline.run_deploy(job)
    assert world.steps(job.deployment.id) == [("fetch", "ok"), ("spec", "ok"), ("middleware", "skipped"),
                                              ("build", "skipped"), ("processes", "skipped"), ("wait", "ok")]
    assert len(world.swarm.builds) == 1


def test_a_new_commit_updates_the_processes_in_place(world: World) -> None:
    pipeline.run_deploy(world.job())
    first = world.swarm.service("akira_web")
    world.repo.commit("main", {"www/content.txt": "main-2"})
    job = world.job(kind="redeploy")
    pipeline.run_deploy(job)
    second = world.swarm.service("akira_web")
    assert first is not None and second is not None and first["ID"] == second["ID"]
    assert job.updated_services == ["akira_web"] and job.created_services == []


def test_a_process_left_out_of_the_spec_is_removed(world: World) -> None:
    world.repo.commit("main", {".yadockeri.yml": "processes:\n  web: {command: a}\n  worker: {command: b}\n"})
    pipeline.run_deploy(world.job())
    assert world.swarm.service("akira_worker") is not None
    world.repo.commit("main", {".yadockeri.yml": "processes:\n  web: {command: a}\n"})
    job = world.job(kind="redeploy")
    pipeline.run_deploy(job)
    assert world.swarm.service("akira_worker") is None
    detail = next(s for s in world.store.get_deployment(job.deployment.id).steps if s.name == "processes").detail
    assert detail is not None and "worker removed" in detail


def test_a_separate_builder_builds_and_pushes_and_the_swarm_pulls(new_world: Callable[..., World]) -> None:
    world = new_world(builder="tcp://builder.example:2376", registry="registry.example:5000")
    world.builder = FakeSwarm(registry=world.swarm.registry)
    job = world.job()
    release = pipeline.run_deploy(job)
    assert release.image.startswith("registry.example:5000/yadockeri/app:")
    assert [b.tag for b in world.builder.builds] == [release.image] and world.swarm.builds == []
    assert world.builder.pushed == [release.image]
    assert world.swarm.image_exists(release.image)  # its task pulled it


# fetch ------------------------------------------------------------------------------------------
def test_an_unknown_branch_fails_the_fetch_and_nothing_else_runs(world: World) -> None:
    job = world.job(branch="nope")
    assert failed_at(world, job, BranchNotFound, "`nope` does not exist") == [("fetch", "failed")]
    assert world.swarm.calls == []


def test_a_repository_that_cannot_be_reached_fails_the_fetch(world: World) -> None:
    world.mirror.fetch_error = GitError("cannot fetch `main` from fake://app: Connection refused")
    job = world.job()
    assert failed_at(world, job, GitError, "Connection refused") == [("fetch", "failed")]
    step = world.store.get_deployment(job.deployment.id).steps[0]
    assert step.detail == "cannot fetch `main` from fake://app: Connection refused"


# spec -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("files", "match"), [
    ({".yadockeri.yml": "processes: [web]\n"}, "processes must be a mapping"),
    ({".yadockeri.yml": "processes:\n  web: {command: a}\n  release: {command: b}\n"}, "cannot be named `release`"),
    ({".yadockeri.yml": "processes: {web: {command: a}}\nresources: {web: {cpus: 64}}\n"}, "YADOCKERI_MAX_CPUS"),
    ({".yadockeri.yml": "processes: {web: {command: a}}\nservices: mw.yml\n"}, "names services file `mw.yml`"),
    ({".yadockeri.yml": "processes: {web: {command: a}}\nservices: mw.yml\n",
      "mw.yml": "services:\n  db: {image: busybox:latest, privileged: true}\n"}, "privileged"),
    ({".yadockeri.yml": "x" * 300_000}, "YADOCKERI_MAX_SPEC_BYTES"),
])
def test_a_spec_yadockeri_refuses_fails_the_spec_step(world: World, files: dict[str, str | bytes | None],
                                                      match: str) -> None:
    world.repo.commit("main", files)
    job = world.job()
    assert failed_at(world, job, SpecError, match) == [("fetch", "ok"), ("spec", "failed")]
    assert "build" not in world.swarm.calls and "apply_service" not in world.swarm.calls


def test_without_a_spec_the_image_s_command_runs_as_web(world: World) -> None:
    world.repo.commit("main", {".yadockeri.yml": None})
    pipeline.run_deploy(world.job())
    web = world.swarm.service("akira_web")
    assert web is not None and "Command" not in web["Spec"]["TaskTemplate"]["ContainerSpec"]


# build ------------------------------------------------------------------------------------------
def test_a_failing_build_fails_the_build_step_and_starts_no_process(world: World) -> None:
    world.swarm.build_script = BuildScript(fails="The command '/bin/sh -c make' returned a non-zero code: 2")
    job = world.job()
    steps = failed_at(world, job, BuildFailed, "returned a non-zero code: 2")
    assert ("build", "failed") in steps and "processes" not in dict(steps)
    assert ("middleware", "skipped") in steps  # it ran beside the build
    assert world.swarm.services(**{"yadockeri.role": "process"}) == []
    assert world.store.require_stack("akira").image is None  # the stack keeps what it ran (nothing yet)
    assert any("returned a non-zero code: 2" in line for line in world.reporter.lines())


def test_a_build_past_its_timeout_fails_the_build_step(world: World) -> None:
    world.swarm.build_script = BuildScript(hangs=True)
    assert ("build", "failed") in failed_at(world, world.job(), BuildFailed, "did not finish within")


def test_a_dockerfile_the_context_lacks_fails_the_build_step(world: World) -> None:
    world.repo.commit("main", {".yadockeri.yml": "build: {dockerfile: docker/Dockerfile.prod}\nprocesses: {web: {}}\n"})
    steps = failed_at(world, world.job(), SpecError, "there is no Dockerfile at `docker/Dockerfile.prod`")
    assert ("build", "failed") in steps


def test_a_context_folder_the_commit_lacks_fails_the_build_step(world: World) -> None:
    world.repo.commit("main", {".yadockeri.yml": "build: {context: app}\nprocesses: {web: {}}\n"})
    assert ("build", "failed") in failed_at(world, world.job(), SpecError, "there is no Dockerfile at `app/Dockerfile`")


def test_a_context_over_its_limit_fails_the_build_step(new_world: Callable[..., World]) -> None:
    world = new_world(max_context_bytes="1k")
    world.repo.commit("main", {"big.bin": b"\x00" * 4096})
    assert ("build", "failed") in failed_at(world, world.job(), SpecError, "YADOCKERI_MAX_CONTEXT_BYTES")
    assert world.swarm.builds == []


def test_docker_going_away_during_the_build_fails_the_build_step(world: World) -> None:
    from stacks.errors import DockerUnavailable

    world.swarm.fail_next("image_exists", DockerUnavailable("cannot reach the Docker daemon while looking up image"))
    assert ("build", "failed") in failed_at(world, world.job(), DockerUnavailable, "cannot reach the Docker daemon")


# middleware -------------------------------------------------------------------------------------
def with_middleware(world: World, compose: str = MIDDLEWARE, release: str | None = None) -> None:
    spec = "processes:\n  web: {command: a}\nservices: mw.yml\n" + (f"release: {release}\n" if release else "")
    world.repo.commit("main", {".yadockeri.yml": spec, "mw.yml": compose})


def test_middleware_is_deployed_read_back_and_left_alone_when_unchanged(world: World) -> None:
    with_middleware(world)
    job = world.job()
    pipeline.run_deploy(job)
    assert ("middleware", "ok") in world.steps(job.deployment.id)
    (cache,) = world.swarm.services(**{"yadockeri.stack": "akira", "yadockeri.role": "middleware"})
    assert cache["Spec"]["Name"] == "akira_cache"
    assert world.store.require_stack("akira").middleware_hash is not None
    again = world.job(kind="redeploy")
    pipeline.run_deploy(again)
    step = next(s for s in world.store.get_deployment(again.deployment.id).steps if s.name == "middleware")
    assert (step.state, step.detail) == ("skipped", "middleware unchanged")
    assert [stack for stack, _ in world.swarm.stack_deploys] == ["akira"]


def test_middleware_dropped_from_the_file_is_removed(world: World) -> None:
    with_middleware(world, MIDDLEWARE + "  queue:\n    image: busybox:latest\n")
    pipeline.run_deploy(world.job())
    assert world.swarm.service("akira_queue") is not None
    with_middleware(world)
    pipeline.run_deploy(world.job(kind="redeploy"))
    assert world.swarm.service("akira_queue") is None and world.swarm.service("akira_cache") is not None


def test_middleware_the_cli_refuses_fails_the_middleware_step(world: World) -> None:
    from tests.fakes.stack_cli import refuse

    with_middleware(world)
    world.swarm.fail_next("stack_deploy", refuse("akira", "services.cache Additional property foo is not allowed"))
    steps = failed_at(world, world.job(), SpecError, "docker stack deploy refused the middleware")
    assert ("middleware", "failed") in steps and "processes" not in dict(steps)


def test_middleware_docker_runs_otherwise_than_checked_is_removed_and_fails_the_step(world: World) -> None:
    def confused(spec: dict) -> None:  # a CLI that read a key the checks did not see
        if spec["Name"] == "akira_cache":
            spec["TaskTemplate"]["ContainerSpec"]["Privileges"] = {"SELinuxContext": {"Disable": True}}

    with_middleware(world)
    world.swarm.tamper = confused
    steps = failed_at(world, world.job(), DeployFailed, "not what yadockeri checked, so the middleware was removed")
    assert ("middleware", "failed") in steps
    assert world.swarm.services(**{"yadockeri.role": "middleware"}) == []


def test_middleware_a_release_waits_for_must_start_in_time(world: World) -> None:
    with_middleware(world, release="migrate")
    world.swarm.behave("akira_cache", Behaviour(starts=False, err="no suitable node (1 node not available)"))
    steps = failed_at(world, world.job(), DeployFailed, "akira_cache did not start within 1s")
    assert ("ready", "failed") in steps and "release" not in dict(steps)


# release ----------------------------------------------------------------------------------------
def with_release(world: World, command: str = "./migrate") -> None:
    world.repo.commit("main", {".yadockeri.yml": f"processes:\n  web: {{command: a}}\nrelease: {command}\n"})


def test_the_release_command_runs_once_before_the_processes_and_is_cleaned_up(world: World) -> None:
    with_release(world)
    world.swarm.behave("akira__release", Behaviour(logs=("migrated 3 tables",)))
    job = world.job()
    pipeline.run_deploy(job)
    assert world.steps(job.deployment.id) == ALL_OK[:4] + [("release", "ok")] + ALL_OK[4:]
    assert world.swarm.service("akira__release") is None
    assert world.swarm.containers(**{"com.docker.swarm.service.name": "akira__release"}) == []  # swarm kept it; we did not
    assert "release: migrated 3 tables" in world.reporter.lines()
    assert world.swarm.calls.index("create_job") < world.swarm.calls.index("apply_service")


def test_the_release_runs_only_when_the_image_changes(world: World) -> None:
    with_release(world)
    pipeline.run_deploy(world.job())
    job = world.job(kind="redeploy")
    pipeline.run_deploy(job)
    assert "release" not in dict(world.steps(job.deployment.id))


def test_a_failing_release_fails_its_step_says_its_output_and_updates_nothing(world: World) -> None:
    with_release(world)
    world.swarm.behave("akira__release", Behaviour(exit_code=3, logs=("relation users already exists",)))
    job = world.job()
    steps = failed_at(world, job, ReleaseFailed, r"\(task: non-zero exit \(3\)\); nothing was updated")
    assert steps[-1] == ("release", "failed") and "processes" not in dict(steps)
    assert world.swarm.service("akira_web") is None and world.swarm.service("akira__release") is None
    assert "release: relation users already exists" in world.reporter.lines()


def test_a_release_that_never_ends_fails_at_its_timeout(world: World) -> None:
    with_release(world)
    world.swarm.behave("akira__release", Behaviour(starts=False))
    assert failed_at(world, world.job(), ReleaseFailed, "did not finish within 1s")[-1] == ("release", "failed")
    assert world.swarm.service("akira__release") is None


# processes --------------------------------------------------------------------------------------
def test_docker_refusing_a_process_fails_the_processes_step(world: World) -> None:
    world.swarm.fail_next("apply_service", YadockeriError("Docker refused creating or updating service akira_web: x"))
    steps = failed_at(world, world.job(), YadockeriError, "Docker refused creating")
    assert steps[-1] == ("processes", "failed") and "wait" not in dict(steps)


def test_a_process_docker_runs_otherwise_than_asked_is_removed_and_fails_the_step(world: World) -> None:
    def other_image(spec: dict) -> None:
        spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:latest"

    world.swarm.tamper = other_image
    steps = failed_at(world, world.job(), DeployFailed, "not what yadockeri asked for: akira_web: runs image")
    assert steps[-1] == ("processes", "failed")
    assert world.swarm.service("akira_web") is None  # it created it: it removes it


# wait -------------------------------------------------------------------------------------------
def test_a_web_process_that_keeps_exiting_fails_the_wait_with_its_logs(world: World) -> None:
    world.swarm.behave("akira_web", Behaviour(exit_code=127, logs=("sh: httpd: not found",)))
    job = world.job()
    steps = failed_at(world, job, DeployFailed, r"akira_web keeps exiting \(task: non-zero exit \(127\)\)")
    assert steps[-1] == ("wait", "failed")
    assert "akira_web: sh: httpd: not found" in world.reporter.lines()
    assert job.created_services == ["akira_web"]


def test_a_worker_that_keeps_exiting_fails_the_wait(world: World) -> None:
    world.repo.commit("main", {".yadockeri.yml": "processes:\n  web: {command: a}\n  worker: {command: b}\n"})
    world.swarm.behave("akira_worker", Behaviour(exit_code=1))
    assert failed_at(world, world.job(), DeployFailed, "akira_worker keeps exiting")[-1] == ("wait", "failed")


def test_a_process_no_node_can_take_fails_the_wait_with_dockers_reason(world: World) -> None:
    world.swarm.behave("akira_web", Behaviour(starts=False, err="no suitable node (insufficient memory on 1 node)"))
    steps = failed_at(world, world.job(), DeployFailed,
                      r"akira_web cannot be placed on any node: .* \(no suitable node \(insufficient memory")
    assert steps[-1] == ("wait", "failed")


def test_an_update_swarm_rolls_back_fails_the_wait(world: World) -> None:
    pipeline.run_deploy(world.job())
    world.repo.commit("main", {"www/content.txt": "broken"})
    world.swarm.behave("akira_web", Behaviour(rolls_back=True))
    steps = failed_at(world, world.job(kind="redeploy"), DeployFailed, "akira_web was rolled back")
    assert steps[-1] == ("wait", "failed")
    web = world.swarm.service("akira_web")
    assert web is not None and web["UpdateStatus"]["State"] == "rollback_completed"  # the old version serves


def test_a_router_that_does_not_answer_fails_the_wait(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacks import waits

    monkeypatch.setattr(waits, "ROUTER_GRACE", 0.2)  # how long a silent router is borne (10 s in production)
    world.router.close()
    assert failed_at(world, world.job(), DeployFailed, "the router does not answer")[-1] == ("wait", "failed")


def test_a_web_the_router_cannot_reach_fails_the_wait_at_the_deploy_timeout(world: World) -> None:
    world.router.answers = False
    assert failed_at(world, world.job(), DeployFailed, "did not get ready within 1s")[-1] == ("wait", "failed")
