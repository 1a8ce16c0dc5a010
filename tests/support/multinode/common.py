"""The cluster's fixed layout (addresses, namespaces, paths, the two nodes) and the small process
helpers every part uses."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker

SUBNET = ipaddress.ip_network("10.77.0.0/24")
HOST_ADDR = "10.77.0.254"
MANAGER_ADDR = "10.77.0.1"
WORKER_ADDR = "10.77.0.2"
BUILDER_URL = f"tcp://{WORKER_ADDR}:2376"  # the worker's dockerd over verified TLS (YADOCKERI_BUILDER)
REGISTRY = f"{HOST_ADDR}:5000"
SWITCH_NS = "ydmn-sw"
HOST_IF = "ydmn-host"
LOCK_FILE = "/run/lock/yadockeri-multinode.lock"
REGISTRY_PIDFILE = "/run/ydmn-registry.pid"
CERTS_DIR = Path("/etc/docker/certs.d") / REGISTRY
STATE_DIR = Path("/var/lib/ydmn")  # registry storage, certificates, logs of this cluster (removed by down())
HOST_IMAGES = ("busybox:latest", "yadockeri/nginx-base:local")
HOST_DOCKER = "unix:///var/run/docker.sock"
DEFAULT_SOCKET = "/run/docker.sock"  # /var/run is /run: what services mount as /var/run/docker.sock
LEGACY_VETH = "yd-veth0"  # what scripts/setup.sh made before the multi-node tests had their own swarm


def run(*args: str, check: bool = True, input_bytes: bytes | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), capture_output=True, input=input_bytes, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    return result


def in_ns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("nsenter", f"--net=/var/run/netns/{ns}", *args, check=check)


@dataclass(frozen=True)
class Node:
    name: str  # ydmn-m, ydmn-w: the network namespace, and the prefix of every path of its dockerd
    addr: str
    peer: str  # the veth end in the switch namespace

    @property
    def sock(self) -> str:
        return f"/run/{self.name}.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def pidfile(self) -> str:
        return f"/run/{self.name}.pid"

    @property
    def data_root(self) -> Path:
        return Path(f"/var/lib/{self.name}")

    @property
    def exec_root(self) -> Path:
        return Path(f"/run/{self.name}")

    @property
    def log(self) -> Path:
        return STATE_DIR / f"{self.name}-dockerd.log"

    def client(self, timeout: int = 600) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.docker_host, timeout=timeout)


MANAGER = Node("ydmn-m", MANAGER_ADDR, "ydmn-mp")
WORKER = Node("ydmn-w", WORKER_ADDR, "ydmn-wp")
NODES = (MANAGER, WORKER)


def end_pidfile(pidfile: str, must_mention: str) -> None:
    """End the process a pidfile names (left by a killed run), only if its command line mentions
    `must_mention` (a path of this cluster); the pidfile goes too."""
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        cmdline = ""
    if must_mention in cmdline:
        os.kill(pid, signal.SIGTERM)
        for _ in range(90):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.5)
        else:
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pidfile)
