"""`yadockeri router --migrate-network`: the router and every web process onto a router network
with YADOCKERI_ROUTER_SUBNET, while they serve.

Docker cannot change a network's subnet, and the router network keeps its name (the settings
and every web service's spec name it), so the move takes two hops: onto a temporary network
`<name>-move` (a /24 of the swarm's pool: the network being replaced held no more), then, once
the old network is removed and made again with the new subnet, back onto it. In each hop the
router joins the target network too (its DNS then finds a stack's web on either network), the
web services move over a few at a time (start-first: a new task runs before the old one stops),
and the router leaves the source network. Each step checks what is already done, so a move
that was interrupted is finished by running it again.

The router is published in host mode, so each of its updates replaces its task stop-first.
While that happens, new connections to its port on this node are held (their SYNs dropped: a
client sends it again a second later) rather than refused (stacks/firewall.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import firewall, router_network
from .docker_adapter.labels import PROCESS_LABEL, ROLE_LABEL
from .errors import ConfigError, YadockeriError
from .polling import poll_until
from .router import HEALTH_PATH, ensure_network, find_network, health_ok, remove_network

if TYPE_CHECKING:
    from .config import Settings
    from .docker_adapter import Swarm

log = logging.getLogger(__name__)
AT_ONCE = 4  # web services moved together
STEP_TIMEOUT = 300.0


def temporary_name(settings: Settings) -> str:
    return f"{settings.router_network}-move"


def migrate_network(swarm: Swarm, settings: Settings, say: Callable[[str], None]) -> None:
    name, temporary = settings.router_network, temporary_name(settings)
    current = find_network(swarm, name)
    if current is not None and router_network.subnet_of(current) == settings.router_subnet:
        if find_network(swarm, temporary) is not None:
            _hop(swarm, settings, temporary, name, say)  # a move interrupted in its second hop
            remove_network(swarm, temporary, time.monotonic() + STEP_TIMEOUT, STEP_TIMEOUT)
        say(f"router network `{name}` is {settings.router_subnet}: nothing to move")
        return
    router_network.check_subnet(settings.router_subnet, pools=swarm.address_pools(),
                                networks=swarm.all_networks(), name=name)
    if current is not None:
        ensure_network(swarm, temporary)  # a /24 of the swarm's pool
        _hop(swarm, settings, name, temporary, say)
        remove_network(swarm, name, time.monotonic() + STEP_TIMEOUT, STEP_TIMEOUT)
        say(f"network `{name}` ({router_network.subnet_of(current)}) removed")
    ensure_network(swarm, name, settings.router_subnet)
    _hop(swarm, settings, temporary, name, say)
    remove_network(swarm, temporary, time.monotonic() + STEP_TIMEOUT, STEP_TIMEOUT)
    say(f"router network `{name}` is now {settings.router_subnet} "
        f"({router_network.usable(settings.router_subnet)} addresses); `{temporary}` removed")


def _hop(swarm: Swarm, settings: Settings, source: str, target: str, say: Callable[[str], None]) -> None:
    """The router onto both, every web service from `source` to `target`, the router off `source`."""
    source_id = (find_network(swarm, source) or {}).get("Id")
    _router_on(swarm, settings, [source, target])
    moved = 0
    for _ in range(3):  # a deploy may have made a web on `source` meanwhile
        webs = [s for s in swarm.services(**{ROLE_LABEL: "process", PROCESS_LABEL: "web"})
                if source_id and _on(s, source_id)]
        if not webs:
            break
        for start in range(0, len(webs), AT_ONCE):
            batch = webs[start:start + AT_ONCE]
            for service in batch:
                swarm.set_networks(service["Spec"]["Name"], _moved(service, source_id or "", target))
            for service in batch:
                _wait_moved(swarm, service["Spec"]["Name"], target)
            moved += len(batch)
            say(f"  {moved} web services moved to `{target}`")
    _router_on(swarm, settings, [target])
    say(f"router and {moved} web services moved from `{source}` to `{target}`")


def _on(service: dict[str, Any], network_id: str) -> bool:
    return any(n.get("Target") == network_id for n in _networks(service))


def _networks(service: dict[str, Any]) -> list[dict[str, Any]]:
    return service["Spec"].get("TaskTemplate", {}).get("Networks") or []


def _moved(service: dict[str, Any], source_id: str, target: str) -> list[dict[str, Any]]:
    """The service's networks with `source` replaced by `target`, under the same aliases. Pure."""
    return [{**n, "Target": target} if n.get("Target") == source_id else n for n in _networks(service)]


def _wait_moved(swarm: Swarm, service: str, target: str) -> None:
    """Until every task meant to run is on `target` and runs, and none off it still runs."""
    def done() -> bool | None:
        tasks = swarm.tasks(service, desired_running=True)
        moved = all(t["Status"]["State"] == "running" and target in _attached(t) for t in tasks)
        return True if moved and _only_new(swarm, service, target) else None

    poll_until(done, timeout=STEP_TIMEOUT, interval=0.2,
               timed_out=lambda: _fail(f"{service} did not move to `{target}` within {STEP_TIMEOUT:.0f}s"))


def _only_new(swarm: Swarm, service: str, target: str) -> bool:
    """No task that still runs is off `target` (the old one has stopped: its address is free)."""
    return not [t for t in swarm.tasks(service) if t["Status"]["State"] in ("running", "starting", "preparing")
                and target not in _attached(t)]


def _attached(task: dict[str, Any]) -> set[str]:
    return {a.get("Network", {}).get("Spec", {}).get("Name", "") for a in task.get("NetworksAttachments") or []}


def _router_on(swarm: Swarm, settings: Settings, names: list[str]) -> None:
    """The router service on these networks (and the control network), its tasks replaced with
    new connections held meanwhile; then until it answers its health check."""
    service = swarm.service(settings.router_service)
    if service is None:
        raise ConfigError(f"the router (service `{settings.router_service}`) is not running: run `yadockeri router`")
    wanted = names + ([settings.control_network] if settings.control_network else [])
    have = {n.get("Target") for n in _networks(service)}
    ids = {name: (find_network(swarm, name) or {}).get("Id") for name in wanted}
    if have == set(ids.values()):
        return
    before = {t["ID"] for t in swarm.tasks(settings.router_service)}
    with firewall.holding_connections(settings.router_port):
        swarm.set_networks(settings.router_service, [{"Target": name} for name in wanted])
        poll_until(lambda: True if _router_replaced(swarm, settings, before, wanted) else None, timeout=STEP_TIMEOUT,
                   interval=0.1, timed_out=lambda: _fail(f"the router did not restart on {', '.join(wanted)}"))
    url = settings.router_check_url + HEALTH_PATH
    poll_until(lambda: True if health_ok(url) else None, timeout=STEP_TIMEOUT, interval=0.1,
               timed_out=lambda: _fail(f"the router does not answer {url} after moving"))


def _router_replaced(swarm: Swarm, settings: Settings, before: set[str], names: list[str]) -> bool:
    """Every router task meant to run is a new one, runs, and is on these networks."""
    tasks = swarm.tasks(settings.router_service, desired_running=True)
    return bool(tasks) and all(t["ID"] not in before and t["Status"]["State"] == "running"
                               and _attached(t) >= set(names) for t in tasks)


def _fail(message: str) -> bool:
    raise YadockeriError(message + "; run `yadockeri router --migrate-network` again to finish the move")
