"""The Docker contract: what the pipeline, the job runner and maintenance rely on of a Docker
engine (stacks.ports.DockerPort), checked on FakeSwarm and on the real Swarm adapter alike.

The real variants are marked `swarm` and use only `docker.from_env()` and the local images
(busybox:latest): no router, no registry, none of tests/conftest.py's engine fixtures. Every
object they make is named after one `ct-<hex>` stack and removed after the test, also when it
fails. Where the real engine runs a command, the fake is scripted to do what the command does
(`Target.script`); the test then checks the same observable behaviour on both.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import docker
import docker.errors
import pytest
from docker import DockerClient

from stacks import readback, waits
from stacks.compose import MiddlewarePolicy, prepare_compose
from stacks.config import Settings
from stacks.docker_adapter import BuildRequest, Swarm, labels, specs
from stacks.docker_adapter.connect import docker_host
from stacks.errors import BuildFailed, YadockeriError
from stacks.limits import Limits, capabilities, log_driver
from stacks.ports import DockerPort
from tests.fakes.swarm import Behaviour, BuildScript, FakeSwarm

T = TypeVar("T")
HARDENING = specs.Hardening(cpus=0.25, memory_bytes=64 * 1024**2, pids=64)
MISSING_IMAGE = "ct-missing/none:1"


@dataclass
class Target:
    """One implementation under test, and a stack name no one else uses."""

    docker: DockerPort
    stack: str
    real: bool
    script: Callable[[str, Behaviour], None]
    fake: FakeSwarm | None = None  # the fake, to script what the real engine's commands do
    client: DockerClient | None = None  # the real engine, to look where DockerPort does not

    def until(self, check: Callable[[], T | None], what: str, timeout: float = 30) -> T:
        """What check() returns once it returns something (the fake answers at once)."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found is not None:
                return found
            assert time.monotonic() < deadline, f"{self.stack}: no {what} within {timeout}s"
            time.sleep(0.2)

    def process(self, name: str = "worker", command: str = "sleep 600", *, image: str = "busybox:latest",
                env: dict[str, str] | None = None, replicas: int = 1) -> dict:
        """A process service spec of this stack, as the pipeline makes one (on the stack's network)."""
        return specs.process_service_spec(specs.ProcessInput(
            stack=self.stack, app=self.stack, process=name, image=image, command=command, env=env or {"A": "1"},
            hardening=HARDENING, router_network="unused", update_monitor_s=1, replicas=replicas,
        ))

    def job(self, command: str) -> dict:
        return specs.release_job_spec(stack=self.stack, app=self.stack, image="busybox:latest", command=command,
                                      env={}, deployment_id=1, hardening=HARDENING)

    def network(self) -> str:
        name = labels.network_name(self.stack)
        self.docker.ensure_network(name, labels.stack_labels(self.stack, self.stack, "network"))
        return name


@pytest.fixture(scope="module")
def docker_engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env(timeout=120)
    yield client
    client.close()


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.swarm)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    stack = f"ct-{secrets.token_hex(4)}"
    if request.param == "fake":
        fake = FakeSwarm()
        yield Target(fake, stack, real=False, script=fake.behave, fake=fake)
        return
    client = request.getfixturevalue("docker_engine")
    try:
        yield Target(Swarm(client, docker_host()), stack, real=True, script=lambda name, behaviour: None, client=client)
    finally:
        _remove_everything_of(client, stack)


def _remove_everything_of(client: docker.DockerClient, stack: str) -> None:
    """Services, containers, networks, volumes and images named after the stack, whatever state
    the test left them in."""
    api = client.api
    def quietly(action: Callable[..., object], *args: object, **kwargs: object) -> None:
        try:
            action(*args, **kwargs)
        except docker.errors.APIError:
            pass

    for service in api.services():
        if service["Spec"]["Name"].startswith(stack):
            quietly(api.remove_service, service["ID"])
    for container in api.containers(all=True, filters={"label": f"yadockeri.stack={stack}"}):
        quietly(api.remove_container, container["Id"], force=True)
    for _ in range(40):  # a removed service's network endpoints go a moment later
        networks = [n for n in api.networks() if n["Name"].startswith(stack)]
        for network in networks:
            quietly(api.remove_network, network["Id"])
        if not [n for n in api.networks() if n["Name"].startswith(stack)]:
            break
        time.sleep(0.25)
    for volume in api.volumes().get("Volumes") or []:
        if volume["Name"].startswith(stack):
            quietly(api.remove_volume, volume["Name"], force=True)
    for image in api.images(filters={"label": f"yadockeri.app={stack}"}):
        quietly(api.remove_image, image["Id"], force=True)


def running(tasks: list[dict]) -> list[dict]:
    return [t for t in tasks if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


# Services ---------------------------------------------------------------------------------------
def test_a_service_that_does_not_exist(target: Target) -> None:
    name = f"{target.stack}_nothing"
    assert target.docker.service(name) is None
    assert target.docker.remove_service(name) is False
    assert target.docker.scale(name, 0) is False
    assert target.docker.service_logs(name) == []
    with pytest.raises(YadockeriError, match="not found"):  # a task list of no service is an error
        target.docker.tasks(name)


def test_apply_creates_reads_back_as_asked_then_leaves_alone_then_updates(target: Target) -> None:
    target.network()
    spec = target.process()
    assert target.docker.apply_service(spec) == "created"
    inspected = target.docker.service(spec["name"])
    assert inspected is not None
    names = target.docker.network_names(readback.network_ids([inspected]))
    assert readback.differences(inspected, readback.process_expected(spec), names) == []
    assert target.docker.apply_service(spec) == "unchanged"
    changed = target.process(env={"A": "2"})
    assert target.docker.apply_service(changed) == "updated"
    updated = target.docker.service(spec["name"])
    assert updated is not None and updated["Spec"]["Labels"][labels.HASH_LABEL] == changed["labels"][labels.HASH_LABEL]
    # settle_updates waits for this: swarm's update monitor passed
    target.until(lambda: (target.docker.service(spec["name"]) or {}).get("UpdateStatus", {}).get("State") == "completed"
                 or None, "completed update")
    assert target.docker.apply_service(target.process(env={"A": "2"}, replicas=2)) == "updated"  # a scale is a change


def test_a_service_on_a_network_that_does_not_exist_is_refused(target: Target) -> None:
    with pytest.raises(YadockeriError, match="not found"):
        target.docker.apply_service(target.process())
    assert target.docker.service(f"{target.stack}_worker") is None


def test_services_are_found_by_every_label_given(target: Target) -> None:
    target.network()
    for process in ("worker", "clock"):
        target.docker.apply_service(target.process(process))

    def found(**labels: str) -> list[str]:
        return sorted(s["Spec"]["Name"] for s in target.docker.services(**labels))

    assert found(**{"yadockeri.stack": target.stack}) == [f"{target.stack}_clock", f"{target.stack}_worker"]
    assert found(**{"yadockeri.stack": target.stack, "yadockeri.process": "clock"}) == [f"{target.stack}_clock"]
    assert found(**{"yadockeri.stack": target.stack, "yadockeri.role": "middleware"}) == []
    by_id = target.docker.services(**{"yadockeri.stack": target.stack, "yadockeri.process": "clock"})[0]["ID"]
    assert target.docker.remove_service(by_id) is True  # destroy removes by ID
    assert found(**{"yadockeri.stack": target.stack}) == [f"{target.stack}_worker"]


def test_a_running_task_carries_the_spec_hash_an_address_and_a_labelled_container(target: Target) -> None:
    network = target.network()
    spec = target.process()
    target.docker.apply_service(spec)
    task = target.until(lambda: next(iter(running(target.docker.tasks(spec["name"]))), None), "running task")
    assert task["Spec"]["ContainerSpec"]["Labels"][labels.HASH_LABEL] == spec["labels"][labels.HASH_LABEL]
    attachment = next(a for a in task["NetworksAttachments"] if a["Network"]["Spec"]["Name"] == network)
    assert attachment["Addresses"] and "/" in attachment["Addresses"][0]
    progress = waits.progress(target.docker.tasks(spec["name"]), want_hash=spec["labels"][labels.HASH_LABEL], replicas=1,
                              update={}, settle=0.0, router_network=network, now=datetime.now(UTC))
    assert progress.ready and progress.failure is None and progress.addresses
    containers = target.docker.containers(**{"yadockeri.stack": target.stack})
    assert [c["State"] for c in containers] == ["running"]
    assert containers[0]["Labels"]["com.docker.swarm.service.name"] == spec["name"]


def test_scaling_to_zero_stops_the_tasks_and_back_starts_them(target: Target) -> None:
    target.network()
    spec = target.process()
    target.docker.apply_service(spec)
    target.until(lambda: running(target.docker.tasks(spec["name"])) or None, "running task")
    assert target.docker.scale(spec["name"], 0) is True
    assert (target.docker.service(spec["name"]) or {})["Spec"]["Mode"] == {"Replicated": {"Replicas": 0}}
    target.until(lambda: not running(target.docker.tasks(spec["name"])) or None, "no running task")
    assert target.docker.scale(spec["name"], 0) is True
    assert target.docker.apply_service(spec) == "updated"  # a wake applies the same spec at its scale again
    target.until(lambda: running(target.docker.tasks(spec["name"])) or None, "running task again")


def test_a_process_that_keeps_exiting_is_seen_to(target: Target) -> None:
    target.network()
    spec = target.process("crash", "echo crashing; exit 1")
    target.script(spec["name"], Behaviour(exit_code=1, logs=("crashing",)))
    target.docker.apply_service(spec)

    def keeps_exiting() -> str | None:
        tasks = target.docker.tasks(spec["name"])
        return waits.progress(tasks, want_hash=spec["labels"][labels.HASH_LABEL], replicas=1, update={}, settle=0.0,
                              router_network="unused", now=datetime.now(UTC)).failure

    assert target.until(keeps_exiting, "crash loop") == "keeps exiting"
    errors = {t["Status"].get("Err") for t in target.docker.tasks(spec["name"]) if t["Status"]["State"] == "failed"}
    assert errors == {"task: non-zero exit (1)"}
    assert "crashing" in target.docker.service_logs(spec["name"])


def test_a_task_whose_image_is_missing_is_rejected_saying_so(target: Target) -> None:
    target.network()
    spec = target.process(image=MISSING_IMAGE)
    target.docker.apply_service(spec)
    rejected = target.until(lambda: [t for t in target.docker.tasks(spec["name"]) if t["Status"]["State"] == "rejected"]
                            or None, "rejected task")
    assert rejected[0]["Status"]["Err"] == f"No such image: {MISSING_IMAGE}"


# Jobs -------------------------------------------------------------------------------------------
def test_a_job_completes_with_its_output_and_leaves_an_exited_container(target: Target) -> None:
    target.network()
    spec = target.job("echo migrated; echo twice")
    target.script(spec["name"], Behaviour(logs=("migrated", "twice")))
    target.docker.create_job(spec)
    ended = target.until(lambda: [t for t in target.docker.tasks(spec["name"]) if t["Status"]["State"] == "complete"]
                         or None, "complete task")
    assert ended[0]["DesiredState"] == "complete" and not ended[0]["Status"].get("Err")
    target.until(lambda: target.docker.service_logs(spec["name"]) == ["migrated", "twice"] or None, "the job's output")
    assert target.docker.remove_service(spec["name"]) is True
    labels = {"com.docker.swarm.service.name": spec["name"]}
    assert [c["State"] for c in target.docker.containers(**labels)] == ["exited"]  # swarm keeps a job's
    assert target.docker.remove_containers(**labels) == 1
    assert target.docker.containers(**labels) == []


def test_a_failing_job_says_its_exit_code(target: Target) -> None:
    target.network()
    spec = target.job("echo broken; exit 3")
    target.script(spec["name"], Behaviour(exit_code=3, logs=("broken",)))
    target.docker.create_job(spec)
    failed = target.until(lambda: [t for t in target.docker.tasks(spec["name"]) if t["Status"]["State"] == "failed"]
                          or None, "failed task")
    assert failed[0]["Status"]["Err"] == "task: non-zero exit (3)"
    target.until(lambda: "broken" in target.docker.service_logs(spec["name"]) or None, "the job's output")
    target.docker.create_job(spec)  # a leftover of the same name is replaced
    assert len(target.docker.services(**{"yadockeri.stack": target.stack, "yadockeri.role": "release"})) == 1


# Networks, containers ---------------------------------------------------------------------------
def test_networks_are_made_once_listed_by_id_and_removed_by_label(target: Target) -> None:
    name = target.network()
    target.network()
    network = target.docker.network_verbose(name)
    assert network is not None and network["Name"] == name
    assert target.docker.network_names({network["Id"], "0" * 25}) == {network["Id"]: name}
    assert target.docker.remove_networks(**{"yadockeri.stack": target.stack}) == [name]
    assert target.docker.network_names({network["Id"]}) == {}
    assert target.docker.remove_networks(**{"yadockeri.stack": target.stack}) == []


def test_exited_only_leaves_running_containers_alone(target: Target) -> None:
    target.network()
    spec = target.process()
    target.docker.apply_service(spec)
    target.until(lambda: running(target.docker.tasks(spec["name"])) or None, "running task")
    assert target.docker.remove_containers(exited_only=True, **{"yadockeri.stack": target.stack}) == 0
    assert len(target.docker.containers(**{"yadockeri.stack": target.stack})) == 1
    target.docker.remove_service(spec["name"])
    target.until(lambda: target.docker.containers(**{"yadockeri.stack": target.stack}) == [] or None,
                 "containers gone")  # what destroy's wait_gone waits for


# Images and builds --------------------------------------------------------------------------------
def test_images_exist_by_reference_and_missing_ones_do_not(target: Target) -> None:
    assert target.docker.image_exists("busybox:latest") and target.docker.image_exists("busybox")
    assert not target.docker.image_exists(MISSING_IMAGE)
    assert target.docker.remove_image(MISSING_IMAGE) is False
    assert isinstance(target.docker.engine_log_driver(), str)
    assert target.docker.local_node_id() in [n["ID"] for n in target.docker.nodes()]


def test_a_build_makes_a_labelled_image_of_the_context(target: Target, tmp_path: Path) -> None:
    tag = f"yadockeri/{target.stack}:1"
    labels = {"yadockeri.app": target.stack, "yadockeri.commit": "c" * 40}
    lines: list[str] = []
    context = _context(tmp_path, {"Dockerfile": "FROM busybox:latest\nCOPY . /app\nRUN echo built\n",
                                  ".dockerignore": "private.txt\n", "private.txt": "kept out", "app.txt": "in"})
    image_id = target.docker.buildkit_build(_request(context, tag, labels), log_line=lines.append, timeout=120)
    assert any(re.fullmatch(r"#\d+ \[1/3\] FROM .*busybox:latest", line) for line in lines)  # its progress, line by line
    assert target.docker.image_exists(tag)
    (image,) = target.docker.images(**{"yadockeri.app": target.stack})
    assert image["RepoTags"] == [tag] and image["Labels"] == labels and image["Id"] == image_id
    assert image["Id"] in target.docker.own_image_ids()
    if target.fake is not None:  # what the build saw: .dockerignore applied
        assert set(target.fake.builds[-1].files) == {"Dockerfile", ".dockerignore", "app.txt"}
    assert target.docker.remove_image(tag) is True
    assert not target.docker.image_exists(tag) and target.docker.remove_image(tag) is False


def test_a_failed_build_is_build_failed_with_its_last_lines(target: Target, tmp_path: Path) -> None:
    if target.fake is not None:
        target.fake.build_script = BuildScript(fails="ERROR: executor failed running [/bin/sh -c exit 3]: exit code: 3")
    context = _context(tmp_path, {"Dockerfile": "FROM busybox:latest\nRUN exit 3\n"})
    tag = f"yadockeri/{target.stack}:1"
    with pytest.raises(BuildFailed) as failed:
        target.docker.buildkit_build(_request(context, tag, {"yadockeri.app": target.stack}), log_line=lambda line: None,
                                     timeout=120)
    first, *rest = str(failed.value).splitlines()
    assert first.startswith("docker build failed: ") and "exit code: 3" in first
    assert any(re.fullmatch(r"#\d+ \[2/2\] RUN exit 3", line) for line in rest)
    assert not target.docker.image_exists(tag)


def test_a_context_without_its_dockerfile_fails_to_build(target: Target, tmp_path: Path) -> None:
    context = _context(tmp_path, {"README": "no dockerfile here"})
    with pytest.raises(BuildFailed, match="failed to read dockerfile"):
        target.docker.buildkit_build(_request(context, f"yadockeri/{target.stack}:1", {"yadockeri.app": target.stack}),
                                     log_line=lambda line: None, timeout=120)


# docker stack deploy ------------------------------------------------------------------------------
COMPOSE = """\
services:
  cache:
    image: busybox:latest
    command: sleep 600
    environment: {PLAIN: "1", PRICE: "5$ or $HOME"}
    volumes:
      - data:/data
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1m}}
    healthcheck: {test: "true", interval: 5s, retries: 3}
volumes:
  data: {}
"""


def test_stack_deploy_makes_what_yadockeri_checked(target: Target) -> None:
    settings = Settings(data_dir=Path("/nonexistent"))
    policy = MiddlewarePolicy(limits=Limits.of(settings), capabilities=tuple(capabilities(())),
                              log_driver=log_driver(target.docker.engine_log_driver()), registry=None,
                              own_images=frozenset(target.docker.own_image_ids()), max_bytes=settings.max_spec_bytes)
    compose = prepare_compose(COMPOSE, stack=target.stack, process_names={"web"}, endpoint_mode="dnsrr",
                              labels=labels.stack_labels(target.stack, target.stack, "middleware"), source="mw.yml",
                              policy=policy)
    target.docker.stack_deploy(target.stack, compose.yaml, with_registry_auth=False)
    (service,) = target.docker.services(**{"yadockeri.stack": target.stack, "yadockeri.role": "middleware"})
    assert service["Spec"]["Name"] == f"{target.stack}_cache"
    expected = readback.middleware_expected(target.stack, "cache", compose.data["services"]["cache"],
                                            tmpfs_max=Limits.of(settings).max_tmpfs)
    assert readback.differences(service, expected, target.docker.network_names(readback.network_ids([service]))) == []
    env = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert sorted(env) == ["PLAIN=1", "PRICE=5$ or $HOME"]  # the CLI read the text, not its own environment
    assert labels.network_name(target.stack) in target.docker.network_names(readback.network_ids([service])).values()
    target.docker.stack_deploy(target.stack, compose.yaml, with_registry_auth=False)  # again: the same service
    assert len(target.docker.services(**{"yadockeri.stack": target.stack})) == 1
    target.until(lambda: running(target.docker.tasks(f"{target.stack}_cache")) or None, "running middleware")
    target.until(lambda: f"{target.stack}_data" in _volume_names(target) or None, "its volume")


def _volume_names(target: Target) -> list[str]:
    if target.fake is not None:
        return target.fake.volume_names()
    assert target.client is not None
    return [v["Name"] for v in target.client.api.volumes().get("Volumes") or []]


def _context(folder: Path, files: dict[str, str]) -> Path:
    path = folder / "context"
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def _request(context: Path, tag: str, labels: dict[str, str]) -> BuildRequest:
    return BuildRequest(folder=context, dockerfile="Dockerfile", tag=tag, labels=labels)
