"""Deploying for real: a sample app repository, the real swarm, the real nginx router."""

from __future__ import annotations

import hashlib
import threading
import time

import docker
import pytest
import requests

from stacks.config import Settings
from stacks.engine import Engine
from stacks.progress import RecordingReporter
from stacks.store import LockRecord
from tests.conftest import env_for_cli, unique
from tests.support.helpers import (
    ADMIN,
    deploy,
    files_containing,
    page,
    redeploy,
    run_cli,
    steps,
    succeeded,
    through_router,
)
from tests.support.sample_app import SampleRepo

pytestmark = pytest.mark.swarm


def app_images(client: docker.DockerClient, settings: Settings) -> set[str]:
    (app,) = settings.apps
    return {tag for image in client.images.list(name=f"yadockeri/{app}") for tag in image.tags}


def test_deploy_then_redeploy_new_commit_then_no_change(engine: Engine, settings: Settings, sample_repo: SampleRepo,
                                                       docker_client: docker.DockerClient) -> None:
    stack = unique("s")
    first = succeeded(deploy(engine, stack, "main"))
    assert sorted(s.name for s in first.steps) == sorted(["fetch", "spec", "build", "middleware", "processes", "wait"])
    assert page(settings, stack)["content"] == "main-1"
    assert page(settings, stack, domain="y2.localhost")["content"] == "main-1"  # every domain
    # The app gets the routed host with the public port, as in the stack's URL (never the raw Host header).
    assert page(settings, stack, host=f"api.{stack}.y.localhost")["host"] == f"api.{stack}.y.localhost:{settings.router_port}"
    assert engine.store.require_stack(stack).state == "running"

    sample_repo.write({"www/content.txt": "main-2"})
    commit = sample_repo.commit("second")
    second = succeeded(redeploy(engine, stack))
    assert steps(second)["build"] == "ok" and second.commit == commit
    assert page(settings, stack)["content"] == "main-2"

    images_before = app_images(docker_client, settings)
    third = succeeded(redeploy(engine, stack))
    assert steps(third)["build"] == "skipped"  # a no-change redeploy builds nothing ...
    assert steps(third)["processes"] == "skipped"  # ... and touches no service
    assert app_images(docker_client, settings) == images_before
    assert page(settings, stack)["content"] == "main-2"


def test_deploy_moves_a_stack_to_another_branch(engine: Engine, settings: Settings, sample_repo: SampleRepo) -> None:
    stack = unique("s")
    succeeded(deploy(engine, stack, "main"))
    sample_repo.branch("feature/x")
    sample_repo.write({"www/content.txt": "feature-x"})
    sample_repo.commit("feature")
    moved = succeeded(deploy(engine, stack, "feature/x"))
    assert moved.branch == "feature/x"
    assert page(settings, stack)["content"] == "feature-x" and page(settings, stack)["branch"] == "feature/x"
    assert engine.store.require_stack(stack).branch == "feature/x"


def test_env_reaches_the_app_without_a_rebuild_and_is_never_shown(
    engine: Engine, settings: Settings, sample_repo: SampleRepo, docker_client: docker.DockerClient, tmp_path
) -> None:
    stack = unique("s")
    succeeded(deploy(engine, stack))
    assert page(settings, stack)["greeting"] == "from-spec"
    images = app_images(docker_client, settings)
    canary = "canary-" + hashlib.sha1(stack.encode()).hexdigest()
    env = env_for_cli(settings, tmp_path)

    result = run_cli(["env", stack, "set", f"SECRET_TOKEN={canary}", "GREETING=from-env"], env)
    assert result.returncode == 0, result.stderr
    assert "SECRET_TOKEN" in result.stdout and "build" not in result.stdout.split("processes")[0]
    shown = page(settings, stack)
    assert shown["greeting"] == "from-env"
    assert shown["secret_sha256"] == hashlib.sha256(canary.encode()).hexdigest()
    assert app_images(docker_client, settings) == images  # no rebuild
    latest = engine.store.deployments(stack, limit=1)[0]
    assert latest.kind == "env" and "build" not in steps(latest)

    outputs = [result.stdout + result.stderr]
    for args in (["env", stack], ["status", stack], ["logs", stack], ["list"]):
        shown_cli = run_cli(args, env)
        assert shown_cli.returncode == 0, shown_cli.stderr
        outputs.append(shown_cli.stdout + shown_cli.stderr)
    assert "SECRET_TOKEN=••••••\n" in outputs[1]  # listed, masked: no characters, no length
    assert all(canary not in text for text in outputs)
    assert files_containing(settings.data_dir, canary) == []  # database, WAL, logs: encrypted or absent

    result = run_cli(["env", stack, "unset", "GREETING"], env)
    assert result.returncode == 0, result.stderr
    assert page(settings, stack)["greeting"] == "from-spec"


def test_an_env_change_is_live_when_every_request_through_the_router_sees_it(
        engine: Engine, settings: Settings) -> None:
    """From the moment the change says it is done, no request through the router reaches the
    old task: the router's DNS cache no longer holds it (the old task still runs a while)."""
    stack = unique("l")
    succeeded(deploy(engine, stack))
    seen: list[tuple[float, str]] = []  # (when the request was sent, the greeting it got)
    stop = threading.Event()

    def poll() -> None:
        session = requests.Session()
        while not stop.is_set():
            sent = time.monotonic()
            text = session.get(settings.router_check_url + "/", headers={"Host": f"{stack}.{settings.domains[0]}"},
                               timeout=15).text
            seen.append((sent, next((line for line in text.splitlines() if line.startswith("greeting=")), text[:80])))
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        changed, handle = engine.change_env(stack, {"GREETING": "changed"}, [], ADMIN)
        assert changed == ["GREETING"] and handle is not None
        succeeded(handle.wait(240))
        live = time.monotonic()
        time.sleep(3)  # the old task is still running for part of this
    finally:
        stop.set()
        poller.join()
    before = [greeting for sent, greeting in seen if sent < live]
    after = [greeting for sent, greeting in seen if sent >= live]
    assert "greeting=from-spec" in before and len(after) > 20
    assert set(after) == {"greeting=changed"}


def test_worker_release_and_middleware(engine: Engine, settings: Settings, sample_repo: SampleRepo,
                                       docker_client: docker.DockerClient) -> None:
    sample_repo.write({
        ".yadockeri.yml": (
            "processes:\n"
            "  web: {command: 'exec httpd -f -v -p $PORT -h /www'}\n"
            "  worker: {command: 'while true; do sleep 5; done'}\n"
            "services: compose.yml\n"
            "env: {MIDDLEWARE_URL: 'http://cache:8080/'}\n"
            "release: 'echo release-ran-$YADOCKERI_STACK; wget -q -O - http://cache:8080/'\n"
            "resources: {worker: {cpus: 0.25, memory: 64m}}\n"
        ),
        "compose.yml": (
            "version: '3.8'\n"
            "services:\n"
            "  cache:\n"
            "    image: busybox:latest\n"
            "    command: [sh, -c, 'mkdir -p /srv && echo middleware-ok > /srv/index.html && exec httpd -f -p 8080 -h /srv']\n"
            "    volumes: ['cachedata:/data']\n"
            "volumes:\n"
            "  cachedata: {}\n"
        ),
    })
    sample_repo.commit("with middleware")
    stack = unique("s")
    first = succeeded(deploy(engine, stack))
    assert steps(first)["release"] == "ok"
    assert first.log_tail is not None
    assert f"release: release-ran-{stack}" in first.log_tail and "release: middleware-ok" in first.log_tail
    assert page(settings, stack)["middleware"] == "middleware-ok"  # the web reaches middleware by name
    services = {s.name: s for s in engine.status(stack).services}
    assert set(services) == {f"{stack}_web", f"{stack}_worker", f"{stack}_cache"}
    assert services[f"{stack}_worker"].running == 1 and services[f"{stack}_cache"].role == "middleware"
    worker = docker_client.services.get(f"{stack}_worker").attrs["Spec"]["TaskTemplate"]["Resources"]["Limits"]
    assert worker == {"NanoCPUs": 250_000_000, "MemoryBytes": 64 * 1024 * 1024, "Pids": 1024}  # pids: the default
    assert docker_client.api.services(filters={"name": f"{stack}__release"}) == []  # the job is gone

    second = succeeded(redeploy(engine, stack))  # nothing changed: no release, middleware untouched
    assert "release" not in steps(second) and steps(second)["middleware"] == "skipped"

    destroyed = engine.destroy(stack, ADMIN).wait(240)
    succeeded(destroyed)
    assert_nothing_left(docker_client, stack)


def test_two_stacks_deploy_in_parallel(engine: Engine, settings: Settings, sample_repo: SampleRepo) -> None:
    for branch in ("left", "right"):
        sample_repo.branch(branch)
        sample_repo.write({"www/content.txt": branch, "Dockerfile": sample_repo_dockerfile_slow()})
        sample_repo.commit(branch)
    stacks = {"left": unique("l"), "right": unique("r")}
    handles = {b: engine.deploy(s, b, ADMIN) for b, s in stacks.items()}
    records = {b: succeeded(h.wait(240)) for b, h in handles.items()}
    for branch, stack in stacks.items():
        assert page(settings, stack)["content"] == branch
    left, right = (next(s for s in records[b].steps if s.name == "build") for b in ("left", "right"))
    assert left.ended_at is not None and right.ended_at is not None
    assert left.started_at < right.ended_at and right.started_at < left.ended_at  # the builds overlapped


def test_destroy_removes_everything_but_shared_images(engine: Engine, settings: Settings,
                                                      docker_client: docker.DockerClient) -> None:
    a, b = unique("a"), unique("b")
    succeeded(deploy(engine, a))
    succeeded(deploy(engine, b))
    image = engine.store.require_stack(a).image
    assert image == engine.store.require_stack(b).image  # same commit, one image

    succeeded(engine.destroy(a, ADMIN).wait(240))
    assert_nothing_left(docker_client, a)
    assert docker_client.images.get(image)  # b still runs it
    assert page(settings, b)["content"] == "main-1"
    assert through_router(settings, a).status_code == 404
    assert engine.store.get_stack(a) is None
    assert [e.action for e in engine.store.events(a)][:2] == ["destroy", "destroy"]

    succeeded(engine.destroy(b, ADMIN).wait(240))
    assert_nothing_left(docker_client, b)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image)


def test_destroy_of_a_half_created_stack(engine: Engine, settings: Settings, sample_repo: SampleRepo,
                                         docker_client: docker.DockerClient) -> None:
    sample_repo.write({".yadockeri.yml": "processes:\n  web: {command: 'echo crashing; exit 1'}\nservices: c.yml\n",
                       "c.yml": "services:\n  side:\n    image: busybox:latest\n    command: [sleep, '3600']\n"})
    sample_repo.commit("broken web, working middleware")
    stack = unique("h")
    failed = deploy(engine, stack)
    assert failed.state == "failed" and engine.store.require_stack(stack).state == "failed"
    assert docker_client.api.services(filters={"label": f"yadockeri.stack={stack}"})  # half-created
    succeeded(engine.destroy(stack, ADMIN).wait(240))
    assert_nothing_left(docker_client, stack)


def test_deploys_of_one_stack_wait_in_line(engine: Engine, settings: Settings, sample_repo: SampleRepo) -> None:
    sample_repo.write({"Dockerfile": sample_repo_dockerfile_slow()})
    sample_repo.commit("slow build")
    stack = unique("q")
    first_reporter, second_reporter = RecordingReporter(), RecordingReporter()
    first = engine.deploy(stack, "main", ADMIN, reporter=first_reporter)
    second = engine.redeploy(stack, ADMIN, reporter=second_reporter)
    one, two = succeeded(first.wait(240)), succeeded(second.wait(240))
    assert one.finished_at is not None and two.started_at is not None
    assert one.finished_at <= two.started_at  # never interleaved
    waits = [args for name, args in second_reporter.events if name == "waiting"]
    assert waits
    lock = waits[0][1]
    assert isinstance(lock, LockRecord) and lock.deployment_id == one.id and lock.holder == "cli:test"


def sample_repo_dockerfile_slow() -> str:
    return ("FROM busybox:latest\nCOPY www /www\nRUN chmod +x /www/cgi-bin/index.cgi && sleep 2\n"
            'CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]\n')


def assert_nothing_left(client: docker.DockerClient, stack: str) -> None:
    label = {"label": f"yadockeri.stack={stack}"}
    assert client.api.services(filters=label) == []
    assert client.api.containers(all=True, filters=label) == []
    assert client.api.networks(filters=label) == []
    assert (client.api.volumes(filters=label).get("Volumes") or []) == []
    assert not [n for n in client.api.networks() if n["Name"].startswith(f"{stack}_")]
    assert not [v for v in client.api.volumes().get("Volumes") or [] if v["Name"].startswith(f"{stack}_")]



def test_destroy_is_idempotent(engine: Engine, docker_client: docker.DockerClient) -> None:
    """A destroy cut short (some objects gone, the stack left `destroying`) completes when run again."""
    stack = unique("i")
    succeeded(deploy(engine, stack))
    docker_client.api.remove_service(f"{stack}_web")  # half removed by an earlier attempt
    engine.store.set_stack_state(stack, "destroying")
    succeeded(engine.destroy(stack, ADMIN).wait(240))
    assert_nothing_left(docker_client, stack)
    assert engine.store.get_stack(stack) is None
