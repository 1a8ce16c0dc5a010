"""How many stacks yadockeri holds against its limits, the refusals at those limits, and the
summary `list --summary` and Slack show.

YADOCKERI_MAX_STACKS bounds the installation, pull-request stacks included.
YADOCKERI_MAX_STACKS_PER_OWNER bounds one person: admins are not limited, nor is the `github`
identity that owns the pull-request stacks (it is not a person who could destroy one to make
room; the installation cap bounds those). Both are checked only where a deploy would create a
new stack: by the engine before any Docker call (a refusal is instant), and again in the
transaction that creates the stack's row (stacks/queries/stacks.py `check_room`), so two deploys
at once cannot both pass. A redeploy or env change of an existing stack is never refused.

No I/O of its own: the store counts, stacks/router_network.py reads the router network's addresses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import LimitReached, YadockeriError

if TYPE_CHECKING:  # the store counts with this module: it loads nothing of Docker's
    from .config import Settings
    from .docker_adapter import Swarm
    from .router_network import Addresses

PER_OWNER = "YADOCKERI_MAX_STACKS_PER_OWNER"
INSTALLATION = "YADOCKERI_MAX_STACKS"
GITHUB_OWNER = "github"  # the owner of pull-request stacks (stacks/pull_requests.py)
NOT_A_PERSON = frozenset({GITHUB_OWNER})  # owners the per-person cap does not apply to
NAMES_SHOWN = 20  # a refusal names at most this many of the person's stacks
ERROR_SHOWN = 200  # characters of Docker's error in the summary


@dataclass(frozen=True)
class StackLimits:
    """The two caps, None where there is none."""

    max_stacks: int | None = None
    max_per_owner: int | None = None

    @classmethod
    def of(cls, settings: Settings) -> StackLimits:
        return cls(settings.max_stacks, settings.max_stacks_per_owner)

    @property
    def any(self) -> bool:
        return self.max_stacks is not None or self.max_per_owner is not None

    def limits_owner(self, owner: str, *, admin: bool) -> bool:
        """Whether the per-person cap applies to this creator."""
        return self.max_per_owner is not None and not admin and owner not in NOT_A_PERSON


@dataclass(frozen=True)
class StackCounts:
    """Live stacks: all of them, the awake ones serving, the asleep ones, the failed ones."""

    total: int = 0
    running: int = 0
    asleep: int = 0
    failed: int = 0


@dataclass(frozen=True)
class OwnedStack:
    name: str
    asleep: bool


@dataclass(frozen=True)
class Capacity:
    """What `list --summary` shows. `router` is None when the router network does not exist yet,
    or when Docker could not say (`router_error`)."""

    stacks: StackCounts
    max_stacks: int | None
    max_stacks_per_owner: int | None
    router_network: str
    router: Addresses | None = None
    router_error: str | None = None


def measure(counts: StackCounts, settings: Settings, swarm: Callable[[], Swarm]) -> Capacity:
    """The capacity now; Docker's trouble makes the router's part unknown, never a failure."""
    from .router_network import addresses

    router, error = None, None
    try:
        router = addresses(swarm(), settings)
    except YadockeriError as failure:
        error = str(failure) or type(failure).__name__
    return Capacity(counts, settings.max_stacks, settings.max_stacks_per_owner, settings.router_network, router, error)


# Refusals -------------------------------------------------------------------------------------
def owner_full(limit: int, owned: list[OwnedStack]) -> LimitReached:
    """The per-person refusal: the limit and its setting, the person's stacks, what to do."""
    names = ", ".join(f"{s.name} (asleep)" if s.asleep else s.name for s in owned[:NAMES_SHOWN])
    if len(owned) > NAMES_SHOWN:
        names += f" and {len(owned) - NAMES_SHOWN} more"
    bound = "the most one person may" if len(owned) == limit else f"more than the {limit} one person may"
    asleep = [s.name for s in owned if s.asleep]
    first = (asleep or [s.name for s in owned])[0]
    order = " (asleep ones first)" if asleep else ""
    return LimitReached(
        f"you already own {_stacks(len(owned))}, {bound} ({PER_OWNER}={limit}): {names}. Destroy one you no longer "
        f"need{order}, for example `destroy {first}`; an admin is not limited.", setting=PER_OWNER, limit=limit)


def installation_full(limit: int, total: int, asleep: int) -> LimitReached:
    bound = "its most" if total == limit else "more than its most"
    sleeping = "none of them is asleep" if not asleep else f"{asleep} of them {'is' if asleep == 1 else 'are'} asleep"
    return LimitReached(f"yadockeri holds {_stacks(total)}, {bound} ({INSTALLATION}={limit}); {sleeping}: "
                        "ask their owners or an admin to destroy some", setting=INSTALLATION, limit=limit)


# The summary ----------------------------------------------------------------------------------
def summary_lines(capacity: Capacity) -> list[str]:
    """Three lines: stacks against the installation's cap, the router network's addresses, the
    per-person cap."""
    return [_stacks_line(capacity), _router_line(capacity), _per_person_line(capacity.max_stacks_per_owner)]


def _stacks_line(capacity: Capacity) -> str:
    counts = capacity.stacks
    parts = [f"{counts.running} running", f"{counts.asleep} asleep"]
    if counts.failed:
        parts.append(f"{counts.failed} failed")
    bound = f" of at most {capacity.max_stacks}" if capacity.max_stacks is not None else ", no limit"
    return f"stacks: {counts.total} ({', '.join(parts)}){bound}"


def _router_line(capacity: Capacity) -> str:
    router = capacity.router
    if router is not None:
        return (f"router network {router.network} ({router.subnet}): {router.used} of {router.size} addresses taken, "
                f"{router.free} free")
    if capacity.router_error is not None:
        said = " ".join(capacity.router_error.split())
        if len(said) > ERROR_SHOWN:
            said = said[:ERROR_SHOWN - 1] + "…"
        return f"router network {capacity.router_network}: unknown (Docker: {said})"
    return f"router network {capacity.router_network}: not made yet (`yadockeri router` makes it)"


def _per_person_line(limit: int | None) -> str:
    return f"per person: at most {_stacks(limit)}" if limit is not None else "per person: no limit"


def _stacks(count: int) -> str:
    return f"{count} stack{'' if count == 1 else 's'}"
