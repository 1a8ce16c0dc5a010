"""What a branch and a stack's processes can reach, proven from the host's side and from inside a
stack's own container on the real swarm, not from yadockeri's view of itself.

- no raw sockets (forged ARP) in any task, no capability beyond the minimal set, no new privileges;
- no port of the host (but the token-guarded status endpoint), no link-local address, from a
  running process or from a build step;
- a fork bomb in middleware meets its pids limit while another stack keeps answering;
- branches carrying the known escapes are refused with a clear error and leave nothing behind;
- what Docker runs is read back: a docker CLI that read a different document stops the deploy;
- an endless build stops at YADOCKERI_BUILD_TIMEOUT.
"""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from stacks.config import Settings
from stacks.engine import Engine
from stacks.limits import CAPABILITIES
from stacks.router import CHECK_HEADER, RESOLVE_PATH, RESOLVED_HEADER, UPSTREAM_HEADER
from tests.conftest import unique
from tests.support.helpers import ADMIN, deploy, page, steps, succeeded, through_router, wait_until
from tests.support.sample_app import DOCKERFILE, SampleRepo

pytestmark = pytest.mark.swarm

# Linux capability numbers (include/uapi/linux/capability.h) of the names yadockeri keeps.
CAP_NUMBERS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
               "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10}
CAP_NET_RAW = 13


def container_of(client: docker.DockerClient, service: str) -> docker.models.containers.Container:
    """The running container of a service's task on this node."""
    def find() -> docker.models.containers.Container | None:
        found = client.containers.list(filters={"label": f"com.docker.swarm.service.name={service}",
                                                "status": "running"})
        return found[0] if found else None
    return wait_until(find, 60, what=f"a running container of {service}")


def sh(container: docker.models.containers.Container, command: str) -> tuple[int, str]:
    result = container.exec_run(["sh", "-c", command])
    return result.exit_code, result.output.decode("utf-8", "replace")


def host_status(container: docker.models.containers.Container) -> dict[str, str]:
    """/proc/<pid>/status of the container's first process, read on the host."""
    container.reload()
    text = Path(f"/proc/{container.attrs['State']['Pid']}/status").read_text()
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def cgroup_file(container: docker.models.containers.Container, name: str) -> str:
    """A file of the container's cgroup, read on the host (cgroup v2, or v1's pids hierarchy)."""
    container.reload()
    lines = Path(f"/proc/{container.attrs['State']['Pid']}/cgroup").read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            return Path(f"/sys/fs/cgroup{path}/{name}").read_text().strip()
        if "pids" in controllers.split(","):
            return Path(f"/sys/fs/cgroup/pids{path}/{name}").read_text().strip()
    raise AssertionError(f"no cgroup found in {lines}")


def gateway(client: docker.DockerClient, network: str) -> str:
    return client.api.inspect_network(network)["IPAM"]["Config"][0]["Gateway"]


class HostListener:
    """A TCP server on every address of the host that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[HostListener]:
    server = HostListener()
    yield server
    server.close()


def with_middleware(repo: SampleRepo, compose: str, message: str) -> None:
    repo.write({
        ".yadockeri.yml": "processes:\n  web: {command: \"exec httpd -f -p $PORT -h /www\"}\nservices: mw.yml\n",
        "mw.yml": compose,
    })
    repo.commit(message)


# Privileges ------------------------------------------------------------------------------------
def test_tasks_have_no_raw_sockets_and_only_the_minimal_capabilities(
        engine: Engine, settings: Settings, sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    victim, attacker = unique("v"), unique("a")
    succeeded(deploy(engine, victim))
    succeeded(deploy(engine, attacker))
    web = container_of(docker_client, f"{attacker}_web")

    # Seen from the host: the kernel's own record of the process's capabilities.
    status = host_status(web)
    wanted = sum(1 << CAP_NUMBERS[name] for name in CAPABILITIES)
    assert int(status["CapBnd"], 16) == wanted and int(status["CapEff"], 16) == wanted
    assert not int(status["CapBnd"], 16) & (1 << CAP_NET_RAW)
    assert status["NoNewPrivs"].strip() == "1"  # dockerd's no-new-privileges (scripts/setup.sh)

    # From inside: no packet socket, so no ARP frame of any kind (a forged "I am the victim"
    # reply included) can be sent.
    victim_ip = _router_ip(docker_client, settings, f"{victim}_web")
    code, output = sh(web, f"arping -c 1 -I eth0 {victim_ip}")
    assert code != 0 and "socket: Operation not permitted" in output
    code, output = sh(web, "ping -c 1 -W 1 127.0.0.1")
    assert code != 0 and "permission denied" in output.lower()

    # The control: the same image with Docker's default capabilities sends it (the test can fail).
    control = docker_client.containers.run("busybox:latest", ["arping", "-c", "1", "-I", "eth0", "172.17.0.1"],
                                           remove=True, stdout=True, stderr=True)
    assert b"Sent 1 probe" in control

    # Requests for the victim arrive at the victim, and the router says which task answered.
    assert settings.router_token is not None
    for _ in range(10):
        response = requests.get(settings.router_check_url + "/", timeout=10, headers={
            "Host": f"{victim}.{settings.domains[0]}", CHECK_HEADER: settings.router_token.get_secret_value()})
        assert response.status_code == 200 and "branch=main" in response.text
        assert response.headers[UPSTREAM_HEADER].rsplit(":", 1)[0] == victim_ip


def _router_ip(client: docker.DockerClient, settings: Settings, service: str) -> str:
    for task in client.api.tasks(filters={"service": service, "desired-state": "running"}):
        for attachment in task.get("NetworksAttachments") or []:
            if attachment["Network"]["Spec"]["Name"] == settings.router_network:
                return attachment["Addresses"][0].split("/")[0]
    raise AssertionError(f"{service} has no address on {settings.router_network}")


# What a stack can reach -------------------------------------------------------------------------
def test_a_process_reaches_no_port_of_the_host_and_no_link_local_address(
        engine: Engine, settings: Settings, docker_client: docker.DockerClient, listener: HostListener) -> None:
    stack = unique("n")
    succeeded(deploy(engine, stack))
    web = container_of(docker_client, f"{stack}_web")
    host = gateway(docker_client, "docker_gwbridge")

    # The host itself reaches its listener: it is there and answers.
    with socket.create_connection((host, listener.port), timeout=5):
        pass
    wait_until(lambda: listener.accepted == 1, 5, what="the host's own connection")

    code, output = sh(web, f"echo x | nc -w 3 {host} {listener.port}")
    assert code != 0 and "Connection refused" in output
    code, output = sh(web, "echo x | nc -w 3 169.254.169.254 80")  # cloud metadata
    assert code != 0 and ("unreachable" in output.lower() or "refused" in output.lower())
    time.sleep(0.5)
    assert listener.accepted == 1  # nothing from the container arrived


def test_a_build_step_reaches_no_port_of_the_host(
        engine: Engine, sample_repo: SampleRepo, docker_client: docker.DockerClient, listener: HostListener) -> None:
    host = gateway(docker_client, "bridge")  # BuildKit's build steps run on the default bridge (docker0)
    sample_repo.write({"Dockerfile": DOCKERFILE.replace(
        "CMD", f"RUN if echo x | nc -w 3 {host} {listener.port}; then echo HOST-REACHED; else echo HOST-BLOCKED; fi\nCMD")})
    sample_repo.commit("a build step that knocks on the host")
    record = succeeded(deploy(engine, unique("b")))
    assert record.log_tail is not None
    # BuildKit's plain progress: `#<step> <seconds> <what the step printed>`
    lines = [re.sub(r"^#\d+ \d+\.\d+ ", "", line).strip() for line in record.log_tail.splitlines()]
    assert "HOST-BLOCKED" in lines and "HOST-REACHED" not in lines
    assert f"nc: can't connect to remote host ({host}): Connection refused" in lines
    assert listener.accepted == 0


# Limits ------------------------------------------------------------------------------------------
def test_a_fork_bomb_in_middleware_meets_its_pids_limit_while_another_stack_answers(
        engine: Engine, settings: Settings, sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    neighbour = unique("g")
    succeeded(deploy(engine, neighbour))
    with_middleware(sample_repo, (
        "services:\n"
        "  bomb:\n"
        "    image: busybox:latest\n"
        "    command: [sh, -c, 'b() { b | b & }; b; sleep 600']\n"
    ), "a fork bomb as middleware")
    bomber = unique("f")
    succeeded(deploy(engine, bomber))
    bomb = container_of(docker_client, f"{bomber}_bomb")
    limit = int(cgroup_file(bomb, "pids.max"))
    assert limit == settings.default_pids

    def refused_forks() -> int:  # the kernel counts the forks the limit refused (cgroup v2)
        events = dict(line.split() for line in cgroup_file(bomb, "pids.events").splitlines())
        return int(events.get("max", 0))
    wait_until(lambda: refused_forks() > 0, 120, what="the pids limit refusing the bomb's forks")
    for _ in range(10):  # the node keeps serving other stacks
        assert page(settings, neighbour)["content"] == "main-1"
    assert int(cgroup_file(bomb, "pids.current")) <= limit


# Branches that try to escape -----------------------------------------------------------------------
def _binary(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


ESCAPES = {
    "tagged key": (f"services:\n  m:\n    image: busybox:latest\n    volumes:\n"
                   f"      - {{type: volume, !!binary {_binary('type')}: bind, source: /etc, target: /h}}\n",
                   "tag"),
    "duplicate key": ("services:\n  m:\n    image: busybox:latest\n    volumes:\n"
                      "      - {type: volume, source: x, target: /h, type: bind}\n", "appears twice"),
    "merge into a bind": ("x-b: &b {type: bind, source: /etc}\nservices:\n  m:\n    image: busybox:latest\n"
                          "    volumes:\n      - {<<: *b, target: /h}\n", "bind"),
    "host path": ("services:\n  m: {image: busybox:latest, volumes: ['/var/run/docker.sock:/s']}\n", "host path"),
    "volume driver options": ("services:\n  m: {image: busybox:latest, volumes: ['v:/d']}\n"
                              "volumes:\n  v: {driver_opts: {type: none, o: bind, device: /etc}}\n", "driver_opts"),
    "log driver": ("services:\n  m:\n    image: busybox:latest\n    logging: {driver: syslog, options: "
                   "{syslog-address: 'tcp://127.0.0.1:PORT'}}\n", "logging"),
    "privileged": ("services:\n  m: {image: busybox:latest, privileged: true}\n", "privileged"),
    "host pid": ("services:\n  m: {image: busybox:latest, pid: host}\n", "pid"),
    "capabilities": ("services:\n  m: {image: busybox:latest, cap_add: [SYS_ADMIN]}\n", "cap_add"),
    "global mode": ("services:\n  m: {image: busybox:latest, deploy: {mode: global}}\n", "global"),
    "many replicas": ("services:\n  m: {image: busybox:latest, deploy: {replicas: 10000}}\n", "replicas"),
    "placement": ("services:\n  m: {image: busybox:latest, deploy: {placement: {constraints: "
                  "['node.role == manager']}}}\n", "placement"),
    "no limits": ("services:\n  m: {image: busybox:latest, deploy: {resources: {limits: {cpus: '0.0000000001'}}}}\n",
                  "cpus"),
    "empty env": ("services:\n  m: {image: busybox:latest, environment: [YADOCKERI_SECRET_KEY]}\n", "YADOCKERI_SECRET_KEY"),
    "alias bomb": ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nservices: {m: {image: busybox}}\n", "aliases"),
    "tagged value": ("services:\n  m: {image: !!str busybox:latest}\n", "tag"),
    "oversized file": ("services:\n  m: {image: busybox:latest}\n" + "# padding\n" * 30_000, "YADOCKERI_MAX_SPEC_BYTES"),
    "image id": ("services:\n  m: {image: 'sha256:IMAGEID'}\n", "image"),
    "another app's image": ("services:\n  m: {image: 'OTHERIMAGE'}\n", "image"),
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_an_escaping_branch_is_refused_and_leaves_nothing(
        name: str, engine: Engine, sample_repo: SampleRepo, docker_client: docker.DockerClient,
        listener: HostListener) -> None:
    compose, word = ESCAPES[name]
    if "IMAGEID" in compose or "OTHERIMAGE" in compose:  # an image yadockeri built for another stack
        other = unique("o")
        record = succeeded(deploy(engine, other))
        image = docker_client.images.get(record.image)
        compose = compose.replace("sha256:IMAGEID", image.id).replace("OTHERIMAGE", f"docker.io/{record.image}")
    with_middleware(sample_repo, compose.replace("PORT", str(listener.port)), f"escape: {name}")
    stack = unique("e")
    failed = deploy(engine, stack)
    assert failed.state == "failed", failed.log_tail
    assert steps(failed)["spec"] == "failed"
    assert failed.error is not None
    assert "mw.yml" in failed.error and word.lower() in failed.error.lower(), failed.error
    assert "internal error" not in failed.error
    # From the host: nothing of the stack runs, and dockerd connected nowhere.
    assert docker_client.api.services(filters={"label": f"yadockeri.stack={stack}"}) == []
    time.sleep(0.5)
    assert listener.accepted == 0


def test_what_runs_is_what_was_checked_as_seen_from_the_host(
        engine: Engine, sample_repo: SampleRepo, docker_client: docker.DockerClient, settings: Settings) -> None:
    with_middleware(sample_repo, (
        "services:\n"
        "  m:\n"
        "    image: busybox:latest\n"
        "    command: [sleep, '600']\n"
        "    environment: {LITERAL: '$HOME and ${SLACK_BOT_TOKEN}'}\n"
        "    ports: ['5432:5432']\n"
        "    labels: {yadockeri.stack: someone-else, com.docker.stack.namespace: someone-else}\n"
        "    volumes: ['data:/data']\n"
        "volumes: {data: {}}\n"
    ), "middleware that says more than it may")
    stack = unique("w")
    record = succeeded(deploy(engine, stack))
    assert record.log_tail is not None
    assert "published ports removed" in record.log_tail
    service = docker_client.api.inspect_service(f"{stack}_m")
    spec = service["Spec"]
    assert not (spec.get("EndpointSpec") or {}).get("Ports")
    assert spec["Labels"]["yadockeri.stack"] == stack and spec["Labels"]["com.docker.stack.namespace"] == stack
    container = container_of(docker_client, f"{stack}_m")
    assert "LITERAL=$HOME and ${SLACK_BOT_TOKEN}" in container.attrs["Config"]["Env"]  # no interpolation
    mounts = container.attrs["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [("volume", f"{stack}_data", "/data")]
    assert container.attrs["HostConfig"]["LogConfig"]["Config"] == {"max-file": "3", "max-size": "10m"}
    assert container.attrs["HostConfig"]["PidsLimit"] == settings.default_pids
    status = host_status(container)
    assert not int(status["CapBnd"], 16) & (1 << CAP_NET_RAW)


def test_a_docker_cli_that_reads_another_document_stops_the_deploy(
        engine: Engine, sample_repo: SampleRepo, docker_client: docker.DockerClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-back is independent of the checker: were the CLI to read a host bind mount out of
    the document (the parser confusion of Step 5), the deploy stops and removes the middleware."""
    from stacks.docker_adapter import Swarm

    with_middleware(sample_repo, "services:\n  m: {image: busybox:latest, command: [sleep, '600']}\n", "plain middleware")
    real = Swarm.stack_deploy

    def confused(self: Swarm, stack: str, compose_yaml: str, *, with_registry_auth: bool) -> str:
        tampered = compose_yaml.replace('"volumes": []', '"volumes": [{"type": "bind", "source": "/etc", "target": "/h"}]')
        assert tampered != compose_yaml
        return real(self, stack, tampered, with_registry_auth=with_registry_auth)

    monkeypatch.setattr(Swarm, "stack_deploy", confused)
    stack = unique("c")
    failed = deploy(engine, stack)
    assert failed.state == "failed" and steps(failed)["middleware"] == "failed"
    assert failed.error is not None
    assert "not what yadockeri checked" in failed.error and "bind" in failed.error
    wait_until(lambda: docker_client.api.services(filters={"label": f"yadockeri.stack={stack}",
                                                          "name": f"{stack}_m"}) == [], 30,
               what="the tampered middleware removed")


# Builds ------------------------------------------------------------------------------------------
def sleeping_builds() -> list[str]:
    """Processes of this host running the endless build step's `sleep 601` (BuildKit's steps are
    not containers Docker lists, but their processes are the host's)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"601"]:
                found.append(proc.name)
        except OSError:
            pass  # gone meanwhile
    return found


def test_an_endless_build_stops_at_the_build_timeout(
        make_settings, sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    settings = make_settings(build_timeout=8)
    engine = Engine(settings)
    engine.start()
    try:
        sample_repo.write({"Dockerfile": DOCKERFILE.replace("CMD", "RUN echo building-forever && sleep 601\nCMD")})
        sample_repo.commit("a build that never ends")
        wait_until(lambda: not sleeping_builds(), 60, what="no earlier build step left")
        failed = deploy(engine, unique("t"))
        assert failed.state == "failed" and steps(failed)["build"] == "failed"
        assert failed.error is not None
        assert "did not finish within 8s (YADOCKERI_BUILD_TIMEOUT)" in failed.error
        assert "building-forever" in failed.error  # the output's tail
        # The daemon cancelled the build: its step's process goes (long before the RUN would end).
        wait_until(lambda: not sleeping_builds(), 60, what="the cancelled build's step stopped")
    finally:
        engine.close()


def test_a_context_larger_than_the_limit_is_refused_before_it_is_read(
        make_settings, sample_repo: SampleRepo) -> None:
    settings = make_settings(max_context_bytes="64k")
    engine = Engine(settings)
    engine.start()
    try:
        sample_repo.write({"www/big.txt": "0" * 200_000})
        sample_repo.commit("a big file")
        failed = deploy(engine, unique("z"))
        assert failed.state == "failed" and steps(failed)["build"] == "failed"
        assert failed.error is not None
        assert "YADOCKERI_MAX_CONTEXT_BYTES" in failed.error
    finally:
        engine.close()


def test_the_readiness_check_counts_only_the_new_task(engine: Engine, settings: Settings,
                                                      docker_client: docker.DockerClient) -> None:
    stack = unique("r")
    succeeded(deploy(engine, stack))
    assert settings.router_token is not None
    token = settings.router_token.get_secret_value()
    answered = through_router(settings, stack)
    assert UPSTREAM_HEADER not in answered.headers  # a plain client is never told
    checked = requests.get(settings.router_check_url + "/", timeout=10,
                           headers={"Host": f"{stack}.{settings.domains[0]}", CHECK_HEADER: token})
    assert re.fullmatch(r"[0-9.]+:8080", checked.headers[UPSTREAM_HEADER])
    assert checked.headers[UPSTREAM_HEADER].rsplit(":", 1)[0] == _router_ip(docker_client, settings, f"{stack}_web")


def test_only_yadockeris_check_sees_the_routers_dns_cache(engine: Engine, settings: Settings,
                                                            docker_client: docker.DockerClient) -> None:
    """The router lists the addresses its DNS cache holds for a stack's web to the router's
    token only: the web's one task, nothing for a stack that does not exist."""
    stack = unique("q")
    succeeded(deploy(engine, stack))
    url = settings.router_check_url + RESOLVE_PATH
    assert settings.router_token is not None
    token = settings.router_token.get_secret_value()

    def ask(name: str, **headers: str) -> requests.Response:
        return requests.get(url + name, headers={"Host": "yadockeri-check", **headers}, timeout=10)

    listed = ask(stack, **{CHECK_HEADER: token})
    assert listed.headers["X-Yadockeri-Page"] == "resolve"
    assert listed.headers[RESOLVED_HEADER] == f"{_router_ip(docker_client, settings, f'{stack}_web')}:1"
    unknown = ask(unique("nothere"), **{CHECK_HEADER: token})
    assert unknown.headers["X-Yadockeri-Page"] == "resolve" and RESOLVED_HEADER not in unknown.headers
    for headers in ({}, {CHECK_HEADER: "ab" * 32}):
        refused = ask(stack, **headers)
        assert refused.status_code == 404 and RESOLVED_HEADER not in refused.headers
    assert ask("Not_A_Stack", **{CHECK_HEADER: token}).headers.get("X-Yadockeri-Page") == "no-such-host"


def test_the_status_endpoint_answers_a_stack_process_nothing(
        engine: Engine, settings: Settings, docker_client: docker.DockerClient) -> None:
    """The one host port a stack's process can connect to: it says 403 to anyone but the router
    (whose token is in its nginx.conf only), and neither looks the stack up nor wakes it."""
    from stacks.status_page import StatusApp, StatusServer

    asked: list[str] = []
    woken: list[str] = []
    assert settings.router_token is not None
    app = StatusApp(lambda name: asked.append(name), woken.append,
                    router_token=settings.router_token.get_secret_value())
    host = gateway(docker_client, "docker_gwbridge")
    server = StatusServer(app, host=host, port=settings.status_port).start()
    try:
        stack = unique("p")
        succeeded(deploy(engine, stack))
        web = container_of(docker_client, f"{stack}_web")
        for header in ("", "--header 'X-Yadockeri-Router: 0000' "):
            code, output = sh(web, f"wget -q -O - {header}http://{host}:{settings.status_port}/_yadockeri/stack/{stack}")
            assert code != 0 and "403" in output, output
        assert asked == [] and woken == []
        # The router, with its token, is answered (the same endpoint works).
        assert through_router(settings, unique("nobody")).headers["X-Yadockeri-Page"] == "unknown-stack"
        assert asked
    finally:
        server.stop()


def test_a_branch_that_conflicts_with_main_leaves_main_and_its_stacks_intact(
        engine: Engine, settings: Settings, sample_repo: SampleRepo) -> None:
    """`deploy x main/x` once deleted the mirror's `main` before asking the remote: after git's
    garbage collection, stacks on main could no longer be woken or have their env changed."""
    import subprocess

    stack = unique("m")
    succeeded(deploy(engine, stack))
    failed = deploy(engine, unique("x"), "main/x")
    assert failed.state == "failed"
    assert failed.error is not None
    assert "does not exist" in failed.error
    mirror = engine.mirror(next(iter(settings.apps))).path
    subprocess.run(["git", f"--git-dir={mirror}", "gc", "--prune=now", "--quiet"], check=True)
    heads = subprocess.run(["git", f"--git-dir={mirror}", "for-each-ref", "--format=%(refname)"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert "refs/heads/main" in heads and f"refs/yadockeri/stacks/{stack}" in heads
    _, handle = engine.change_env(stack, {"GREETING": "still-here"}, [], ADMIN)
    assert handle is not None
    succeeded(handle.wait(240))
    assert page(settings, stack)["greeting"] == "still-here"
