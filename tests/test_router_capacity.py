"""A router network made small on purpose (a /28 through YADOCKERI_ROUTER_SUBNET), on the real
swarm and a router of its own: stacks deploy until it is full; the next one is refused at once,
naming the network and its size, and creates nothing; a rollout that needs one address more
fails within seconds with the same words and the old version serves on; sleeping a stack frees
an address and the refused deploy then succeeds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import docker
import pytest

from stacks import router_network
from stacks.config import Settings
from stacks.engine import Engine
from stacks.errors import CapacityReached
from stacks.models import utcnow
from tests.conftest import own_router, unique
from tests.support.helpers import ADMIN, DEPLOY_WAIT, deploy, page, succeeded, wait_until

pytestmark = pytest.mark.swarm

SUBNET = "172.16.250.0/28"  # 16 addresses: 13 for tasks, of which the router and the node's load balancer take 2


@pytest.fixture
def small(make_settings: Callable[..., Settings], docker_client: docker.DockerClient) -> Iterator[tuple[Engine, Settings]]:
    """An engine with a router of its own on a /28 network; everything removed afterwards."""
    with own_router(make_settings, docker_client, "small", router_subnet=SUBNET, workers=4) as made:
        yield made


def test_a_full_router_network_refuses_at_once_and_a_sleeping_stack_frees_an_address(small: tuple[Engine, Settings]) -> None:
    engine, settings = small
    found = router_network.addresses(engine.swarm, settings)
    assert found is not None and (found.subnet, found.size) == (SUBNET, 13)
    names = [unique("full") for _ in range(found.free)]
    handles = [engine.deploy(name, "main", ADMIN) for name in names]
    for handle in handles:
        succeeded(handle.wait(DEPLOY_WAIT))
    assert page(settings, names[-1])["content"] == "main-1"
    assert router_network.addresses(engine.swarm, settings).free == 0  # type: ignore[union-attr]

    # one more stack: refused before anything is made
    extra = unique("extra")
    with pytest.raises(CapacityReached, match=rf"no address is left on the router network `{settings.router_network}` "
                                              rf"\({SUBNET}, 13 addresses: 13 taken\)"):
        engine.deploy(extra, "main", ADMIN)
    assert engine.store.get_stack(extra) is None and engine.swarm.services(**{"yadockeri.stack": extra}) == []

    # a rollout that needs one address more (start-first) fails within seconds; the old version serves on
    started = time.monotonic()
    changed, rollout = engine.change_env(names[0], {"COLOR": "blue"}, [], ADMIN)
    assert changed == ["COLOR"] and rollout is not None
    record = rollout.wait(DEPLOY_WAIT)
    took = time.monotonic() - started
    assert record.state == "failed" and "got no network address: no address is left on the router network" in (
        record.error or ""), record.error
    assert took < settings.deploy_timeout / 2, took  # said by the stuck task, not by the deploy timeout
    assert page(settings, names[0])["content"] == "main-1"

    # sleeping one stack frees its address: the refused deploy now succeeds
    engine.store.update_stack(names[1], last_activity_at=utcnow() - timedelta(seconds=settings.sleep_after + 60))
    engine.idle_pass()
    wait_until(lambda: engine.store.require_stack(names[1]).asleep, timeout=120, what="asleep")
    wait_until(lambda: (router_network.addresses(engine.swarm, settings) or found).free >= 1, timeout=30,
               what="an address freed")
    succeeded(deploy(engine, extra))
    assert page(settings, extra)["content"] == "main-1"
