"""The ports (stacks/ports.py) and who stands behind them: the real adapters and the fakes have
every method of their port, with the port's parameters. mypy checks the same statically through
`_ports_of` below (and through the engine, which hands the real ones to the pipeline)."""

from __future__ import annotations

import inspect

import pytest

from stacks.docker_adapter import Swarm
from stacks.gitrepo import Mirror
from stacks.ports import DockerPort, MirrorPort, StorePort
from stacks.store import Store
from tests.fakes.mirror import FakeMirror
from tests.fakes.swarm import FakeSwarm


def _ports_of(swarm: Swarm, fake_swarm: FakeSwarm, mirror: Mirror, fake_mirror: FakeMirror,
              store: Store) -> tuple[DockerPort, DockerPort, MirrorPort, MirrorPort, StorePort]:
    return swarm, fake_swarm, mirror, fake_mirror, store  # mypy: each is its port


def members(cls: type) -> list[str]:
    """Public methods, inherited ones too (Swarm is composed of its parts)."""
    return sorted(name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_"))


@pytest.mark.parametrize(("port", "implementation"), [
    (DockerPort, Swarm), (DockerPort, FakeSwarm), (MirrorPort, Mirror), (MirrorPort, FakeMirror), (StorePort, Store),
])
def test_each_implementation_has_the_port_s_methods_and_parameters(port: type, implementation: type) -> None:
    for name in members(port):
        wanted = inspect.signature(getattr(port, name))
        given = inspect.signature(getattr(implementation, name))
        assert list(given.parameters) == list(wanted.parameters), f"{implementation.__name__}.{name}"
        for parameter in wanted.parameters.values():
            assert given.parameters[parameter.name].kind == parameter.kind, f"{implementation.__name__}.{name}"


def test_the_docker_port_is_small() -> None:
    """What the engine needs of Docker, not all the adapter can do: connections, logins and log
    following stay with the modules that make connections."""
    assert set(members(DockerPort)) < set(members(Swarm))
    assert not {"login", "follow_service_logs"} & set(members(DockerPort))
