"""What the tests and the benches share to name, reach and clean up what they create (no pytest:
the benches run right after `scripts/up.sh`, which installs yadockeri without its test tools)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import docker
import docker.errors
import yaml

from stacks.config import Settings

SESSION_PREFIX = "t" + secrets.token_hex(3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def free_subnet(prefix: int = 24) -> str:
    """A subnet for a router network of a test or bench that no Docker network uses: swarm hands
    out the same addresses on two networks of one subnet, so each router needs its own."""
    import ipaddress

    client = docker.from_env()
    try:
        taken = [ipaddress.ip_network(c["Subnet"]) for n in client.api.networks()
                 for c in (n.get("IPAM") or {}).get("Config") or [] if "." in (c.get("Subnet") or "")]
    finally:
        client.close()
    for candidate in ipaddress.ip_network("172.16.64.0/18").subnets(new_prefix=prefix):
        if not any(candidate.overlaps(t) for t in [*taken, *_handed_out]):
            _handed_out.add(candidate)
            return str(candidate)
    raise RuntimeError("no free subnet left in 172.16.64.0/18 for a test router network")


_handed_out: set = set()  # in this process, before their networks exist


def unique(kind: str = "") -> str:
    """A name no other test (or session) uses: a valid stack name, app name and Docker name."""
    return f"{SESSION_PREFIX}{kind}{secrets.token_hex(2)}"


def purge(client: docker.DockerClient, prefix: str) -> None:
    """Remove every Docker object whose stack label or name starts with prefix."""
    api = client.api
    for service in api.services():
        labels = service["Spec"].get("Labels", {})
        if service["Spec"]["Name"].startswith(prefix) or labels.get("yadockeri.stack", "").startswith(prefix):
            _quietly(api.remove_service, service["ID"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        c["Labels"].get("com.docker.swarm.service.name", "").startswith(prefix) for c in api.containers(all=True)
    ):
        time.sleep(0.5)
    for network in api.networks():
        if network["Name"].startswith(prefix):
            _quietly(api.remove_network, network["Id"])
    for volume in api.volumes().get("Volumes") or []:
        if volume["Name"].startswith(prefix):
            _quietly(api.remove_volume, volume["Name"])
    for config in api.configs():
        if config["Spec"]["Name"].startswith(prefix):
            _quietly(api.remove_config, config["ID"])
    for image in api.images():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(f"yadockeri/{prefix}"):
                _quietly(api.remove_image, tag, force=True)


def _quietly(action, *args, **kwargs) -> None:
    try:
        action(*args, **kwargs)
    except docker.errors.APIError:
        pass


def stop_process(process: subprocess.Popen | None, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` (a process a test or bench started)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def env_for_cli(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The same settings as environment variables plus a yadockeri.yml, for a `yadockeri` process."""
    config = tmp_path / "yadockeri.yml"
    config.write_text(yaml.safe_dump({"apps": {n: a.model_dump() for n, a in settings.apps.items()}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("YADOCKERI_")}
    env.update({
        "YADOCKERI_CONFIG": str(config),
        "YADOCKERI_DATA_DIR": str(settings.data_dir),
        "YADOCKERI_DOMAIN": settings.domain,
        "YADOCKERI_ROUTER_NETWORK": settings.router_network,
        "YADOCKERI_ROUTER_SUBNET": str(settings.router_subnet),
        "YADOCKERI_ROUTER_SERVICE": settings.router_service,
        "YADOCKERI_ROUTER_PORT": str(settings.router_port),
        "YADOCKERI_ROUTER_BASE_IMAGE": settings.router_base_image,
        "YADOCKERI_UPDATE_MONITOR": str(settings.update_monitor),
        "YADOCKERI_DEPLOY_TIMEOUT": str(settings.deploy_timeout),
        "YADOCKERI_POLL_INTERVAL": str(settings.poll_interval),
        "YADOCKERI_STATUS_PORT": str(settings.status_port),
        "YADOCKERI_REAPER_INTERVAL": str(settings.reaper_interval),
        "YADOCKERI_ACTIVITY_FLUSH": str(settings.activity_flush),
        "YADOCKERI_ROUTER_TOKEN": settings.router_token.get_secret_value() if settings.router_token else "",
        "YADOCKERI_SLEEP_AFTER": str(settings.sleep_after),
        "YADOCKERI_REAP_AFTER": str(settings.reap_after),
        "YADOCKERI_REAP_WARNING": str(settings.reap_warning),
        "YADOCKERI_API_PORT": str(settings.api_port),
    })
    if settings.database_url:
        env["YADOCKERI_DATABASE_URL"] = settings.database_url
    return env
