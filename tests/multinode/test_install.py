"""yadockeri on the swarm it manages: its image, built with no network from a debootstrap base,
and `yadockeri install` / `uninstall` on the separate test swarm (never on the host's swarm,
whose `router` and `yadockeri` services, if any, are not ours to touch)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets as secrets_module
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from stacks.install import INSTALL_LABEL
from tests.multinode.conftest import BuiltImage, wait_for
from tests.support.multinode import HOST_ADDR, MANAGER_ADDR, NODES, Cluster
from tests.support.slack_requests import signed_headers, slash_command_body
from tests.support.slack_standin import SlackStandin

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

ROUTER_PORT = 8088
BOT_PORT = 3300
SIGNING_SECRET = "5c0ffee5c0ffee5c0ffee5c0ffee5c0f"
CHANNEL = "C123"


def test_the_image_builds_with_no_network_and_holds_what_yadockeri_needs(
        cluster: Cluster, yadockeri_image: BuiltImage) -> None:
    client = cluster.manager.client()
    config = client.api.inspect_image(yadockeri_image.tag)["Config"]
    assert config["Cmd"] == ["yadockeri", "bot"]
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "-m", "yadockeri.health"]
    script = (
        "set -e; yadockeri help >/dev/null; docker --version; git --version; ssh -V 2>&1;"
        " python -c 'from stacks.config import ROUTER_DIR, EXAMPLE_APP_DIR;"
        " print(ROUTER_DIR.is_dir(), EXAMPLE_APP_DIR.is_dir())';"
        " test ! -e /wheels && test ! -e /app/tests && test ! -e /app/.git && test ! -e /app/.wheelhouse && echo clean"
    )
    output = client.containers.run(yadockeri_image.tag, ["sh", "-c", script], network_mode="none", remove=True).decode()
    assert "Docker version" in output and "git version" in output and "True True" in output and "clean" in output
    print(f"\nyadockeri image: docker build --network none took {yadockeri_image.seconds:.0f}s")


# The health check ----------------------------------------------------------------------------------
def run_bot_container(cluster: Cluster, image: str, env: dict[str, str], name: str) -> docker.models.containers.Container:
    """The image as a plain container on the manager, in its network namespace (host network)."""
    client = cluster.manager.client()
    return client.containers.run(
        image, name=name, detach=True, network_mode="host", environment=env,
        volumes={cluster.manager.sock: {"bind": "/var/run/docker.sock", "mode": "rw"}},
    )


def health(container) -> str:
    container.reload()
    return (container.attrs["State"].get("Health") or {}).get("Status", "none")


def test_the_health_check_passes_while_the_bot_serves_and_fails_when_it_cannot(
        cluster: Cluster, yadockeri_image: BuiltImage) -> None:
    with SlackStandin(host=HOST_ADDR, socket_mode=True) as slack:
        env = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token, "SLACK_API_URL": slack.base_url,
               "YADOCKERI_BOT_PORT": "3401", "YADOCKERI_STATUS_PORT": "3402"}
        good = run_bot_container(cluster, yadockeri_image.tag, env, "yd-health-good")
        broken = run_bot_container(cluster, yadockeri_image.tag, {**env, "SLACK_BOT_TOKEN": "xoxb-wrong",
                                                                  "YADOCKERI_BOT_PORT": "3403",
                                                                  "YADOCKERI_STATUS_PORT": "3404"}, "yd-health-bad")
        try:
            wait_for(lambda: health(good) == "healthy", 90, "healthy while connected in Socket Mode")
            # A wrong token: the bot never serves (it stops at Slack's auth.test) and is never healthy.
            broken.wait(timeout=90)
            assert health(broken) != "healthy" and broken.attrs["State"]["ExitCode"] != 0
            assert "invalid_auth" in broken.logs().decode(errors="replace")
            # Slack's Socket Mode endpoint goes away: the bot is up but cannot serve -> unhealthy.
            assert slack.socket_mode is not None
            slack.socket_mode.stop()
            wait_for(lambda: health(good) == "unhealthy", 90, "unhealthy once Socket Mode is disconnected")
            log = good.attrs["State"]["Health"]["Log"][-1]
            assert log["ExitCode"] == 1 and "unhealthy" in log["Output"]
        finally:
            for container in (good, broken):
                container.remove(force=True)


# install / uninstall -------------------------------------------------------------------------------
def cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yadockeri", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def install_env(cluster: Cluster, image: str, slack: SlackStandin, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("YADOCKERI_", "SLACK_", "DOCKER_"))}
    env.update({
        "DOCKER_HOST": cluster.manager.docker_host,
        "YADOCKERI_DATA_DIR": str(tmp_path / "cli-data"),
        "YADOCKERI_IMAGE": image,
        "YADOCKERI_BOT_MODE": "http",
        "YADOCKERI_BOT_PORT": str(BOT_PORT),
        "YADOCKERI_ROUTER_PORT": str(ROUTER_PORT),
        "YADOCKERI_ROUTER_URL": f"http://{MANAGER_ADDR}:{ROUTER_PORT}",
        "YADOCKERI_ROUTER_BASE_IMAGE": "yadockeri/nginx-base:local",
        "YADOCKERI_REGISTRY": cluster.registry,
        "YADOCKERI_REGISTRY_USERNAME": cluster.registry_user,
        "YADOCKERI_REGISTRY_PASSWORD": cluster.registry_password,
        "YADOCKERI_DEPLOY_TIMEOUT": "180",
        "YADOCKERI_FIREWALL": "false",  # the cluster's nodes are namespaces: not this host's filter
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
    })
    return env


def versions(client: docker.DockerClient) -> dict[str, int]:
    return {s["Spec"]["Name"]: s["Version"]["Index"] for s in client.api.services()}


def running_tasks(client: docker.DockerClient, service: str) -> list[dict]:
    return [t for t in client.api.tasks(filters={"service": service})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def slash(slack: SlackStandin, text: str, port: int = BOT_PORT) -> tuple[requests.Response, str]:
    """A slash command signed as Slack signs it, to the bot's published port; (the ack, its response_url)."""
    response_url = slack.new_response_url()
    body = slash_command_body(text, channel_id=CHANNEL, response_url=response_url)
    answer = requests.post(f"http://{MANAGER_ADDR}:{port}/slack/events", data=body,
                           headers=signed_headers(SIGNING_SECRET, body), timeout=10)
    return answer, response_url


def answered(slack: SlackStandin, response_url: str) -> str:
    """What the bot answered through the command's response_url (it acks first, then answers)."""
    posts = slack.wait_for(lambda: slack.responses(response_url), timeout=30, what="an answer to the command")
    return str(posts[0].payload.get("text", ""))


@pytest.fixture
def slack_for_install() -> Iterator[SlackStandin]:
    with SlackStandin(host=HOST_ADDR) as slack:  # reachable from the cluster's containers
        yield slack


def test_install_runs_the_bot_and_router_on_the_swarm_idempotently_and_uninstall_removes_it_all(
        cluster: Cluster, yadockeri_image: BuiltImage, slack_for_install: SlackStandin, tmp_path: Path) -> None:
    slack = slack_for_install
    client = cluster.manager.client()
    env = install_env(cluster, yadockeri_image.tag, slack, tmp_path)
    secrets_given = [cluster.registry_password, slack.bot_token, SIGNING_SECRET]
    try:
        first = cli(["install"], env, tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "yadockeri is running (HTTP mode" in first.stdout

        # The router on every node, the bot on the manager, healthy (a task with a health check
        # runs only once healthy; the container says so too).
        assert {t["NodeID"] for t in running_tasks(client, "router")} == set(cluster.node_ids.values())
        (task,) = running_tasks(client, "yadockeri")
        assert task["NodeID"] == cluster.node_ids["manager"]
        container = client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
        assert container.attrs["State"]["Health"]["Status"] == "healthy"

        # No token, password or secret in any service spec: they are Docker secrets (files).
        inspected = subprocess.run(["docker", "-H", cluster.manager.docker_host, "service", "inspect", "yadockeri",
                                    "router"], capture_output=True, text=True, check=True).stdout
        assert all(secret not in inspected for secret in secrets_given)
        spec = json.loads(inspected)[0]["Spec"]["TaskTemplate"]["ContainerSpec"]
        files = {s["File"]["Name"] for s in spec["Secrets"]}
        assert files == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "YADOCKERI_REGISTRY_USERNAME",
                         "YADOCKERI_REGISTRY_PASSWORD", "YADOCKERI_ROUTER_TOKEN"}  # the router's token, made by install
        # The bot is not on the router network, where every stack's web process is: only the
        # router shares its network with it.
        networks = {n["Target"] for n in json.loads(inspected)[0]["Spec"]["TaskTemplate"]["Networks"]}
        router_networks = {n["Target"] for n in json.loads(inspected)[1]["Spec"]["TaskTemplate"]["Networks"]}
        assert len(networks) == 1 and networks < router_networks and len(router_networks) == 2
        assert spec["Image"].startswith(f"{cluster.registry}/yadockeri/yadockeri:")  # any manager can pull it
        assert all(secret not in json.dumps(client.api.secrets()) for secret in secrets_given)

        # It answers a request signed as Slack signs them, through its published port ...
        answer, response_url = slash(slack, "help")
        assert answer.status_code == 200 and "deploy STACK BRANCH" in answered(slack, response_url)
        forged = requests.post(f"http://{MANAGER_ADDR}:{BOT_PORT}/slack/events",
                               data=slash_command_body("help"), headers=signed_headers("not-the-secret",
                               slash_command_body("help")), timeout=10)
        assert forged.status_code == 401
        # ... and deploys: the example app, built on the manager, pushed, reached through the router.
        assert slash(slack, "deploy demo main")[0].status_code == 200
        try:
            slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if "is up" in m.get("text", "")), None),
                           timeout=300, what="the bot says demo is up")
        except TimeoutError as error:  # say why: the bot's own log
            logs = subprocess.run(["docker", "-H", cluster.manager.docker_host, "service", "logs", "--tail", "60",
                                   "yadockeri"], capture_output=True, text=True, check=False)
            raise AssertionError(f"{error}\n{logs.stdout[-6000:]}{logs.stderr[-3000:]}") from None
        page = requests.get(f"http://{MANAGER_ADDR}:{ROUTER_PORT}/", headers={"Host": "demo.y.localhost"}, timeout=10)
        assert page.status_code == 200, page.text[:300]
        assert cluster.registry_tags("yadockeri/hello")

        # A second install with nothing changed changes no service.
        before = versions(client)
        secrets_before = {s["ID"] for s in client.api.secrets()}
        second = cli(["install"], env, tmp_path)
        assert second.returncode == 0, second.stdout + second.stderr
        assert versions(client) == before
        assert {s["ID"] for s in client.api.secrets()} == secrets_before
        assert "service yadockeri: unchanged" in second.stdout

        # uninstall without --stacks: the stack keeps running (its network and the router network
        # stay), the data volume stays; a new install carries on with it.
        plain = cli(["uninstall"], env, tmp_path)
        assert plain.returncode == 0, plain.stdout + plain.stderr
        assert {s["Spec"]["Name"] for s in client.api.services()} == {"demo_web"}
        assert client.api.secrets() == [] and client.api.configs() == []
        assert client.api.networks(names=["router"]) and cluster.volumes_on(cluster.manager, INSTALL_LABEL)
        again = cli(["install"], env, tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        answer, response_url = slash(slack, "help")
        assert answer.status_code == 200 and "deploy STACK BRANCH" in answered(slack, response_url)

        # uninstall --stacks: every stack (through the engine, in a job with the bot's own data,
        # which knows `demo` still), then yadockeri, the router, their secrets, configs, network
        # and the data volume.
        gone = cli(["uninstall", "--stacks"], env, tmp_path)
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert "destroy demo: succeeded" in gone.stdout
        assert client.api.services() == []
        assert client.api.secrets() == [] and client.api.configs() == []
        assert {n["Name"] for n in client.api.networks()} <= {"ingress", "docker_gwbridge", "host", "none", "bridge"}
        for node in NODES:
            assert cluster.volumes_on(node, INSTALL_LABEL) == []
            assert cluster.volumes_on(node, "yadockeri.stack") == []
        assert cluster.registry_tags("yadockeri/hello") == []
    finally:
        leftovers = [s["Spec"]["Name"] for s in client.api.services()]
        if leftovers:  # a failure above: leave the session's cluster clean for the next tests
            cli(["uninstall", "--stacks"], env, tmp_path)


# The documented stack file -------------------------------------------------------------------------
STACK_FILE = Path(__file__).resolve().parents[2] / "deploy" / "yadockeri-stack.yml"


def http_mode(stack_file: str) -> str:
    """The edit docs/install.md describes for HTTP mode: no app token, the bot port published."""
    import yaml

    data = yaml.safe_load(stack_file)
    bot = data["services"]["bot"]
    bot["secrets"] = [s for s in bot["secrets"] if s["source"] != "yadockeri-slack-app-token"]
    del data["secrets"]["yadockeri-slack-app-token"]
    bot["ports"] = [{"target": 3000, "published": 3000, "protocol": "tcp", "mode": "host"}]
    return yaml.safe_dump(data)


def test_the_documented_stack_file_runs_yadockeri_too(
        cluster: Cluster, yadockeri_image: BuiltImage, slack_for_install: SlackStandin, tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    slack = slack_for_install
    client = cluster.manager.client()
    client.api.login(username=cluster.registry_user, password=cluster.registry_password, registry=cluster.registry)
    image = f"{cluster.registry}/yadockeri/yadockeri:stackfile"
    client.api.tag(yadockeri_image.image_id, image.rsplit(":", 1)[0], "stackfile")
    client.images.push(image.rsplit(":", 1)[0], tag="stackfile")
    router_image = f"{cluster.registry}/yadockeri/router:stackfile"
    client.images.build(path=str(STACK_FILE.parents[1] / "router"), tag=router_image, pull=False, rm=True,
                        buildargs={"BASE_IMAGE": "yadockeri/nginx-base:local"})
    client.images.push(router_image.rsplit(":", 1)[0], tag="stackfile")

    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "yadockeri-stack.yml").write_text(http_mode(STACK_FILE.read_text()))
    router_token = secrets_module.token_hex(32)  # as the stack file's comments say: openssl rand -hex 32
    conf = client.containers.run(image, ["python", "-m", "stacks.install", "nginx-conf"], network_mode="none",
                                 remove=True, environment={"YADOCKERI_DOMAIN": "y.localhost",
                                                           "YADOCKERI_STATUS_URL": "http://yadockeri_bot:8081",
                                                           "YADOCKERI_ROUTER_TOKEN": router_token})
    (folder / "router-nginx.conf").write_bytes(conf)
    assert f'"{router_token}"'.encode() in conf
    secrets = {"yadockeri-slack-bot-token": slack.bot_token, "yadockeri-slack-signing-secret": SIGNING_SECRET,
               "yadockeri-secret-key": Fernet.generate_key().decode(), "yadockeri-router-token": router_token}
    for name, value in secrets.items():
        client.api.create_secret(name, value.encode())
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DOCKER_CONFIG": str(config_dir),
           "DOCKER_HOST": cluster.manager.docker_host, "YADOCKERI_IMAGE": image,
           "YADOCKERI_ROUTER_IMAGE": router_image, "SLACK_API_URL": slack.base_url}
    docker_cli = "/usr/bin/docker"  # Debian's, with `docker stack deploy`
    try:
        subprocess.run([docker_cli, "login", cluster.registry, "-u", cluster.registry_user, "--password-stdin"],
                       input=cluster.registry_password, env=env, capture_output=True, text=True, check=True)
        deployed = subprocess.run([docker_cli, "stack", "deploy", "--with-registry-auth", "-c",
                                   str(folder / "yadockeri-stack.yml"), "yadockeri"],
                                  env=env, capture_output=True, text=True, check=False)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        wait_for(lambda: running_tasks(client, "yadockeri_bot"), 240, "the bot runs (healthy)")
        wait_for(lambda: len(running_tasks(client, "yadockeri_router")) == 2, 120, "the router runs on both nodes")
        inspected = subprocess.run([docker_cli, "service", "inspect", "yadockeri_bot"], env=env, capture_output=True,
                                   text=True, check=True).stdout
        assert all(value not in inspected for value in secrets.values())
        answer, response_url = slash(slack, "help", port=3000)
        assert answer.status_code == 200 and "deploy STACK BRANCH" in answered(slack, response_url)
        health = requests.get(f"http://{MANAGER_ADDR}:80/_router/health", timeout=5)
        assert health.status_code == 200
    finally:
        subprocess.run([docker_cli, "stack", "rm", "yadockeri"], env=env, capture_output=True, check=False)
        wait_for(lambda: not client.api.services() and not client.containers.list(all=True, filters={
            "label": "com.docker.stack.namespace=yadockeri"}), 120, "the stack is gone")
        for secret in client.api.secrets():
            client.api.remove_secret(secret["ID"])
        for config in client.api.configs():
            client.api.remove_config(config["ID"])
        for network in client.api.networks(names=["router"]) + client.api.networks(names=["yadockeri-control"]):
            with contextlib.suppress(docker.errors.APIError):
                client.api.remove_network(network["Id"])
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_volume("yadockeri_data")
