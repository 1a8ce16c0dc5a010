"""Cluster: the two-node swarm and its registry, made by `up()` from its parts (network, registry,
builder certificates, one dockerd per node, the swarm) and removed, every part, by `down()`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess
import time

import requests

from .common import (
    CERTS_DIR,
    HOST_DOCKER,
    HOST_IMAGES,
    LOCK_FILE,
    MANAGER,
    MANAGER_ADDR,
    NODES,
    REGISTRY,
    REGISTRY_PIDFILE,
    STATE_DIR,
    WORKER,
    WORKER_ADDR,
    Node,
    end_pidfile,
)
from .dockerd import Dockerds, make_builder_tls, remove_node_files
from .network import check_subnet_free, make_network, remove_network
from .registry import RegistryServer


class Cluster:
    """The two-node swarm and its registry. `up()` makes it, `down()` removes every part."""

    def __init__(self) -> None:
        self.registry = REGISTRY
        self.registry_user = "yd-" + secrets.token_hex(3)
        self.registry_password = secrets.token_urlsafe(18)
        self._lock: int | None = None
        self._registry_server = RegistryServer(self.registry_user, self.registry_password)
        self._dockerds = Dockerds()
        self.manager = MANAGER
        self.worker = WORKER
        self.node_ids: dict[str, str] = {}
        self.builder_tls: tuple[str, str, str] = ("", "", "")  # CA, client certificate, key (PEM)

    # -- up ------------------------------------------------------------------------------------
    def up(self) -> Cluster:
        self._lock = os.open(LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # one multi-node session at a time on this machine
        try:
            self._remove_leftovers()
            check_subnet_free()
            STATE_DIR.mkdir(parents=True, exist_ok=True)
            make_network()
            self._registry_server.start()
            self.builder_tls = make_builder_tls()
            for node in NODES:
                self._dockerds.start(node)
            self._swarm()
            self._load_images(HOST_IMAGES)
        except BaseException:
            self.down()
            raise
        return self

    def _swarm(self) -> None:
        manager = self.manager.client()
        manager.swarm.init(advertise_addr=MANAGER_ADDR, listen_addr=f"{MANAGER_ADDR}:2377")
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        self.worker.client().swarm.join(remote_addrs=[f"{MANAGER_ADDR}:2377"], join_token=token,
                                        advertise_addr=WORKER_ADDR, listen_addr=f"{WORKER_ADDR}:2377")
        deadline = time.monotonic() + 60
        while True:
            nodes = manager.api.nodes()
            if len(nodes) == 2 and all(n["Status"]["State"] == "ready" for n in nodes):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not join: {nodes}")
            time.sleep(0.5)
        for n in nodes:
            self.node_ids["manager" if n["Spec"]["Role"] == "manager" else "worker"] = n["ID"]

    def load_images(self, images: tuple[str, ...], node: Node | None = None) -> None:
        self._load_images(images, node or self.manager)

    def _load_images(self, images: tuple[str, ...], node: Node | None = None) -> None:
        node = node or self.manager
        save = subprocess.Popen(["docker", "-H", HOST_DOCKER, "save", *images], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "-H", node.docker_host, "load", "-q"], stdin=save.stdout,
                              capture_output=True, check=False)
        assert save.stdout is not None
        save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise RuntimeError(f"could not copy {images} to {node.name}: {load.stderr.decode(errors='replace')}")

    # -- use -----------------------------------------------------------------------------------
    def set_availability(self, role: str, availability: str) -> None:
        """`docker node update --availability active|pause|drain` of the manager or the worker."""
        api = self.manager.client().api
        node = api.inspect_node(self.node_ids[role])
        spec = dict(node["Spec"], Availability=availability)
        api.update_node(node["ID"], node["Version"]["Index"], spec)

    def registry_api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self._registry_server.api(method, path, **kwargs)

    def registry_tags(self, repository: str) -> list[str]:
        return self._registry_server.tags(repository)

    def registry_has(self, ref: str) -> bool:
        """Whether the registry still serves this `<registry>/<repo>:<tag>` (its manifest)."""
        return self._registry_server.has(ref)

    def volumes_on(self, node: Node, label: str) -> list[str]:
        found = node.client().api.volumes(filters={"label": [label]}).get("Volumes") or []
        return [v["Name"] for v in found]

    # -- down ----------------------------------------------------------------------------------
    def down(self) -> None:
        try:
            for node in (WORKER, MANAGER):
                self._dockerds.stop(node)
            for node in NODES:
                remove_node_files(node)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(node.sock)
            self._registry_server.stop()
            shutil.rmtree(CERTS_DIR, ignore_errors=True)
            remove_network()
            shutil.rmtree(STATE_DIR, ignore_errors=True)
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def _remove_leftovers(self) -> None:
        """What a killed earlier run left (its processes are found by their pidfiles, and are
        ended only if their command line names this cluster's paths)."""
        for node in (WORKER, MANAGER):
            end_pidfile(node.pidfile, node.pidfile)
        end_pidfile(REGISTRY_PIDFILE, str(STATE_DIR / "registry"))
        remove_network(only_existing=True)
        for node in NODES:
            remove_node_files(node)
        shutil.rmtree(STATE_DIR / "registry", ignore_errors=True)
