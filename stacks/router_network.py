"""The router network: every web process (and the router on each node) takes one address of it,
so its subnet bounds how many stacks can run at once.

Docker would give it a /24 from the swarm's default pool (about 250 web processes, then new
tasks wait in state `new` without a word). yadockeri creates it with YADOCKERI_ROUTER_SUBNET
instead, checked against the swarm's address pools (each stack's own network takes a subnet
of them) and every other network Docker knows on this node: a web container is on its stack's
network and the router network at once, and docker_gwbridge is its way out, so an overlap
would send its packets the wrong way. Two swarm networks with the same subnet share swarm's
addresses (the tasks of the second never start), so another yadockeri on the same swarm (a
second install, a test run) needs a subnet of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, ip_network
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Settings
    from .ports import DockerPort

RESERVED = 3  # the network's own address, its broadcast address and the gateway


@dataclass(frozen=True)
class Addresses:
    """Where the router network stands: its subnet, the addresses tasks may take, those taken."""

    network: str
    subnet: str
    size: int  # addresses tasks may take: the subnet less the reserved ones
    used: int  # taken: tasks (web processes, the router) and swarm's load balancer, one per node

    @property
    def free(self) -> int:
        return max(0, self.size - self.used)

    def describe(self) -> str:
        return f"router network `{self.network}` ({self.subnet}, {self.size} addresses: {self.used} taken)"


def usable(subnet: IPv4Network) -> int:
    return max(0, subnet.num_addresses - RESERVED)


def subnet_of(network: dict[str, Any]) -> IPv4Network | None:
    for config in (network.get("IPAM") or {}).get("Config") or []:
        try:
            found = ip_network(config.get("Subnet") or "", strict=False)
        except ValueError:
            continue
        if isinstance(found, IPv4Network):
            return found
    return None


def ipam(subnet: IPv4Network) -> dict[str, Any]:
    """The IPAM part of the network's create request."""
    return {"Driver": "default", "Config": [{"Subnet": str(subnet)}]}


def check_subnet(subnet: IPv4Network, *, pools: list[str], networks: list[dict[str, Any]], name: str) -> None:
    """Refuse a subnet that overlaps the swarm's address pools or another network (pure)."""
    for pool in pools:
        if subnet.overlaps(ip_network(pool, strict=False)):
            raise ConfigError(
                f"YADOCKERI_ROUTER_SUBNET {subnet} overlaps the swarm's default address pool {pool}, from which "
                "every stack's own network takes a subnet; choose one outside it (the default is 172.16.0.0/19)")
    for network in networks:
        theirs = subnet_of(network)
        if network.get("Name") == name or theirs is None or not subnet.overlaps(theirs):
            continue
        raise ConfigError(f"YADOCKERI_ROUTER_SUBNET {subnet} overlaps Docker's network `{network.get('Name')}` "
                          f"({theirs}): swarm would hand out the same addresses on both (a task of the later "
                          "one then never starts); choose a subnet no other network uses")


def too_small(network: dict[str, Any], settings: Settings) -> str | None:
    """What to tell when the existing router network has another subnet than the settings ask."""
    theirs = subnet_of(network)
    wanted = settings.router_subnet
    if theirs is None or theirs == wanted or usable(theirs) >= usable(wanted):
        return None
    return (f"router network `{settings.router_network}` is {theirs}: room for {usable(theirs)} addresses, so "
            f"at most about {usable(theirs)} running stacks; YADOCKERI_ROUTER_SUBNET asks for {wanted} "
            f"({usable(wanted)}). `yadockeri router --migrate-network` moves the router and every web process "
            "to it while they serve")


def used_addresses(verbose: dict[str, Any]) -> int:
    """Addresses taken on a network, from Docker's verbose inspect: every service's tasks and the
    load-balancer endpoint of every node that has one there."""
    tasks = sum(len(service.get("Tasks") or []) for service in (verbose.get("Services") or {}).values())
    peers = len(verbose.get("Peers") or []) or (1 if tasks else 0)
    return tasks + peers


def addresses(swarm: DockerPort, settings: Settings) -> Addresses | None:
    """The router network's addresses now (one Docker call); None if there is no such network."""
    verbose = swarm.network_verbose(settings.router_network)
    if verbose is None:
        return None
    subnet = subnet_of(verbose)
    size = usable(subnet) if subnet else 0
    return Addresses(settings.router_network, str(subnet) if subnet else "?", size, used_addresses(verbose))


def full(found: Addresses | None, network: str) -> str:
    """What to tell when a web process gets no address on the router network."""
    where = found.describe() if found else f"router network `{network}`"
    return (f"no address is left on the {where}: every running web process takes one. Sleep or destroy "
            "a stack nobody uses (`list` shows them), or ask an admin for a larger YADOCKERI_ROUTER_SUBNET")
