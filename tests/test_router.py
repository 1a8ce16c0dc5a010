"""The router against the real engine and swarm: nginx as a global service in host mode,
reaching stack web services (dnsrr, alias `<stack>.yadockeri-web`) and nothing else.

Everything created here is named with a unique prefix and removed in teardown, also on failure.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
import requests
from docker.types import ContainerSpec, EndpointSpec, NetworkAttachmentConfig, RestartPolicy, TaskTemplate, UpdateConfig

from stacks.activity import parse_line
from stacks.config import Settings, load_settings
from stacks.docker_adapter import Swarm
from stacks.docker_adapter.labels import web_alias
from stacks.errors import ConfigError
from stacks.router import (
    ROUTER_IMAGE_REPO,
    STACK_LABEL_RE,
    ensure_router,
    remove_router,
    router_dir_hash,
)
from tests.support.infra import free_subnet

pytestmark = pytest.mark.swarm

PREFIX = "t" + secrets.token_hex(3)
TEST_LABEL = "yadockeri.test"
STACK = f"{PREFIX}akira"
WEB = f"{STACK}_web"
MARKER_SERVICE = f"{PREFIX}marker"  # on the router network, but not a stack web
MARKER_ALIAS = f"{PREFIX}markalias"
MIDDLEWARE = f"{PREFIX}mw"  # on its own network, like a stack's memcached
MIDDLEWARE_NET = f"{PREFIX}mwnet"
MARKER_TEXT = f"MARKER-ROUTERNET-{PREFIX}"
MIDDLEWARE_TEXT = f"MARKER-MIDDLEWARE-{PREFIX}"
STACK_LABEL_RE_FULL = re.compile(STACK_LABEL_RE)
NS = 1_000_000_000

# busybox httpd: `/` is a marker file, /cgi-bin/env echoes what it got, /cgi-bin/bad is an app's 502.
CGI_ENV = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\nX-Yadockeri-Page: spoofed-by-app\\r\\n\\r\\n'
echo "MARKER=$MARKER"
echo "VERSION=$VERSION"
env | grep -E '^(HTTP_|REQUEST_|CONTENT_LENGTH)' | sort
"""
CGI_BAD = """#!/bin/sh
printf 'Status: 502 Bad Gateway\\r\\nContent-Type: text/plain\\r\\n\\r\\napp-says-502\\n'
"""
HTTPD = (
    'mkdir -p /www/cgi-bin && printf "%s" "$CGI_ENV" > /www/cgi-bin/env && printf "%s" "$CGI_BAD" > /www/cgi-bin/bad'
    ' && chmod 755 /www/cgi-bin/env /www/cgi-bin/bad && printf "%s\\n" "$MARKER" > /www/index.html'
    # PID 1 ignores SIGTERM unless it handles it: stop at once instead of after the grace period.
    " && { httpd -f -p 8080 -h /www & pid=$!; trap 'kill $pid; exit 0' TERM; wait $pid; }"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def _wait(what: str, check, timeout: float = 60.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _create_httpd(client: docker.DockerClient, name: str, network: str, aliases: list[str], marker: str) -> None:
    client.api.create_service(
        TaskTemplate(
            ContainerSpec(
                "busybox:latest",
                command=["sh", "-c", HTTPD],
                env={"CGI_ENV": CGI_ENV, "CGI_BAD": CGI_BAD, "MARKER": marker, "VERSION": "1"},
                stop_grace_period=2 * NS,
            ),
            networks=[NetworkAttachmentConfig(network, aliases=aliases)],
            restart_policy=RestartPolicy(condition="any", delay=1 * NS),
        ),
        name=name,
        endpoint_spec=EndpointSpec(mode="dnsrr"),
        labels={TEST_LABEL: PREFIX},
    )


def _running_task(client: docker.DockerClient, service: str) -> dict[str, Any] | None:
    for task in client.api.tasks(filters={"service": service, "desired-state": "running"}):
        if task["Status"]["State"] == "running":
            return task
    return None


def _task_ip(task: dict[str, Any], network: str) -> str:
    for attachment in task.get("NetworksAttachments") or []:
        if attachment["Network"]["Spec"]["Name"] == network:
            return attachment["Addresses"][0].split("/")[0]
    raise AssertionError(f"task {task['ID']} has no address on {network}")


def _remove_service(client: docker.DockerClient, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_service(name)


def _remove_network(client: docker.DockerClient, name: str, timeout: float = 60) -> None:
    """Remove a swarm network and wait until this node has dropped it too."""
    deadline = time.monotonic() + timeout
    while True:
        found = [n for n in client.api.networks(names=[name]) if n["Name"] == name]
        if not found:
            return
        with contextlib.suppress(docker.errors.APIError):  # in use by a task still, or gone
            client.api.remove_network(found[0]["Id"])
        if time.monotonic() > deadline:
            raise AssertionError(f"network {name} is still there after {timeout}s")
        time.sleep(0.2)


def _sweep(client: docker.DockerClient) -> None:
    """Remove whatever this module created that is still there (teardown after a failure)."""
    for service in client.api.services(filters={"label": f"{TEST_LABEL}={PREFIX}"}):
        _remove_service(client, service["ID"])


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    assert client.info()["Swarm"]["LocalNodeState"] == "active", "these tests need a swarm (docker swarm init)"
    yield client
    client.close()


def _settings(tmp_path, **overrides) -> Settings:
    values: dict[str, Any] = dict(
        router_network=f"{PREFIX}rnet",
        router_subnet=free_subnet(),  # its own: two networks of one subnet share swarm's addresses
        router_service=f"{PREFIX}router",
        router_port=_free_port(),
        router_image=None,
        router_url=None,
        router_base_image="yadockeri/nginx-base:local",
        domain="y.localhost,y2.localhost",
        data_dir=tmp_path,
        firewall=False,  # the host's packet filter belongs to the session's router (tests/conftest.py)
    )
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(scope="module")
def router(client, tmp_path_factory) -> Iterator[Settings]:
    settings = _settings(tmp_path_factory.mktemp("router"))
    image_tag = f"{ROUTER_IMAGE_REPO}:{router_dir_hash(settings.router_base_image)}"
    image_existed = bool(client.images.list(name=image_tag))
    try:
        ensure_router(Swarm(client), settings)
        yield settings
    finally:
        _sweep(client)
        remove_router(Swarm(client), settings)
        if not image_existed:
            _remove_router_image_if_unused(client, image_tag)


def _remove_router_image_if_unused(client: docker.DockerClient, tag: str) -> None:
    """The router image is content-addressed and may be shared with other tests that run at
    the same time: remove it only when this module built it and no service uses it."""
    if any(s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(tag) for s in client.api.services()):
        return
    with contextlib.suppress(docker.errors.APIError):
        client.api.remove_image(tag, noprune=False)


@pytest.fixture(scope="module")
def base_url(router) -> str:
    return f"http://127.0.0.1:{router.router_port}"


@pytest.fixture(scope="module")
def stack_web(client, router, base_url) -> Iterator[str]:
    """A stack's web service as yadockeri will make it: dnsrr, alias web_alias(stack)."""
    try:
        _create_httpd(client, WEB, router.router_network, [web_alias(STACK)], f"STACK-WEB-{PREFIX}")
        _wait(
            "the stack web through the router",
            lambda: _get(base_url, f"{STACK}.y.localhost").status_code == 200,
        )
        yield STACK
    finally:
        _remove_service(client, WEB)


@pytest.fixture(scope="module")
def markers(client, router) -> Iterator[dict[str, str]]:
    """Services the router must never reach: one on the router network (not a stack web),
    one on a separate overlay network like a stack's middleware. Returns their task IPs."""
    try:
        client.api.create_network(MIDDLEWARE_NET, driver="overlay", attachable=False, labels={TEST_LABEL: PREFIX})
        _create_httpd(client, MARKER_SERVICE, router.router_network, [MARKER_SERVICE, MARKER_ALIAS], MARKER_TEXT)
        _create_httpd(client, MIDDLEWARE, MIDDLEWARE_NET, [MIDDLEWARE, f"{MIDDLEWARE}.yadockeri-web"], MIDDLEWARE_TEXT)
        marker_task = _wait("the marker task", lambda: _running_task(client, MARKER_SERVICE))
        middleware_task = _wait("the middleware task", lambda: _running_task(client, MIDDLEWARE))
        yield {
            "marker_ip": _task_ip(marker_task, router.router_network),
            "middleware_ip": _task_ip(middleware_task, MIDDLEWARE_NET),
        }
    finally:
        _remove_service(client, MARKER_SERVICE)
        _remove_service(client, MIDDLEWARE)
        _remove_network(client, MIDDLEWARE_NET)


def _get(base_url: str, host: str, path: str = "/", **kwargs) -> requests.Response:
    headers = {"Host": host, **kwargs.pop("headers", {})}
    return requests.get(base_url + path, headers=headers, timeout=10, allow_redirects=False, **kwargs)


def _echo(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 200, (response.status_code, response.headers, response.text[:500])
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)


def _router_container(client: docker.DockerClient, settings: Settings):
    task = _wait("the router task", lambda: _running_task(client, settings.router_service))
    return client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])


# Reaching a stack -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host_template",
    [
        "{stack}.y.localhost",
        "api.{stack}.y.localhost",
        "a.b_c.{stack}.y.localhost",
        "{stack}.y2.localhost",
        "{STACK}.Y.LOCALHOST",
        "{stack}.y.localhost.",
        "{stack}.y.localhost:{port}",
        "Api.{STACK}.Y2.Localhost.:{port}",
    ],
)
def test_stack_reached_by_its_host_names(router, base_url, stack_web, host_template):
    host = host_template.format(stack=STACK, STACK=STACK.upper(), port=router.router_port)
    normal = host.split(":")[0].rstrip(".").lower()
    response = _get(base_url, host, "/cgi-bin/env")
    got = _echo(response)
    assert got["MARKER"] == f"STACK-WEB-{PREFIX}"
    # The routed host (lowercased, no dot) with the router's public port, as in the stack's URL:
    # never the client's own Host header.
    assert got["HTTP_HOST"] == f"{normal}:{router.router_port}"
    assert got["HTTP_X_FORWARDED_HOST"] == f"{normal}:{router.router_port}"
    assert got["HTTP_X_FORWARDED_PROTO"] == "http"
    assert got["HTTP_X_FORWARDED_PORT"] == str(router.router_port)
    assert got["HTTP_X_REAL_IP"] and got["HTTP_X_FORWARDED_FOR"] == got["HTTP_X_REAL_IP"]
    assert got["HTTP_CONNECTION"] == "close"
    assert "X-Yadockeri-Page" not in response.headers  # an app's answer, and the app cannot fake a router page


def test_a_clients_forwarded_headers_are_not_believed_and_websockets_upgrade(router, base_url, stack_web):
    # No proxy in front is configured (YADOCKERI_TRUSTED_PROXIES): what a client says about
    # itself is ignored (a configured proxy is believed: tests/test_router_forwarding.py).
    got = _echo(
        _get(
            base_url,
            f"{STACK}.y.localhost",
            "/cgi-bin/env",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Port": "443",
                     "Upgrade": "websocket", "Connection": "Upgrade"},
        )
    )
    assert got["HTTP_X_FORWARDED_PROTO"] == "http"
    assert got["HTTP_X_FORWARDED_PORT"] == str(router.router_port)
    assert got["HTTP_X_FORWARDED_FOR"] == got["HTTP_X_REAL_IP"] and "203.0.113.9" not in got["HTTP_X_FORWARDED_FOR"]
    assert (got["HTTP_UPGRADE"], got["HTTP_CONNECTION"]) == ("websocket", "upgrade")


def test_an_apps_own_502_passes_through(base_url, stack_web):
    response = _get(base_url, f"{STACK}.y.localhost", "/cgi-bin/bad")
    assert response.status_code == 502
    assert response.text.strip() == "app-says-502"
    assert "X-Yadockeri-Page" not in response.headers


def test_large_request_bodies_reach_the_app(base_url, stack_web):
    body = b"x" * (5 * 1024 * 1024)
    response = requests.post(
        base_url + "/cgi-bin/env", data=body, headers={"Host": f"{STACK}.y.localhost"}, timeout=30
    )
    assert _echo(response)["CONTENT_LENGTH"] == str(len(body))


def test_unknown_stack_page_is_fast_and_names_it(router, base_url):
    for host in (f"{PREFIX}nobody.y.localhost", f"www.{PREFIX}nobody.y2.localhost.", "router.y.localhost"):
        response = _get(base_url, host)  # requests' 10 s timeout: far below nginx's 30 s default
        label = host.rstrip(".").split(".")[-3]
        assert response.status_code == 404
        assert response.headers["X-Yadockeri-Page"] == "unknown-stack"
        assert f"No stack named {label} here" in response.text
        assert f"/yadockeri deploy {label} &lt;branch&gt;" in response.text
        assert f"yadockeri deploy {label} &lt;branch&gt;" in response.text


def test_health_on_the_default_server(router, base_url):
    response = requests.get(base_url + "/_router/health", timeout=10)
    assert (response.status_code, response.text, response.headers["X-Yadockeri-Page"]) == (200, "ok", "health")


# Isolation ------------------------------------------------------------------------------------


def _isolation_hosts(router: Settings, ips: dict[str, str], web_ip: str) -> list[str]:
    names = [
        MARKER_SERVICE, MARKER_ALIAS, MIDDLEWARE, f"{MIDDLEWARE}.yadockeri-web", router.router_service, "router",
        "yadockeri", WEB, f"tasks.{MARKER_SERVICE}", f"tasks.{MIDDLEWARE}", "localhost",
    ]
    hosts: list[str] = []
    for name in names:
        hosts += [name, f"{name}:8080", f"{name}.y.localhost", f"tasks.{name}.y.localhost", f"{name}_x.y.localhost",
                  f"x.{name}_web.y.localhost"]
    hosts += ["yadockeri.y.localhost", "router.y.localhost", "y.localhost", "y2.localhost", "127.0.0.11",
              f"{STACK}_web.y.localhost", f"{STACK}.yadockeri-web", f"{STACK}.yadockeri-web.y.localhost"]
    for ip in (ips["marker_ip"], ips["middleware_ip"], web_ip):
        hosts += [ip, f"{ip}:8080", f"{ip}.y.localhost", f"{ip}.y2.localhost", f"x.{ip}.y.localhost", f"[{ip}]"]
    variants: list[str] = []
    for host in dict.fromkeys(hosts):
        variants += [host, host.upper()]
        if not host.endswith("]") and ":" not in host:
            variants += [host + ".", host.upper() + "."]
    return variants


def test_router_reaches_nothing_but_stack_webs(client, router, base_url, stack_web, markers):
    # The markers answer, and the router's network namespace can reach the one on its network:
    # what keeps it out is the nginx config alone.
    # (busybox's nslookup and nc: a static busybox's wget cannot resolve names in these images.)
    container = _router_container(client, router)
    lookup = container.exec_run(["nslookup", MARKER_SERVICE, "127.0.0.11"])
    assert markers["marker_ip"] in lookup.output.decode(), lookup
    reach = container.exec_run(
        ["sh", "-c", 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 "$0" 8080', markers["marker_ip"]]
    )
    assert MARKER_TEXT in reach.output.decode(), reach
    web_task = _running_task(client, WEB)
    assert web_task is not None, "the stack's web task is not running"
    web_ip = _task_ip(web_task, router.router_network)

    failures = []
    for host in _isolation_hosts(router, markers, web_ip):
        for path in ("/", "/cgi-bin/env"):
            response = _get(base_url, host, path)
            body = response.text
            leaked = MARKER_TEXT in body or MIDDLEWARE_TEXT in body or f"STACK-WEB-{PREFIX}" in body
            if leaked or response.status_code not in (400, 404) or (
                response.status_code == 404
                and response.headers.get("X-Yadockeri-Page") not in ("no-such-host", "unknown-stack")
            ):
                failures.append((host, path, response.status_code, response.headers.get("X-Yadockeri-Page"), body[:80]))
    assert not failures, failures


def test_no_such_host_page_does_not_echo_the_host(base_url, router):
    response = _get(base_url, "<script>alert(1)</script>")
    assert response.status_code in (400, 404)
    assert "script" not in response.text
    response = _get(base_url, "evil-<b>x</b>.example.com")
    assert response.status_code in (400, 404) and "evil" not in response.text
    response = _get(base_url, "127.0.0.1")
    assert (response.status_code, response.headers["X-Yadockeri-Page"]) == (404, "no-such-host")
    assert "127.0.0.1" not in response.text


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_request_line_hosts_and_missing_host(router, stack_web, markers):
    port = router.router_port
    for target in (f"http://{MARKER_SERVICE}:8080/", f"http://{markers['marker_ip']}:8080/", f"http://{MIDDLEWARE}/"):
        answer = _raw(port, f"GET {target} HTTP/1.1\r\nHost: {STACK}.y.localhost\r\nConnection: close\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 404"), answer[:200]
        assert b"X-Yadockeri-Page: no-such-host" in answer
        assert MARKER_TEXT.encode() not in answer and MIDDLEWARE_TEXT.encode() not in answer
    answer = _raw(port, b"GET / HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404") and b"X-Yadockeri-Page: no-such-host" in answer
    # The request line's host wins over the Host header, and it is a stack here.
    answer = _raw(port, f"GET http://{STACK}.y.localhost/ HTTP/1.1\r\n"
                        f"Host: {MARKER_SERVICE}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 200") and f"STACK-WEB-{PREFIX}".encode() in answer


# Lifecycle ------------------------------------------------------------------------------------


def test_rolling_update_keeps_answering_and_switches_to_the_new_task(client, base_url, stack_web):
    service = client.api.inspect_service(WEB)
    spec = service["Spec"]
    template = spec["TaskTemplate"]
    template["ContainerSpec"]["Env"] = [e for e in template["ContainerSpec"]["Env"] if not e.startswith("VERSION=")]
    template["ContainerSpec"]["Env"].append("VERSION=2")
    template["ForceUpdate"] = 0
    client.api.update_service(
        service["ID"], service["Version"]["Index"], task_template=template, name=WEB,
        endpoint_spec=spec["EndpointSpec"], labels=spec["Labels"], mode=spec["Mode"],
        update_config=UpdateConfig(parallelism=1, order="start-first"),
    )
    answers: list[tuple[float, int, str]] = []
    started = time.monotonic()

    def update_done() -> bool:
        response = _get(base_url, f"{STACK}.y.localhost", "/cgi-bin/env")
        version = _echo(response)["VERSION"] if response.status_code == 200 else response.text[:80]
        answers.append((round(time.monotonic() - started, 2), response.status_code, version))
        return client.api.inspect_service(WEB).get("UpdateStatus", {}).get("State") == "completed"

    _wait("the rolling update", update_done, timeout=120, interval=0.05)
    bad = [a for a in answers if a[1] != 200]
    assert not bad, bad
    assert {a[2] for a in answers} <= {"1", "2"}
    # Once the update is complete the old task is gone: only the new one answers, within seconds.
    completed = time.monotonic()

    def only_new() -> bool:
        return all(_echo(_get(base_url, f"{STACK}.y.localhost", "/cgi-bin/env"))["VERSION"] == "2" for _ in range(5))

    _wait("the new task", only_new, timeout=10, interval=0.2)
    assert time.monotonic() - completed < 10


def test_ensure_router_again_changes_nothing(client, router):
    before = client.api.inspect_service(router.router_service)
    configs_before = {c["ID"] for c in client.api.configs(filters={"name": f"{router.router_service}-nginx-"})}
    ensure_router(Swarm(client), router)
    after = client.api.inspect_service(router.router_service)
    assert after["Version"]["Index"] == before["Version"]["Index"]
    assert {c["ID"] for c in client.api.configs(filters={"name": f"{router.router_service}-nginx-"})} == configs_before
    assert len(configs_before) == 1
    network = [n for n in client.api.networks(names=[router.router_network]) if n["Name"] == router.router_network]
    assert len(network) == 1 and network[0]["Attachable"] is False
    assert network[0]["Labels"] == {"yadockeri.role": "router"}
    assert after["Spec"]["Labels"]["yadockeri.role"] == "router"


def test_the_router_counts_requests_per_stack(client, router, base_url, stack_web):
    """Each router task counts requests per stack and logs one summary line a second."""
    counted_stack = f"{PREFIX}cnt"
    for host in (f"API.{counted_stack}.Y.LOCALHOST.", f"{counted_stack}.y.localhost", f"x.{counted_stack}.y2.localhost"):
        _get(base_url, host, "/anything")
    assert _get(base_url, "10.9.8.7", f"/{PREFIX}-nohost").status_code == 404  # names no stack: not counted
    assert _get(base_url, f"127.0.0.1:{router.router_port}", "/_router/health").status_code == 200  # nor this

    def counts() -> dict[str, int] | None:
        raw = client.api.service_logs(router.router_service, stdout=True, stderr=False, follow=False, timestamps=True)
        text = (raw if isinstance(raw, bytes) else b"".join(raw)).decode(errors="replace")
        totals: dict[str, int] = {}
        for line in text.splitlines():
            hit = parse_line(line)
            if hit is not None:
                totals[hit.stack] = totals.get(hit.stack, 0) + hit.count
        return totals if totals.get(counted_stack, 0) >= 3 else None

    totals = _wait("the counts", counts, timeout=30, interval=0.5)
    assert totals[counted_stack] == 3
    assert "" not in totals and all(STACK_LABEL_RE_FULL.fullmatch(name) for name in totals)


# A router of its own: config changes, errors, removal ---------------------------------------------


def test_domain_change_updates_the_router_and_remove_router_cleans_up(client, tmp_path):
    port = _free_port()
    first = _settings(tmp_path, router_network=f"{PREFIX}r2net", router_service=f"{PREFIX}r2", router_port=port,
                      domain="y.localhost")
    second = first.model_copy(update={"domain": "y3.localhost"})
    try:
        ensure_router(Swarm(client), first)
        version = client.api.inspect_service(first.router_service)["Version"]["Index"]
        assert _get(f"http://127.0.0.1:{port}", "x.y3.localhost").headers["X-Yadockeri-Page"] == "no-such-host"

        ensure_router(Swarm(client), second)
        assert client.api.inspect_service(first.router_service)["Version"]["Index"] > version
        response = _get(f"http://127.0.0.1:{port}", "x.y3.localhost")
        assert (response.status_code, response.headers["X-Yadockeri-Page"]) == (404, "unknown-stack")
        assert _get(f"http://127.0.0.1:{port}", "x.y.localhost").headers["X-Yadockeri-Page"] == "no-such-host"
        names = [c["Spec"]["Name"] for c in client.api.configs(filters={"name": f"{first.router_service}-nginx-"})]
        assert len(names) == 1, names  # the old config is removed once unused
    finally:
        remove_router(Swarm(client), first)
    remove_router(Swarm(client), first)  # idempotent
    assert not client.api.services(filters={"name": first.router_service})
    assert not [c for c in client.api.configs(filters={"name": f"{first.router_service}-nginx-"})]
    assert not [n for n in client.api.networks(names=[first.router_network]) if n["Name"] == first.router_network]


def test_missing_images_are_config_errors_that_create_nothing(client, tmp_path):
    # 127.0.0.1:1 is a registry address where nothing listens: a pull fails at once, offline.
    settings = _settings(tmp_path, router_network=f"{PREFIX}r3net", router_service=f"{PREFIX}r3",
                         router_image=f"127.0.0.1:1/{PREFIX}/router:none")
    try:
        with pytest.raises(ConfigError, match="YADOCKERI_ROUTER_IMAGE"):
            ensure_router(Swarm(client), settings)
        settings = settings.model_copy(update={"router_image": None, "router_base_image": f"127.0.0.1:1/{PREFIX}/nginx:none"})
        with pytest.raises(ConfigError, match="YADOCKERI_ROUTER_BASE_IMAGE.*offline-images.sh"):
            ensure_router(Swarm(client), settings)
        assert not [n for n in client.api.networks(names=[settings.router_network]) if n["Name"] == settings.router_network]
    finally:
        remove_router(Swarm(client), settings)
