"""The cluster's network: three network namespaces (manager, worker, and a switch holding the
bridge that joins them) and a veth to the host side, on 10.77.0.0/24, which must be free."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import docker

from .common import (
    HOST_ADDR,
    HOST_DOCKER,
    HOST_IF,
    LEGACY_VETH,
    MANAGER,
    NODES,
    SUBNET,
    SWITCH_NS,
    WORKER,
    in_ns,
    run,
)

NAMESPACES = (MANAGER.name, WORKER.name, SWITCH_NS)


def check_subnet_free() -> None:
    for line in run("ip", "-4", "-o", "addr", "show").stdout.decode().splitlines():
        fields = line.split()
        dev, cidr = fields[1], fields[3]
        if ipaddress.ip_interface(cidr).ip in SUBNET:
            host_swarm = docker.DockerClient(base_url=HOST_DOCKER).info().get("Swarm", {}).get("NodeAddr")
            if dev.split("@")[0] == LEGACY_VETH and host_swarm != cidr.split("/")[0]:
                run("ip", "link", "del", LEGACY_VETH)  # old setup.sh's pair, unused by the host swarm
                continue
            raise RuntimeError(f"{cidr} is on {dev} already: the multi-node tests need {SUBNET} for themselves")


def make_network() -> None:
    for ns in (SWITCH_NS, MANAGER.name, WORKER.name):
        run("ip", "netns", "add", ns)
    in_ns(SWITCH_NS, "ip", "link", "add", "br0", "type", "bridge")
    in_ns(SWITCH_NS, "ip", "link", "set", "br0", "up")
    in_ns(SWITCH_NS, "ip", "link", "set", "lo", "up")
    run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", "ydmn-hp", "netns", SWITCH_NS)
    run("ip", "addr", "add", f"{HOST_ADDR}/24", "dev", HOST_IF)
    run("ip", "link", "set", HOST_IF, "up")
    peers = ["ydmn-hp"]
    for node in NODES:
        run("ip", "link", "add", node.peer, "netns", SWITCH_NS, "type", "veth", "peer", "name", "eth0",
            "netns", node.name)
        in_ns(node.name, "ip", "addr", "add", f"{node.addr}/24", "dev", "eth0")
        in_ns(node.name, "ip", "link", "set", "eth0", "up")
        in_ns(node.name, "ip", "link", "set", "lo", "up")
        peers.append(node.peer)
    for peer in peers:
        in_ns(SWITCH_NS, "ip", "link", "set", peer, "master", "br0")
        in_ns(SWITCH_NS, "ip", "link", "set", peer, "up")


def remove_network(*, only_existing: bool = False) -> None:
    """Delete the namespaces (with only_existing, those that exist) and the host's veth."""
    for ns in NAMESPACES:
        if not only_existing or Path(f"/var/run/netns/{ns}").exists():
            run("ip", "netns", "del", ns, check=False)
    run("ip", "link", "del", HOST_IF, check=False)
