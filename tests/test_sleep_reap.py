"""Idle stacks on the real swarm and router, with short durations through the settings:
activity from the router's log, sleep to zero and wake on request, warn, keep, reap."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import requests

from stacks.config import Settings
from stacks.engine import Engine, StackEvent
from stacks.scheduler import Scheduler
from tests.conftest import env_for_cli, purge, unique
from tests.support.helpers import ADMIN, deploy, page, redeploy, succeeded, through_router, wait_until
from tests.support.sample_app import SampleRepo

pytestmark = pytest.mark.swarm


class Events:
    """StackEvents an engine emitted, to wait on."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[StackEvent] = []
        self._lock = threading.Lock()
        engine.add_listener(self._add)

    def _add(self, event: StackEvent) -> None:
        with self._lock:
            self.seen.append(event)

    def kinds(self, stack: str) -> list[str]:
        with self._lock:
            return [e.kind for e in self.seen if e.stack == stack]


@pytest.fixture
def idle_engine(make_settings: Callable[..., Settings],
                docker_client: docker.DockerClient) -> Iterator[Callable[..., tuple[Engine, Settings]]]:
    """An engine whose tests set the idle durations; its stacks are purged afterwards."""
    engines: list[Engine] = []

    def make(**durations: object) -> tuple[Engine, Settings]:
        settings = make_settings(app_name=app_name, **durations)
        engine = Engine(settings)
        engine.start()
        engines.append(engine)
        return engine, settings

    app_name = unique("a")
    yield make
    for engine in engines:
        names = [s.name for s in engine.list_stacks()]
        engine.close()
        for name in names:
            purge(docker_client, name)
    purge(docker_client, app_name)


def web_replicas(client: docker.DockerClient, stack: str) -> int:
    return client.api.inspect_service(f"{stack}_web")["Spec"]["Mode"]["Replicated"]["Replicas"]


def test_requests_through_the_router_count_as_activity(idle_engine) -> None:
    engine, settings = idle_engine()
    stack = unique("a")
    succeeded(deploy(engine, stack))
    scheduler = Scheduler(engine).start()
    try:
        wait_until(lambda: scheduler.tracker is not None, timeout=20)
        # The router reports a second's requests a moment later: let the deploy's own checks settle.
        time.sleep(3 * settings.activity_flush + 2)
        before = engine.store.require_stack(stack)
        for _ in range(20):
            assert through_router(settings, stack).status_code == 200
        for _ in range(5):
            through_router(settings, stack, host=f"api.{stack}.y2.localhost")  # any name of the stack
        through_router(settings, "nosuchstack")  # another stack's requests are not this one's
        wait_until(lambda: engine.store.require_stack(stack).requests >= before.requests + 25, timeout=30)
        time.sleep(3 * settings.activity_flush + 2)  # and nothing more arrives
        after = engine.store.require_stack(stack)
        assert after.requests == before.requests + 25
        assert after.last_request_at is not None and after.last_activity_at > before.last_activity_at
    finally:
        scheduler.stop()


def test_an_idle_stack_sleeps_and_a_request_wakes_it(idle_engine, docker_client: docker.DockerClient) -> None:
    engine, settings = idle_engine(sleep_after=4)
    events = Events(engine)
    stack = unique("s")
    succeeded(deploy(engine, stack))
    scheduler = Scheduler(engine).start()
    try:
        wait_until(lambda: engine.store.require_stack(stack).state == "sleeping", timeout=60)
        assert web_replicas(docker_client, stack) == 0 and engine.store.require_stack(stack).asleep
        asleep = requests.get(settings.router_check_url + "/", timeout=15,
                              headers={"Host": f"{stack}.y.localhost", "Accept": "text/html"})
        assert asleep.status_code == 503 and asleep.headers["X-Yadockeri-Page"] == "sleeping", asleep.text
        assert asleep.headers["Retry-After"] == "5" and 'http-equiv="refresh"' in asleep.text
        api = requests.get(settings.router_check_url + "/", headers={"Host": f"{stack}.y.localhost"}, timeout=15)
        assert api.status_code == 503 and "<html" not in api.text  # not a browser: plain 503
        wait_until(lambda: through_router(settings, stack).status_code == 200, timeout=90)
        assert page(settings, stack)["content"] == "main-1"
        wait_until(lambda: "woke" in events.kinds(stack), timeout=30)
        wakes = [d for d in engine.store.deployments(stack, limit=20) if d.kind == "wake"]
        assert len(wakes) == 1 and wakes[0].state == "succeeded"  # however many requests asked
        assert events.kinds(stack)[:3] == ["created", "slept", "woke"]
    finally:
        scheduler.stop()


def test_deploying_a_sleeping_stack_wakes_it(idle_engine, sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    engine, settings = idle_engine(sleep_after=2)
    stack = unique("d")
    succeeded(deploy(engine, stack))
    time.sleep(2.5)  # idle for sleep_after: one pass (without a scheduler) puts it to sleep
    assert [a.kind for a in engine.idle_pass()] == ["sleep"]
    wait_until(lambda: engine.store.require_stack(stack).asleep, timeout=60)
    sample_repo.write({"www/content.txt": "main-2"})
    sample_repo.commit("while asleep")
    succeeded(redeploy(engine, stack))
    assert web_replicas(docker_client, stack) == 1 and page(settings, stack)["content"] == "main-2"
    assert engine.store.require_stack(stack).state == "running"


def test_warned_stacks_are_reaped_unless_kept(idle_engine, docker_client: docker.DockerClient) -> None:
    engine, settings = idle_engine(sleep_after=3600, reap_after=2, reap_warning=4)
    events = Events(engine)
    kept, reaped = unique("k"), unique("r")
    succeeded(deploy(engine, kept))
    succeeded(deploy(engine, reaped))
    scheduler = Scheduler(engine).start()
    try:
        wait_until(lambda: engine.store.require_stack(kept).state == "warned", timeout=60)
        engine.keep(kept, ADMIN, seconds=86400)
        wait_until(lambda: engine.store.get_stack(reaped) is None, timeout=90)
        wait_until(lambda: "reaped" in events.kinds(reaped), timeout=10)  # announced just after the record goes
        assert events.kinds(reaped).count("warned") == 1 and events.kinds(reaped).count("reaped") == 1
        assert docker_client.api.services(filters={"label": f"yadockeri.stack={reaped}"}) == []
        assert through_router(settings, reaped).status_code == 404
        survivor = engine.store.require_stack(kept)
        assert survivor.state == "running" and survivor.keep_until is not None
        assert page(settings, kept)["content"] == "main-1"
        assert "kept" in events.kinds(kept) and "reaped" not in events.kinds(kept)
        assert [e.actor for e in engine.store.events(reaped) if e.action == "destroy"][0] == "scheduler"
    finally:
        scheduler.stop()


def destroyed_ok(engine: Engine, stack: str) -> bool:
    """The destroy's event, recorded just after the stack's record goes."""
    return any(e.action == "destroy" and e.result == "ok" for e in engine.store.events(stack))


def test_two_schedulers_act_once(idle_engine) -> None:
    first, settings = idle_engine(sleep_after=3600, reap_after=2, reap_warning=2)
    second = Engine(settings)
    second.start()
    stack = unique("t")
    succeeded(deploy(first, stack))
    schedulers = [Scheduler(first, serve_status=False).start(), Scheduler(second, serve_status=False).start()]
    try:
        wait_until(lambda: first.store.get_stack(stack) is None and destroyed_ok(first, stack), timeout=90)
        history = first.store.events(stack)
        assert [e.action for e in history].count("warn") == 1
        destroys = [e for e in history if e.action == "destroy" and e.result == "ok"]
        assert len(destroys) == 1
        assert sum(1 for s in schedulers if s.passes) >= 1
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        second.close()


def test_a_killed_scheduler_loses_no_reap_and_reaps_nothing_twice(idle_engine, tmp_path: Path,
                                                                 docker_client: docker.DockerClient) -> None:
    engine, settings = idle_engine(sleep_after=3600, reap_after=2, reap_warning=6)
    stack = unique("x")
    succeeded(deploy(engine, stack))
    env = env_for_cli(settings, tmp_path)
    command = [sys.executable, "-m", "yadockeri", "reaper"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: engine.store.require_stack(stack).state == "warned", timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: engine.store.get_stack(stack) is None and destroyed_ok(engine, stack), timeout=120)
        history = engine.store.events(stack)
        assert [e.action for e in history].count("warn") == 1
        assert len([e for e in history if e.action == "destroy" and e.result == "ok"]) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_unused_images_are_collected(idle_engine, sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    engine, settings = idle_engine(image_min_age=0)
    stack = unique("g")
    first = succeeded(deploy(engine, stack))
    sample_repo.write({"www/content.txt": "main-2"})
    sample_repo.commit("newer")
    second = succeeded(redeploy(engine, stack))
    assert first.image != second.image
    removed: list[str] = []

    def collected() -> bool:
        removed.extend(engine.collect_garbage())
        return first.image in removed

    # The old task's container stops a moment after the rollout: the next pass takes the image.
    wait_until(collected, timeout=60, interval=1)
    assert removed == [first.image]
    assert docker_client.images.get(second.image)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(first.image)
    assert page(settings, stack)["content"] == "main-2"
