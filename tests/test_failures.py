"""Bad input and failures: each gets a clear error and changes nothing else."""

from __future__ import annotations

import time

import docker
import pytest

from stacks.config import Settings
from stacks.engine import Actor, Engine
from stacks.errors import DockerUnavailable, NotFound, PermissionDenied, YadockeriError
from tests.conftest import unique
from tests.support.helpers import ADMIN, deploy, page, redeploy, steps, succeeded, through_router, wait_until
from tests.support.sample_app import DOCKERFILE, SampleRepo

pytestmark = pytest.mark.swarm

OWNER = Actor(id="U0OWNER", source="slack")
STRANGER = Actor(id="U0STRANGER", source="slack")


def web_version(client: docker.DockerClient, stack: str) -> int:
    return client.api.inspect_service(f"{stack}_web")["Version"]["Index"]


def stack_objects(client: docker.DockerClient, stack: str) -> list[str]:
    label = {"label": f"yadockeri.stack={stack}"}
    return [s["Spec"]["Name"] for s in client.api.services(filters=label)] + [
        n["Name"] for n in client.api.networks(filters=label)
    ]


@pytest.fixture
def running(engine: Engine, settings: Settings) -> str:
    """A stack that serves main-1, owned by OWNER."""
    stack = unique("f")
    succeeded(deploy(engine, stack, actor=OWNER))
    assert page(settings, stack)["content"] == "main-1"
    return stack


def assert_untouched(engine: Engine, settings: Settings, client: docker.DockerClient, stack: str, version: int) -> None:
    assert page(settings, stack)["content"] == "main-1"
    assert web_version(client, stack) == version
    assert engine.store.require_stack(stack).state == "running"


def test_a_missing_branch_creates_nothing(engine: Engine, docker_client: docker.DockerClient, sample_repo: SampleRepo) -> None:
    stack = unique("m")
    failed = deploy(engine, stack, "no-such-branch")
    assert failed.state == "failed"
    assert failed.error is not None
    assert "branch `no-such-branch` does not exist in" in failed.error and str(sample_repo.path) in failed.error
    assert engine.store.get_stack(stack) is None
    assert stack_objects(docker_client, stack) == []


def test_a_missing_branch_leaves_a_running_stack_alone(engine: Engine, settings: Settings, running: str,
                                                       docker_client: docker.DockerClient) -> None:
    version = web_version(docker_client, running)
    failed = deploy(engine, running, "nope", actor=OWNER)
    assert failed.state == "failed"
    assert failed.error is not None
    assert "does not exist" in failed.error
    assert_untouched(engine, settings, docker_client, running, version)
    assert engine.store.require_stack(running).branch == "main"


def test_a_refused_compose_file_changes_nothing(engine: Engine, settings: Settings, running: str, sample_repo: SampleRepo,
                                                docker_client: docker.DockerClient) -> None:
    version = web_version(docker_client, running)
    sample_repo.write({
        ".yadockeri.yml": "services: compose.yml\n",
        "compose.yml": "services:\n  evil:\n    image: busybox:latest\n"
                       "    volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n",
    })
    sample_repo.commit("mount the docker socket")
    failed = redeploy(engine, running, actor=OWNER)
    assert failed.state == "failed"
    assert failed.error is not None
    assert "compose.yml: service `evil`" in failed.error and "/var/run/docker.sock" in failed.error
    assert steps(failed)["spec"] == "failed" and "build" not in steps(failed)
    assert_untouched(engine, settings, docker_client, running, version)
    assert not docker_client.api.services(filters={"name": f"{running}_evil"})


def test_an_invalid_app_spec_is_a_clear_error(engine: Engine, sample_repo: SampleRepo) -> None:
    sample_repo.write({".yadockeri.yml": "processes:\n  worker: {command: run}\n"})
    sample_repo.commit("no web")
    failed = deploy(engine, unique("v"))
    assert failed.state == "failed"
    assert failed.error is not None
    assert ".yadockeri.yml" in failed.error and "web" in failed.error


def test_a_failing_build_says_why_and_changes_nothing(engine: Engine, settings: Settings, running: str,
                                                      sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    version = web_version(docker_client, running)
    sample_repo.write({"Dockerfile": DOCKERFILE.replace("COPY www /www", "COPY www /www\nRUN echo build-broke-marker && false")})
    commit = sample_repo.commit("broken build")
    failed = redeploy(engine, running, actor=OWNER)
    assert failed.state == "failed" and steps(failed)["build"] == "failed"
    assert failed.error is not None
    assert "docker build failed" in failed.error and "build-broke-marker" in failed.error  # its last lines
    assert_untouched(engine, settings, docker_client, running, version)
    (app,) = settings.apps
    assert not docker_client.images.list(name=f"yadockeri/{app}", filters={"label": f"yadockeri.commit={commit}"})


def test_a_failing_release_command_stops_the_deploy(engine: Engine, settings: Settings, running: str,
                                                    sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    version = web_version(docker_client, running)
    sample_repo.write({
        ".yadockeri.yml": "release: 'echo release-broke-marker; exit 3'\n",
        "www/content.txt": "main-2",
    })
    sample_repo.commit("failing release")
    failed = redeploy(engine, running, actor=OWNER)
    assert failed.state == "failed" and steps(failed)["release"] == "failed"
    assert failed.error is not None
    assert "release command failed" in failed.error and "release-broke-marker" in failed.error
    assert "processes" not in steps(failed)
    assert_untouched(engine, settings, docker_client, running, version)


def test_a_web_process_that_crashes_on_update_is_rolled_back(engine: Engine, settings: Settings, running: str,
                                                             sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    sample_repo.write({
        ".yadockeri.yml": "processes:\n  web: {command: 'echo crash-after-update-marker; exit 1'}\n",
        "www/content.txt": "main-2",
    })
    sample_repo.commit("crashing web")
    failed = redeploy(engine, running, actor=OWNER)
    assert failed.state == "failed"
    assert failed.error is not None
    assert "rolled back" in failed.error and "crash-after-update-marker" in failed.error
    assert page(settings, running)["content"] == "main-1"  # the old version still serves
    assert engine.store.require_stack(running).state == "running"
    assert engine.store.require_stack(running).commit != failed.commit  # still the old commit


def test_a_rollback_after_live_is_announced_and_the_stack_held_until_swarm_is_done(
        make_settings, sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    """The new web answers (so the change is live and said so), then dies inside swarm's update
    monitor: swarm rolls back, and yadockeri, still holding the stack, says so."""
    engine = Engine(make_settings(update_monitor=20))
    engine.start()
    events: list = []
    engine.add_listener(events.append)
    stack = unique("b")
    try:
        succeeded(deploy(engine, stack))
        sample_repo.write({".yadockeri.yml": "processes:\n  web: {command: 'httpd -p $PORT -h /www; sleep 10; exit 1'}\n",
                           "www/content.txt": "main-2"})
        sample_repo.commit("dies after it answered")
        handle = engine.redeploy(stack, ADMIN)
        live = handle.wait(240)
        assert live.state == "succeeded"
        assert not handle.done.done()  # the stack is still held: swarm's monitor runs
        handle.done.result(240)
        rolled = [e for e in events if e.kind == "rolled-back"]
        assert len(rolled) == 1 and rolled[0].deployment.id == live.id
        assert "swarm rolled back" in rolled[0].detail and f"redeploy {stack}" in rolled[0].detail
        assert [e.result for e in engine.store.events(stack) if e.action == "rollback"] == ["failed"]
        # swarm starts the old version again (yadockeri said so when swarm began to roll back)
        wait_until(lambda: "content=main-1" in through_router(engine.settings, stack).text, timeout=60)
    finally:
        engine.close()
        from tests.conftest import purge

        purge(docker_client, stack)


def test_a_web_process_that_never_starts_fails_fast_with_its_logs(engine: Engine, sample_repo: SampleRepo) -> None:
    sample_repo.write({".yadockeri.yml": "processes:\n  web: {command: 'echo never-starts-marker; exit 2'}\n"})
    sample_repo.commit("never starts")
    stack = unique("n")
    failed = deploy(engine, stack)
    assert failed.state == "failed"
    assert failed.error is not None
    assert "keeps exiting" in failed.error
    assert "non-zero exit (2)" in failed.error and "never-starts-marker" in failed.error
    assert engine.store.require_stack(stack).state == "failed"


def test_docker_unreachable_is_said_clearly_and_records_nothing(settings: Settings, docker_client: docker.DockerClient) -> None:
    engine = Engine(settings, docker_host="unix:///nonexistent/docker.sock")
    engine.start()
    try:
        with pytest.raises(DockerUnavailable, match="cannot reach the Docker daemon at unix:///nonexistent/docker.sock"):
            engine.deploy(unique("d"), "main", ADMIN)
        assert engine.list_stacks() == []
        assert engine.store.active_deployments() == []
    finally:
        engine.close()


def test_no_router_is_said_before_anything_is_recorded(make_settings) -> None:
    engine = Engine(make_settings(router_service=unique("nr")))
    engine.start()
    try:
        with pytest.raises(YadockeriError, match="the router .* is not running.*yadockeri router"):
            engine.deploy(unique("r"), "main", ADMIN)
        assert engine.list_stacks() == []
    finally:
        engine.close()


@pytest.mark.parametrize("change, said", [
    ({"router_port": 1}, "it listens on port .*, the settings say 1"),
    ({"domain": "other.localhost"}, "it serves .*y.localhost, the settings say other.localhost"),
])
def test_a_router_with_other_settings_is_said_at_once_and_left_alone(
        make_settings, settings: Settings, running: str, docker_client: docker.DockerClient,
        change: dict, said: str) -> None:
    before = docker_client.api.inspect_service(settings.router_service)["Version"]["Index"]
    engine = Engine(make_settings(**change))
    engine.start()
    try:
        started = time.monotonic()
        for attempt in (lambda: engine.deploy(unique("r"), "main", ADMIN), lambda: engine.redeploy(running, ADMIN),
                        lambda: engine.change_env(running, {"A": "1"}, [], ADMIN)):
            with pytest.raises(YadockeriError, match=f"{said}.*Run `yadockeri router`"):
                attempt()
        assert time.monotonic() - started < 60  # not the deploy timeout (300 s)
        assert [s.name for s in engine.list_stacks()] == [running] and engine.store.get_env(running) == {}
    finally:
        engine.close()
    assert docker_client.api.inspect_service(settings.router_service)["Version"]["Index"] == before


def test_only_the_owner_or_an_admin_may_destroy_move_or_change_env(engine: Engine, settings: Settings, running: str,
                                                                  docker_client: docker.DockerClient) -> None:
    version = web_version(docker_client, running)
    with pytest.raises(PermissionDenied, match="only the owner"):
        engine.destroy(running, STRANGER)
    with pytest.raises(PermissionDenied):
        engine.deploy(running, "other-branch", STRANGER)
    with pytest.raises(PermissionDenied):
        engine.change_env(running, {"A": "1"}, [], STRANGER)
    assert engine.store.get_env(running) == {}
    assert_untouched(engine, settings, docker_client, running, version)
    refused = [e for e in engine.store.events(running) if e.result == "refused"]
    assert len(refused) == 3 and {e.actor for e in refused} == {"U0STRANGER"}
    # Anyone may redeploy; the owner may change env.
    succeeded(redeploy(engine, running, actor=STRANGER))
    changed, handle = engine.change_env(running, {"A": "1"}, [], OWNER)
    assert changed == ["A"] and handle is not None
    succeeded(handle.wait(240))


def test_unknown_stack_and_app_are_clear(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no stack named `nope`"):
        engine.redeploy("nope", ADMIN)
    with pytest.raises(NotFound, match="no app named `nope`"):
        engine.deploy(unique("u"), "main", ADMIN, app="nope")
    with pytest.raises(NotFound, match="has no env var B"):
        stack = unique("u")
        engine.store.create_deployment(stack=stack, app=next(iter(engine.settings.apps)), branch="main", kind="deploy",
                                       actor="x", source="cli", create=True)
        engine.change_env(stack, {}, ["B"], ADMIN)
