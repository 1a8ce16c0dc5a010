"""Networks, volumes, containers, configs, secrets and nodes."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Collection
from functools import partial

import docker

from ..errors import YadockeriError
from .errors import APIError, NotFound, docker_errors, explanation, retry
from .labels import TASK_ID_LABEL, label_filters


class Resources:
    """Everything a service uses besides its image."""

    api: docker.APIClient

    # Networks -----------------------------------------------------------------------------------
    def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        """A stack's overlay network (made if missing)."""
        with docker_errors(f"creating network {name}"):
            if self.api.networks(names=[name]):
                return
            try:
                self.api.create_network(name, driver="overlay", labels=labels, check_duplicate=True)
            except APIError as error:
                if "already exists" not in str(error):
                    raise

    def networks_named(self, name: str) -> list[dict]:
        """The networks named exactly `name` (Docker matches names by prefix)."""
        with docker_errors(f"looking up network {name}"):
            return [n for n in self.api.networks(names=[name]) if n.get("Name") == name]

    def create_network(self, name: str, *, labels: dict[str, str], attachable: bool,
                       ipam: dict | None = None) -> None:
        with docker_errors(f"creating network {name}"):
            self.api.create_network(name, driver="overlay", attachable=attachable, labels=labels, scope="swarm",
                                    ipam=ipam)

    def all_networks(self) -> list[dict]:
        """Every network this node knows, with its subnets (checked once, at `yadockeri router`)."""
        with docker_errors("listing networks"):
            return self.api.networks()

    def network_verbose(self, name: str) -> dict | None:
        """A swarm network with its services' tasks and addresses (Docker's `inspect --verbose`)."""
        found = self.networks_named(name)
        if not found:
            return None
        with docker_errors(f"inspecting network {name}"):
            try:
                return self.api.inspect_network(found[0]["Id"], verbose=True, scope="swarm")
            except NotFound:
                return None

    def address_pools(self) -> list[str]:
        """The swarm's default address pools (every overlay network without a subnet takes one)."""
        with docker_errors("reading the swarm's address pools"):
            cluster = (self.api.info().get("Swarm") or {}).get("Cluster") or {}
            return list(cluster.get("DefaultAddrPool") or ["10.0.0.0/8"])

    def remove_network(self, network_id: str) -> bool:
        """Remove a network now; False if it is gone. Raises while tasks still use it."""
        with docker_errors(f"removing network {network_id}"):
            try:
                self.api.remove_network(network_id)
                return True
            except NotFound:
                return False

    def remove_networks(self, **labels: str) -> list[str]:
        """Remove networks by label; retried while their last tasks leave them."""
        removed = []
        with docker_errors("removing networks"):
            for network in self.api.networks(filters={"label": label_filters(labels)}):
                if retry(partial(self.api.remove_network, network["Id"])):
                    removed.append(network["Name"])
        return removed

    def network_names(self, ids: Collection[str]) -> dict[str, str]:
        """Network ID -> name of these networks (service specs name their networks by ID)."""
        if not ids:
            return {}
        with docker_errors("listing networks"):
            return {network["Id"]: network["Name"] for network in self.api.networks(ids=sorted(ids))
                    if network["Id"] in ids}

    def network_gateway(self, name: str) -> str | None:
        """The gateway address of a local network (docker_gwbridge: this host as containers see it)."""
        try:
            with docker_errors(f"inspecting network {name}"):
                config = self.api.inspect_network(name)["IPAM"]["Config"] or []
        except YadockeriError:
            return None
        return next((c.get("Gateway") for c in config if c.get("Gateway")), None)

    # Volumes and containers ---------------------------------------------------------------------
    def volumes(self, **labels: str) -> list[dict]:
        with docker_errors("listing volumes"):
            return self.api.volumes(filters={"label": label_filters(labels)}).get("Volumes") or []

    def remove_volumes(self, **labels: str) -> list[str]:
        removed = []
        with docker_errors("removing volumes"):
            for volume in self.api.volumes(filters={"label": label_filters(labels)}).get("Volumes") or []:
                if retry(partial(self.api.remove_volume, volume["Name"])):
                    removed.append(volume["Name"])
        return removed

    def free_and_remove_volumes(self, labels: list[str], *, attempts: int = 60,
                                say: Callable[[str], None] = print) -> int:
        """Remove this engine's volumes with these labels. A volume still used by a stopped
        container of a removed swarm task (swarm does not always remove those at once) is freed
        by removing that container; one used by a running container is waited for. 0: all went."""
        for attempt in range(attempts):
            busy = 0
            with docker_errors("removing volumes"):
                for volume in self.api.volumes(filters={"label": labels}).get("Volumes") or []:
                    busy += not self._remove_or_free(volume["Name"], say, last=attempt == attempts - 1)
            if not busy:
                return 0
            time.sleep(1)
        return 1

    def _remove_or_free(self, name: str, say: Callable[[str], None], *, last: bool) -> bool:
        try:
            self.api.remove_volume(name)
            say(f"removed {name}")
            return True
        except NotFound:
            return True
        except APIError as error:
            for container in self.api.containers(all=True, filters={"volume": name, "status": ["exited", "dead", "created"]}):
                if TASK_ID_LABEL in (container.get("Labels") or {}):
                    try:
                        self.api.remove_container(container["Id"], force=True)
                    except APIError:
                        pass  # gone meanwhile, or still going: the next attempt sees
            if last:
                say(f"failed {name}: {explanation(error)}")
            return False

    def containers(self, **labels: str) -> list[dict]:
        with docker_errors("listing containers"):
            return self.api.containers(all=True, filters={"label": label_filters(labels)})

    def remove_containers(self, *, exited_only: bool = False, ancestor: str | None = None, **labels: str) -> int:
        """Remove this node's containers with these labels (and image); stopped ones only if exited_only."""
        filters: dict[str, object] = {"label": label_filters(labels)}
        if ancestor:
            filters["ancestor"] = ancestor
        if exited_only:
            filters["status"] = ["exited", "created", "dead"]
        removed = 0
        with docker_errors("removing containers"):
            for container in self.api.containers(all=True, filters=filters):
                try:
                    self.api.remove_container(container["Id"], force=True)
                    removed += 1
                except NotFound:
                    pass
        return removed

    # Configs and secrets -------------------------------------------------------------------------
    def configs(self, *, name: str | None = None, **labels: str) -> list[dict]:
        """Swarm configs whose name starts with `name` and that carry these labels."""
        return self._listed("configs", name, labels)

    def secrets(self, *, name: str | None = None, **labels: str) -> list[dict]:
        return self._listed("secrets", name, labels)

    def _listed(self, kind: str, name: str | None, labels: dict[str, str]) -> list[dict]:
        filters: dict[str, object] = {}
        if name:
            filters["name"] = name
        if labels:
            filters["label"] = label_filters(labels)
        with docker_errors(f"listing {kind}"):
            return (self.api.configs if kind == "configs" else self.api.secrets)(filters=filters)

    def ensure_config(self, name: str, data: bytes, labels: dict[str, str]) -> str:
        """The ID of the config of that name, made with `data` if missing (configs never change)."""
        return self._ensure("config", name, data, labels)

    def ensure_secret(self, name: str, data: bytes, labels: dict[str, str]) -> tuple[str, bool]:
        """The ID of the secret of that name, and whether it was made now."""
        made = not any(s["Spec"]["Name"] == name for s in self.secrets(name=name))
        return self._ensure("secret", name, data, labels), made

    def _ensure(self, kind: str, name: str, data: bytes, labels: dict[str, str]) -> str:
        listed = self.configs if kind == "config" else self.secrets
        for attempt in range(2):
            found = [item for item in listed(name=name) if item["Spec"]["Name"] == name]
            if found:
                return found[0]["ID"]
            create = self.api.create_config if kind == "config" else self.api.create_secret
            with docker_errors(f"creating {kind} {name}"):
                try:
                    return create(name, data, labels=labels)["ID"]
                except APIError as error:
                    if error.status_code != 409 or attempt:  # 409: made meanwhile by another yadockeri
                        raise
        raise AssertionError("unreachable")

    def config_data(self, config_id: str) -> str:
        """What a config holds (a swarm config can be read back; a secret cannot)."""
        with docker_errors(f"reading config {config_id}"):
            data = self.api.inspect_config(config_id)["Spec"].get("Data", "")
        return base64.b64decode(data).decode("utf-8", "replace")

    def remove_config(self, config_id: str) -> bool:
        """False when it could not go now (a task still uses it, or it is gone)."""
        return self._remove(self.api.remove_config, config_id)

    def remove_secret(self, secret_id: str) -> bool:
        return self._remove(self.api.remove_secret, secret_id)

    @staticmethod
    def _remove(remove: Callable[[str], object], item_id: str) -> bool:
        try:
            remove(item_id)
            return True
        except APIError:
            return False

    # Nodes and the engine --------------------------------------------------------------------------
    def nodes(self) -> list[dict]:
        with docker_errors("listing the swarm's nodes"):
            return self.api.nodes()

    def local_node_id(self) -> str:
        """The swarm node ID of the engine yadockeri talks to (where images are built)."""
        with docker_errors("reading the engine's swarm node"):
            return self.api.info()["Swarm"]["NodeID"]

    def engine_log_driver(self) -> str | None:
        """The engine's default log driver (what tasks get unless told otherwise)."""
        with docker_errors("reading the engine's log driver"):
            return self.api.info().get("LoggingDriver")

    def ping(self) -> None:
        with docker_errors("asking whether Docker answers"):
            self.api.ping()
