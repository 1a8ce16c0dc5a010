"""FakeSwarm's resources: networks, volumes, containers and nodes, and the engine's log driver."""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

from stacks.errors import YadockeriError

from .swarm_state import SwarmState, matches, new_id, public


class FakeResources(SwarmState):
    """Everything a service uses besides its image; Docker refuses removing what is in use."""

    log_driver: str | None

    # Scripting and looking (not part of DockerPort) ---------------------------------------------
    def add_node(self, node_id: str, hostname: str, *, state: str = "ready", availability: str = "active") -> None:
        with self._lock:
            self._nodes.append({"ID": node_id, "Description": {"Hostname": hostname}, "Status": {"State": state},
                                "Spec": {"Availability": availability, "Role": "manager"}})

    def network(self, name: str) -> dict[str, Any] | None:
        """The network called `name` (Docker's network list shape), if any."""
        with self._lock:
            return next((dict(n) for n in self._networks.values() if n["Name"] == name), None)

    def volume_names(self) -> list[str]:
        with self._lock:
            return sorted(self._volumes)

    # Networks, volumes, containers ----------------------------------------------------------------
    def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        with self._call("ensure_network"):
            if self.network(name) is None:
                self._add_network(name, labels)

    def network_names(self, ids: Collection[str]) -> dict[str, str]:
        with self._call("network_names"):
            return {network_id: network["Name"] for network_id, network in self._networks.items() if network_id in ids}

    def network_verbose(self, name: str) -> dict[str, Any] | None:
        """Docker's verbose shape without tasks: the fake gives no addresses, so none are taken."""
        with self._call("network_verbose"):
            found = self.network(name)
            return None if found is None else {**found, "IPAM": {"Config": []}, "Services": {}}

    def remove_networks(self, **labels: str) -> list[str]:
        with self._call("remove_networks"):
            removed = []
            for network_id, network in list(self._networks.items()):
                if not matches(network["Labels"], labels):
                    continue
                users = [s.name for s in self._services.values() if network_id in _network_ids(s.spec)]
                if users:  # what Docker says (after Swarm's retries while tasks leave)
                    raise YadockeriError(f"Docker refused removing networks: network {network_id} is in use by "
                                         f"service {users[0]}")
                del self._networks[network_id]
                removed.append(network["Name"])
            return removed

    def remove_volumes(self, **labels: str) -> list[str]:
        with self._call("remove_volumes"):
            removed = []
            for name, volume in list(self._volumes.items()):
                if matches(volume["Labels"], labels):
                    if any(name in c["_volumes"] and c["State"] == "running" for c in self._containers):
                        raise YadockeriError(f"Docker refused removing volumes: volume is in use - [{name}]")
                    del self._volumes[name]
                    removed.append(name)
            return removed

    def containers(self, **labels: str) -> list[dict]:
        with self._call("containers"):
            return [public(c) for c in self._containers if matches(c["Labels"], labels)]

    def remove_containers(self, *, exited_only: bool = False, ancestor: str | None = None, **labels: str) -> int:
        with self._call("remove_containers"):
            doomed = [c for c in self._containers if matches(c["Labels"], labels)
                      and (not exited_only or c["State"] in ("exited", "created", "dead"))
                      and (ancestor is None or ancestor in (c["ImageID"], c["Image"]))]
            self._containers = [c for c in self._containers if c not in doomed]
            return len(doomed)

    # Nodes and the engine ------------------------------------------------------------------------
    def nodes(self) -> list[dict]:
        with self._call("nodes"):
            return copy.deepcopy(self._nodes)

    def local_node_id(self) -> str:
        with self._call("local_node_id"):
            return self.node_id

    def engine_log_driver(self) -> str | None:
        with self._call("engine_log_driver"):
            return self.log_driver

    # Inside -----------------------------------------------------------------------------------
    def _add_network(self, name: str, labels: dict[str, str], driver: str = "overlay") -> str:
        network_id = new_id()
        self._networks[network_id] = {"Id": network_id, "Name": name, "Labels": dict(labels), "Driver": driver,
                                      "Scope": "swarm" if driver == "overlay" else "local", "_index": len(self._networks)}
        return network_id


def _network_ids(spec: dict[str, Any]) -> set[str]:
    return {n["Target"] for n in spec["TaskTemplate"].get("Networks") or []}
