"""The router network's subnet and addresses, as pure logic (stacks/router_network.py); the
real network, made small on purpose and filled: tests/test_router_capacity.py."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from stacks import router_network
from stacks.config import Settings
from stacks.errors import ConfigError


def network(name: str, subnet: str, **labels: str) -> dict:
    return {"Name": name, "Labels": labels, "IPAM": {"Driver": "default", "Config": [{"Subnet": subnet}]}}


GWBRIDGE = network("docker_gwbridge", "172.18.0.0/16")


def test_the_default_subnet_holds_thousands_of_web_processes_outside_dockers_pools() -> None:
    default = Settings().router_subnet
    assert router_network.usable(default) == 8189
    router_network.check_subnet(default, pools=["10.0.0.0/8"], name="router",
                                networks=[network("bridge", "172.17.0.0/16"), GWBRIDGE, network("ingress", "10.0.0.0/24")])


@pytest.mark.parametrize("value", ["10.0.0.0/30", "0.0.0.0/7"])
def test_a_subnet_too_small_or_too_large_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="YADOCKERI_ROUTER_SUBNET must be between a /8 and a /28"):
        Settings(router_subnet=value)


def test_a_subnet_in_the_swarms_pool_is_refused() -> None:
    with pytest.raises(ConfigError, match="overlaps the swarm's default address pool 10.0.0.0/8"):
        router_network.check_subnet(IPv4Network("10.20.0.0/16"), pools=["10.0.0.0/8"], networks=[], name="router")


def test_a_subnet_over_another_network_is_refused_even_another_router_network() -> None:
    with pytest.raises(ConfigError, match="overlaps Docker's network `docker_gwbridge` \\(172.18.0.0/16\\)"):
        router_network.check_subnet(IPv4Network("172.18.4.0/22"), pools=["10.0.0.0/8"], networks=[GWBRIDGE],
                                    name="router")
    other = network("other-router", "172.16.0.0/19", **{"yadockeri.role": "router"})
    with pytest.raises(ConfigError, match="swarm would hand out the same addresses on both"):
        router_network.check_subnet(IPv4Network("172.16.8.0/24"), pools=["10.0.0.0/8"], networks=[other],
                                    name="router")
    itself = network("router", "172.16.0.0/19")  # its own network, made before: not a clash
    router_network.check_subnet(IPv4Network("172.16.0.0/19"), pools=["10.0.0.0/8"], networks=[itself], name="router")


def test_an_existing_smaller_network_is_told_with_what_to_do() -> None:
    settings = Settings(router_network="router")
    said = router_network.too_small(network("router", "10.0.236.0/24"), settings)
    assert said is not None and "is 10.0.236.0/24: room for 253 addresses" in said
    assert "YADOCKERI_ROUTER_SUBNET asks for 172.16.0.0/19 (8189)" in said
    assert router_network.too_small(network("router", "172.16.0.0/19"), settings) is None
    assert router_network.too_small(network("router", "172.20.0.0/16"), settings) is None  # larger: fine


def test_addresses_taken_are_the_tasks_and_a_load_balancer_per_node() -> None:
    verbose = {"Services": {"a_web": {"Tasks": [{}, {}]}, "router": {"Tasks": [{}]}}, "Peers": [{}, {}]}
    assert router_network.used_addresses(verbose) == 5
    assert router_network.used_addresses({"Services": {"a_web": {"Tasks": [{}]}}, "Peers": None}) == 2
    assert router_network.used_addresses({"Services": {}}) == 0


def test_a_full_network_is_said_with_its_size() -> None:
    found = router_network.Addresses("router", "172.16.250.0/28", 13, 13)
    said = router_network.full(found, "router")
    assert found.free == 0 and said.startswith(
        "no address is left on the router network `router` (172.16.250.0/28, 13 addresses: 13 taken)")
    assert "YADOCKERI_ROUTER_SUBNET" in said
