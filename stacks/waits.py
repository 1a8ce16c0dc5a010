"""When a rollout is live: tasks and the router, asked together and briskly.

A rollout is live when, for every process service, its new tasks (the wanted spec hash) run and
no old task is wanted any more, middleware runs, and the router has answered for the stack from
a new web task (the router tells yadockeri's checks which address answered). With a health check
(`processes.web.healthcheck`), that answer must be 2xx or 3xx, to its path, within its timeout
of the new task reaching the router; without one any answer counts, and one of 500 or more is
said as a warning.

For the web, every request through the router must reach the new tasks: swarm takes an old task
out of DNS some time after it tells it to stop (and keeps it running 2 s more for gossip), and
the router caches DNS answers for 1-2 s (nginx counts whole seconds). So the web is live only
when the router's own DNS cache holds new tasks only (it shows its cache to yadockeri's checks:
router.RESOLVE_PATH).

Everything is asked in one loop, every FAST_POLL seconds from the first moment (SLOW_POLL after
FAST_FOR): no fixed pause, no wait after another. A process that exits at once is caught by
swarm (`keeps exiting`, a rollback); a new non-web process must also stay up SETTLE seconds,
which overlaps the web's wait. Docker has no task events, so task states are asked. Swarm's
update monitor still guards an update after it is live (engine.py follows it while it holds
the stack's lock).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from .docker_adapter.labels import HASH_LABEL
from .errors import DeployFailed
from .router import CHECK_HEADER, PAGE_HEADER, RESOLVE_PATH, RESOLVED_HEADER, UPSTREAM_HEADER

FAST_POLL = 0.05  # the first FAST_FOR seconds: most rollouts are live by then
FAST_FOR = 10.0
SLOW_POLL = 0.25  # then gentler on the manager, which every concurrent deploy asks
SETTLE = 1.0  # a new non-web process must run this long (overlapped with the web's wait)
ROUTER_GRACE = 10.0  # the router refusing connections this long while tasks run: give up
FAILED_TASK_STATES = ("failed", "rejected")
# Swarm gives a task its addresses and a node in well under a second; one still `new` (no
# address left on one of its networks: swarm says nothing) or `pending` with Docker's reason
# (no node with room for its limits) after this long will not start: say why now, not after
# the deploy timeout.
STUCK_AFTER = 3.0
NO_ADDRESS = "got no network address"
EXHAUSTED = "ip addresses may be exhausted"  # Docker's words when it rejects such a task
ROLLBACK_STATES = ("rollback_started", "rollback_completed", "rollback_paused", "paused")
ANSWER_EXCERPT = 200  # bytes of an unhealthy answer's body said in the error


@dataclass(frozen=True)
class Health:
    """The web's health check: `path` must answer 2xx or 3xx within `timeout` seconds."""

    path: str
    timeout: float


@dataclass(frozen=True)
class Live:
    """How a rollout went live: what was seen, and a warning worth telling (a 500 answer)."""

    detail: str
    warning: str | None = None


def healthy(status: int | None) -> bool:
    return status is not None and 200 <= status < 400


@dataclass(frozen=True)
class Progress:
    """Where one process service stands, from its tasks (pure)."""

    ready: bool  # the new tasks run (long enough), no old task is wanted
    failure: str | None  # why it will not get there
    addresses: frozenset[str]  # router-network addresses of the running new tasks
    old_wanted: bool = False  # an old task is still meant to run (so it is in DNS)


def progress(tasks: list[dict], *, want_hash: str, replicas: int, update: dict, settle: float,
             router_network: str, now: datetime, rolling_back: bool = False) -> Progress:
    """Pure: a service's tasks and UpdateStatus -> its progress. `settle` is how long a new task
    must have run (0 where the router's answer or swarm's monitor proves it). `rolling_back`: the
    wanted spec is the previous one, put back by a rollback yadockeri asked for."""
    asked_for = rolling_back and update.get("State") in ("rollback_started", "rollback_completed")
    if update.get("State") in ROLLBACK_STATES and not asked_for:
        return Progress(False, f"was rolled back: {update.get('Message') or 'the new version failed'}", frozenset())
    new = [t for t in tasks if _hash(t) == want_hash]
    # An old task leaves DNS when swarm tells it to stop (its desired state), before it stops.
    old_wanted = [t for t in tasks if _hash(t) != want_hash and t["DesiredState"] == "running"
                  and t["Status"]["State"] not in FAILED_TASK_STATES + ("complete", "shutdown")]
    running = [t for t in new if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]
    failed = [t for t in new if t["Status"]["State"] in FAILED_TASK_STATES]
    if len(failed) >= 2 and not running:
        return Progress(False, _why_failed(failed), frozenset())
    stuck = None if running else _stuck(new, now)
    if stuck:
        return Progress(False, stuck, frozenset())
    settled = [t for t in running if _seconds_in_state(t, now) >= settle]
    addresses = frozenset(address for t in running for address in _addresses(t, router_network))
    return Progress(len(settled) >= replicas and not old_wanted, None, addresses, bool(old_wanted))


def _why_failed(failed: list[dict]) -> str:
    """Tasks that exit keep exiting; tasks Docker rejects (an image a node cannot pull, no
    address) were rejected: the caller adds Docker's words."""
    if any(EXHAUSTED in (t["Status"].get("Err") or "") for t in failed):
        return NO_ADDRESS
    if all(t["Status"]["State"] == "rejected" for t in failed):
        return "was rejected by Docker"
    return "keeps exiting"


def _stuck(new: list[dict], now: datetime) -> str | None:
    """Why a new task that should run has been waiting too long to start, if it has."""
    for task in new:
        state, err = task["Status"]["State"], task["Status"].get("Err")
        if task["DesiredState"] != "running" or _seconds_in_state(task, now) < STUCK_AFTER:
            continue
        if state == "new":
            return NO_ADDRESS
        if state == "pending" and err:  # the caller adds Docker's words
            return "cannot be placed on any node: ask for less cpus or memory, or an admin adds a node"
    return None


def _hash(task: dict) -> str | None:
    return task["Spec"]["ContainerSpec"].get("Labels", {}).get(HASH_LABEL)


def _addresses(task: dict, network: str) -> list[str]:
    for attachment in task.get("NetworksAttachments") or []:
        if attachment.get("Network", {}).get("Spec", {}).get("Name") == network:
            return [entry.split("/", 1)[0] for entry in attachment.get("Addresses") or []]
    return []


def _seconds_in_state(task: dict, now: datetime) -> float:
    """How long a task has been in its current state (Docker gives nanosecond RFC 3339 times)."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", task["Status"].get("Timestamp", "")).replace("Z", "+00:00")
    try:
        since = datetime.fromisoformat(stamp)
    except ValueError:
        return 0.0
    return (now - since).total_seconds()


def answering_address(upstream: str) -> str:
    """nginx's $upstream_addr (`ip:port`, or several tried: the last one answered) -> the ip."""
    return upstream.split(",")[-1].strip().rsplit(":", 1)[0]


def tried_addresses(upstream: str) -> frozenset[str]:
    """nginx's $upstream_addr of a request that tried every address -> the ips."""
    return frozenset(entry.strip().rsplit(":", 1)[0] for entry in upstream.replace(" : ", ",").split(",")
                     if entry.strip())


@dataclass
class RouterCheck:
    """Asks the router for a stack as a browser would, with the router's token, so that the
    answer says which address answered."""

    url: str
    host: str
    token: str
    session: requests.Session

    def ask(self, path: str = "/") -> tuple[int | None, str | None, str]:
        """(status, answering address, what was seen) — status None when nothing answered. An
        unhealthy answer's first bytes are in what was seen (the app's words, made inert later)."""
        try:
            response = self.session.get(self.url.rstrip("/") + path, headers={"Host": self.host, CHECK_HEADER: self.token},
                                        timeout=5, allow_redirects=False, stream=True)
        except requests.RequestException as error:
            return None, None, f"router not reachable at {self.url}: {type(error).__name__}"
        with response:
            excerpt = "" if healthy(response.status_code) else _excerpt(response)
        if PAGE_HEADER in response.headers:
            return response.status_code, None, f"router says {response.headers[PAGE_HEADER]}"
        upstream = response.headers.get(UPSTREAM_HEADER)
        if not upstream:
            return response.status_code, None, (
                "the router does not say which task answered: it runs with other settings or an older "
                "yadockeri's; run `yadockeri router`")
        seen = f"{path} answered {response.status_code}" + (f": {excerpt}" if excerpt else "")
        return response.status_code, answering_address(upstream), seen

    def resolved(self, stack: str) -> tuple[frozenset[str] | None, str]:
        """The addresses the router's DNS cache holds for the stack's web now (None: not known)."""
        try:
            response = self.session.get(self.url.rstrip("/") + RESOLVE_PATH + stack, timeout=5,
                                        headers={"Host": "yadockeri-check", CHECK_HEADER: self.token})
        except requests.RequestException as error:
            return None, f"router not reachable at {self.url}: {type(error).__name__}"
        response.close()
        if response.headers.get(PAGE_HEADER) != "resolve":
            return None, ("the router does not show its DNS cache: it runs with other settings or an older "
                          "yadockeri's; run `yadockeri router`")
        addresses = tried_addresses(response.headers.get(RESOLVED_HEADER, ""))
        return addresses, f"the router resolves the web to {', '.join(sorted(addresses)) or 'nothing yet'}"


@dataclass(frozen=True)
class Watched:
    """A process service to wait for."""

    name: str
    want_hash: str
    replicas: int
    settle: float
    rolling_back: bool = False  # the previous spec, put back by yadockeri


def wait_live(*, stack: str, services: list[Watched], web: str | None, middleware: list[str], check: RouterCheck,
              tasks: Callable[[str], list[dict]], update_of: Callable[[str], dict], router_network: str,
              timeout: float, fail: Callable[[str, str], Exception], health: Health | None = None,
              no_address_left: Callable[[str], str | None] = lambda service: "") -> Live:
    """Until every service is ready, middleware runs and the router answered from a new web task
    with no old one left in its DNS cache (with `health`: answered its path with 2xx or 3xx
    within its timeout of that moment). `fail(service, why)` makes the error to raise (with the
    service's logs). A task given no address fails it only if `no_address_left(service)`
    confirms it, with the words to add (None: swarm's allocator is slow under load, wait on)."""
    started = time.monotonic()
    deadline = started + timeout + (health.timeout if health else 0.0)
    pending = {s.name: s for s in services}
    waiting_middleware = list(middleware)
    unreachable_since: float | None = None
    web_routed_since: float | None = None  # the new web task alone in the router's cache: health counts from here
    live, last = Live("processes running"), "no answer yet"
    while True:
        now = datetime.now(UTC)
        for name, watched in list(pending.items()):
            state = progress(tasks(name), want_hash=watched.want_hash, replicas=watched.replicas,
                             update=update_of(name), settle=watched.settle, router_network=router_network, now=now,
                             rolling_back=watched.rolling_back)
            if state.failure == NO_ADDRESS:
                said = no_address_left(name)
                if said is None:
                    continue  # still being given one: wait on (the deploy timeout still holds)
                raise fail(name, f"{NO_ADDRESS}: {said}" if said else NO_ADDRESS)
            if state.failure:
                raise fail(name, state.failure)
            if name != web:
                if state.ready:
                    del pending[name]
                continue
            if state.old_wanted or not state.ready:
                continue
            cached, last = check.resolved(stack)
            unreachable_since = None if cached is not None else (unreachable_since or time.monotonic())
            if not cached or not cached <= state.addresses:
                continue  # an old task may still get requests (or nothing resolves yet)
            web_routed_since = web_routed_since or time.monotonic()
            status, address, last = check.ask(health.path if health else "/")
            unreachable_since = None if status is not None else (unreachable_since or time.monotonic())
            if address is None or address not in state.addresses:
                pass
            elif health is None:
                live = Live(f"web answered {status} through the router",
                            f"the web answered {last}" if status is not None and status >= 500 else None)
                del pending[name]
            elif healthy(status):
                live = Live(f"web answered {health.path} with {status} through the router")
                del pending[name]
            if name in pending and health and time.monotonic() - web_routed_since > health.timeout:
                raise fail(name, f"is not healthy: {health.path} did not answer 2xx or 3xx within "
                                 f"{health.timeout:g}s ({last})")
        waiting_middleware = [m for m in waiting_middleware if not _any_running(tasks(m))]
        if not pending and not waiting_middleware:
            return live
        if unreachable_since is not None and time.monotonic() - unreachable_since > ROUTER_GRACE:
            raise DeployFailed(f"the web process runs but the router does not answer ({last})")
        if time.monotonic() > deadline:
            stuck = sorted(pending) + waiting_middleware
            raise fail(stuck[0], f"did not get ready within {timeout:.0f}s ({last})")
        time.sleep(FAST_POLL if time.monotonic() < started + FAST_FOR else SLOW_POLL)


def _excerpt(response: requests.Response) -> str:
    """The first bytes of a body, on one line (a stack's answer is the attacker's: bounded)."""
    try:
        raw = response.raw.read(ANSWER_EXCERPT, decode_content=True) or b""
    except (requests.RequestException, OSError, ValueError):
        return ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:ANSWER_EXCERPT]


def _any_running(tasks: list[dict]) -> bool:
    return any(t["Status"]["State"] == "running" and t["DesiredState"] == "running" for t in tasks)
