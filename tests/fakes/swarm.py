"""FakeSwarm: an in-memory Docker engine and one-node swarm behind `stacks.ports.DockerPort`.

It answers in Docker's own shapes (inspect dicts with IDs, task states and `Err`s, container
lists, network IDs in service specs), so the pipeline's real code reads it as it reads Docker;
tests/contract/test_docker_contract.py runs the same checks against it and against a real
engine to keep it so. What it does not model it does not pretend: no scheduling delays, no
restart timing, no pulling (an image it does not have is `No such image`, as on an engine
without a registry).

Tasks reach their state at once (a test never waits for Docker) and have been in it for
`task_age` seconds, so a rollout that must stay up a moment has. What a service's tasks do is
scripted by name with `behave(name, Behaviour(...))`; builds with `build_script`; any method
can be made to fail with `fail_next`.

It is composed as the real adapter (stacks/docker_adapter/swarm.py) is, of parts over one shared
state (swarm_state.py): services (swarm_services.py) over their tasks (swarm_tasks.py), networks,
volumes, containers and nodes (swarm_resources.py), and images and builds (swarm_images.py); the
docker CLI's stack deploy, which makes networks and services both, is FakeSwarm's own.
"""

from __future__ import annotations

import itertools

import yaml

from stacks.docker_adapter.labels import NAMESPACE_LABEL

from . import stack_cli
from .swarm_images import BuildCall, BuildScript, FakeImages, HeldBuild
from .swarm_resources import FakeResources
from .swarm_services import LOG_LINE_TIME, FakeServices
from .swarm_tasks import JOB_MODES, MODE_NAMES, Behaviour

__all__ = ["DEFAULT_NETWORKS", "JOB_MODES", "LOG_LINE_TIME", "MODE_NAMES", "NAMESPACE", "Behaviour", "BuildCall",
           "BuildScript", "FakeSwarm", "HeldBuild"]

NAMESPACE = NAMESPACE_LABEL
DEFAULT_NETWORKS = ("ingress", "bridge", "host", "none", "docker_gwbridge")


class FakeSwarm(FakeServices, FakeResources, FakeImages):
    """An in-memory DockerPort (see the module docstring). Thread-safe: the pipeline calls it
    from the build and the middleware threads at once, the runner from several jobs."""

    def __init__(self, *, images: tuple[str, ...] = ("busybox:latest",), task_age: float = 60.0,
                 log_driver: str | None = "json-file", node_id: str = "fakenode0manager00000001",
                 registry: set[str] | None = None) -> None:
        super().__init__(node_id=node_id, registry=registry)
        self._held_builds = {}
        self._addresses = itertools.count(2)
        self.task_age = task_age
        self.log_driver = log_driver
        self.behaviours = {}
        self.tamper = None
        self.build_script = BuildScript()
        self.builds = []
        self.pushed = []
        self.stack_deploys: list[tuple[str, str]] = []  # (stack, compose text)
        self.pruned = []
        self.add_node(node_id, "fake-manager")
        for name in DEFAULT_NETWORKS:
            self._add_network(name, {}, driver="overlay" if name == "ingress" else "bridge")
        for ref in images:
            self.add_image(ref)

    # The docker CLI ---------------------------------------------------------------------------------
    def stack_deploy(self, stack: str, compose_yaml: str, *, with_registry_auth: bool) -> str:
        with self._call("stack_deploy"):
            self.stack_deploys.append((stack, compose_yaml))
            data = stack_cli.unescape(yaml.safe_load(compose_yaml))
            said = []
            for name, network in (data.get("networks") or {}).items():
                full = f"{stack}_{name}"
                if self.network(full) is None:
                    self._add_network(full, {**(network.get("labels") or {}), NAMESPACE: stack},
                                      driver=network.get("driver") or "overlay")
                    said.append(f"Creating network {full}")
            for name, service in (data.get("services") or {}).items():
                spec = stack_cli.service_spec(stack, name, service, self._network_ids_by_name())
                current = self._find(spec["Name"])
                if current is None:
                    said.append(f"Creating service {spec['Name']}")
                    self._create_from(spec, volumes=stack_cli.named_volumes(stack, service, data))
                else:
                    said.append(f"Updating service {spec['Name']} (id: {current.id})")
                    if spec != current.spec:
                        self._update(current, spec)
            return "\n".join(said)
