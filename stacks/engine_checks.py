"""What the engine checks before it queues a deployment, with the words a user can act on: the
caller's right to the stack, the router running as the settings say, the registry, and room
for one more web process on the router network. A mixin of Engine (stacks/engine.py), which
gives it `settings`, `store`, `docker` and `swarm`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import router_network
from .errors import CapacityReached, PermissionDenied
from .router import check_router

if TYPE_CHECKING:
    from .config import Settings
    from .connections import DockerConnections
    from .docker_adapter import Swarm
    from .runner import Actor
    from .store import StackRecord, Store


class Checks:
    settings: Settings
    store: Store
    docker: DockerConnections

    @property
    def swarm(self) -> Swarm:
        raise NotImplementedError

    def _require_owner(self, stack: StackRecord, actor: Actor, doing: str) -> None:
        if actor.admin or actor.id == stack.owner:
            return
        self.store.add_event(actor=actor.id, source=actor.source, action=doing.split()[0], stack=stack.name,
                             result="refused", detail="not owner or admin")
        raise PermissionDenied(f"only the owner of `{stack.name}` (<{stack.owner}>) or an admin may {doing}")

    def _require_router(self) -> None:
        """The shared router runs as these settings say, or nothing starts (stacks/router.py)."""
        check_router(self.swarm, self.settings)

    def _require_router_address(self) -> None:
        """A web process more must find an address on the router network: refused now, not after
        swarm left its task waiting (one Docker call; a full network is also caught in the wait)."""
        found = router_network.addresses(self.swarm, self.settings)
        if found is not None and found.size and found.free < 1:
            raise CapacityReached(router_network.full(found, self.settings.router_network))

    def _require_registry(self) -> None:
        self.docker.require_registry()

    def _refuse_foreign_stack(self, stack: str) -> None:
        self.docker.refuse_foreign_stack(stack)

