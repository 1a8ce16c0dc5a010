"""`yadockeri router --migrate-network` on the real swarm, with a router of its own: an
installation whose router network is small is told so; the move puts the router and every web
process (running and asleep) on a network of the new subnet while a client sends requests to
the stacks throughout, and none of them fails; deploys work on the new network afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from ipaddress import IPv4Network

import docker
import pytest
import requests

from stacks import router_network
from stacks.config import Settings
from stacks.docker_adapter import Swarm
from stacks.engine import Engine
from stacks.models import utcnow
from stacks.router import ensure_router
from stacks.router_move import migrate_network, temporary_name
from tests.conftest import own_router, unique
from tests.support.helpers import ADMIN, DEPLOY_WAIT, deploy, page, succeeded, wait_until

pytestmark = pytest.mark.swarm

OLD, NEW = "172.16.251.0/28", "172.16.236.0/22"


class Client(threading.Thread):
    """Requests to the stacks through the router, one new connection each, until stopped."""

    def __init__(self, settings: Settings, stacks: list[str]) -> None:
        super().__init__(daemon=True)
        self.settings, self.stacks = settings, stacks
        self.answered, self.slowest = 0, 0.0
        self.failed: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for stack in self.stacks:
                started = time.monotonic()
                try:
                    response = requests.get(self.settings.router_check_url + "/",
                                            headers={"Host": f"{stack}.{self.settings.domains[0]}"}, timeout=30)
                    ok = response.status_code == 200
                    self.failed += [] if ok else [f"{stack}: {response.status_code} {response.text[:80]}"]
                except requests.RequestException as error:
                    self.failed.append(f"{stack} at {time.strftime('%H:%M:%S')}: {type(error).__name__}: {error}"[:200])
                    ok = False
                self.answered += ok
                self.slowest = max(self.slowest, time.monotonic() - started)
            time.sleep(0.02)


@pytest.fixture
def moving(make_settings: Callable[..., Settings], docker_client: docker.DockerClient) -> Iterator[tuple[Engine, Settings]]:
    made: list[Settings] = []
    with ExitStack() as cleanup:
        cleanup.callback(_remove_networks, Swarm(docker_client), made)  # last: once the router is gone
        engine, settings = cleanup.enter_context(own_router(make_settings, docker_client, "mv", router_subnet=OLD))
        made.append(settings)
        yield engine, settings


def _remove_networks(swarm: Swarm, made: list[Settings]) -> None:
    """What a move made, if the test stopped halfway: the temporary network, the new one."""
    for settings in made:
        for network in (temporary_name(settings), settings.router_network):
            for found in swarm.networks_named(network):
                swarm.remove_network(found["Id"])


def test_the_router_network_moves_to_a_larger_subnet_while_every_request_is_answered(
        moving: tuple[Engine, Settings]) -> None:
    engine, small = moving
    stacks = [unique("run") for _ in range(2)]
    for stack in stacks + [asleep := unique("zz")]:
        succeeded(deploy(engine, stack))
    engine.store.update_stack(asleep, last_activity_at=utcnow() - timedelta(seconds=small.sleep_after + 60))
    engine.idle_pass()
    wait_until(lambda: engine.store.require_stack(asleep).asleep, timeout=120, what="asleep")

    larger = small.model_copy(update={"router_subnet": IPv4Network(NEW)})
    said = ensure_router(engine.swarm, larger)
    assert f"router network `{small.router_network}` is {OLD}: room for 13 addresses" in said

    client = Client(small, stacks)
    client.start()
    try:
        wait_until(lambda: client.answered >= 10, timeout=30, what="the client's first answers")
        lines: list[str] = []
        migrate_network(engine.swarm, larger, lambda line: lines.append(f"{time.strftime('%H:%M:%S')} {line}"))
        time.sleep(2)
    finally:
        client.stop.set()
        client.join(60)
    assert client.failed == [], (client.failed[:6], lines)
    assert client.answered > 50 and f"router network `{small.router_network}` is now {NEW}" in lines[-1], lines

    found = router_network.addresses(engine.swarm, larger)
    assert found is not None and found.subnet == NEW
    assert engine.swarm.networks_named(temporary_name(larger)) == []
    engine.settings = larger  # as `yadockeri router` would run from now on
    assert ensure_router(engine.swarm, larger).count("room for") == 0
    for stack in stacks:
        assert page(larger, stack)["content"] == "main-1"
    woken = engine.wake(asleep, ADMIN)  # (a request wakes it through the scheduler's status endpoint)
    assert woken is not None and succeeded(woken.wait(DEPLOY_WAIT))
    assert page(larger, asleep)["content"] == "main-1"  # on the new network
    succeeded(deploy(engine, fresh := unique("new")))
    assert page(larger, fresh)["content"] == "main-1"
