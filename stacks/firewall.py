"""The host's packet filter for what stack containers (and builds) may reach.

Every container yadockeri starts leaves its networks through a bridge of the host: swarm tasks
through `docker_gwbridge`, classic build steps through `docker0`. Without rules, a branch's
process (or a `RUN` line of its Dockerfile) can connect to every port of the host (yadockeri's
bot and status endpoint, the Docker API on TCP if enabled, databases on the host) and to
link-local addresses (cloud metadata: the node's credentials). These rules, in chains of our
own hooked into INPUT and DOCKER-USER:

- from those bridges to the host itself: only replies, and the status endpoint port (the router
  asks it; it answers only with the router's token, and at most a few connections per address);
- from those bridges to link-local addresses and to YADOCKERI_FIREWALL_BLOCK networks: refused.

`yadockeri router` (and `up`, `install`) applies them on the host it runs on. Pure rendering,
one thin function that runs iptables (argument lists, no shell); idempotent.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

INPUT_CHAIN = "YADOCKERI-INPUT"
FORWARD_CHAIN = "YADOCKERI-FORWARD"
BRIDGES = ("docker_gwbridge", "docker0")
LINK_LOCAL = "169.254.0.0/16"
STATUS_CONNECTIONS_PER_ADDRESS = 32  # the router of a node keeps a few; an attacker cannot hold them all


@dataclass(frozen=True)
class Plan:
    """The chains' rules (without the chain name) and the jumps that hook them in."""

    input_rules: list[list[str]]
    forward_rules: list[list[str]]


def plan(*, status_port: int | None, blocked: list[str], bridges: tuple[str, ...] = BRIDGES) -> Plan:
    """The rules for these settings. Pure."""
    input_rules: list[list[str]] = []
    forward_rules: list[list[str]] = []
    networks = [LINK_LOCAL] + [str(ipaddress.ip_network(cidr, strict=False)) for cidr in blocked]
    for bridge in bridges:
        input_rules.append(["-i", bridge, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"])
        if status_port and bridge == "docker_gwbridge":
            input_rules.append(["-i", bridge, "-p", "tcp", "--dport", str(status_port), "-m", "connlimit",
                                "--connlimit-above", str(STATUS_CONNECTIONS_PER_ADDRESS), "--connlimit-mask", "32",
                                "-j", "REJECT", "--reject-with", "tcp-reset"])
            input_rules.append(["-i", bridge, "-p", "tcp", "--dport", str(status_port), "-j", "RETURN"])
        input_rules.append(["-i", bridge, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"])
        input_rules.append(["-i", bridge, "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"])
        for network in networks:
            forward_rules.append(["-i", bridge, "-d", network, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"])
    return Plan(input_rules, forward_rules)


def commands(rules: Plan) -> list[list[str]]:
    """iptables argument lists that make the chains hold exactly `rules` and hook them in."""
    argv: list[list[str]] = []
    for chain, parent, lines in ((INPUT_CHAIN, "INPUT", rules.input_rules),
                                 (FORWARD_CHAIN, "DOCKER-USER", rules.forward_rules)):
        argv.append(["-F", chain])
        argv += [["-A", chain, *line] for line in lines]
        argv.append(["-I", parent, "1", "-j", chain])
    return argv


def apply(rules: Plan) -> str:
    """Make the host's filter hold these rules. Returns what happened, in words; never raises
    for a host that cannot (no iptables, not root): then it says so."""
    iptables = shutil.which("iptables")
    if iptables is None:
        return "not applied: iptables is not installed (stack containers can reach the host's ports)"
    try:
        if _run(iptables, ["-L", "DOCKER-USER", "-n"]).returncode != 0:
            return "not applied: the DOCKER-USER chain is missing (is dockerd running with iptables on?)"
        for chain in (INPUT_CHAIN, FORWARD_CHAIN):
            _run(iptables, ["-N", chain])  # exists already: fine
        for args in commands(rules):
            if args[0] == "-I" and _run(iptables, ["-C", *args[1:2], *args[3:]]).returncode == 0:
                continue  # hooked in already
            result = _run(iptables, args)
            if result.returncode != 0:
                return f"not applied: iptables {' '.join(args)}: {result.stderr.strip()[:200]}"
    except PermissionError:
        return "not applied: iptables needs root"
    return (f"applied: stack containers reach no port of this host but the status endpoint, "
            f"and no link-local address ({len(rules.input_rules) + len(rules.forward_rules)} rules)")


def remove() -> None:
    """Unhook and delete the chains (uninstall)."""
    iptables = shutil.which("iptables")
    if iptables is None:
        return
    for chain, parent in ((INPUT_CHAIN, "INPUT"), (FORWARD_CHAIN, "DOCKER-USER")):
        while _run(iptables, ["-D", parent, "-j", chain]).returncode == 0:
            pass
        _run(iptables, ["-F", chain])
        _run(iptables, ["-X", chain])


def hold_rule(port: int) -> list[str]:
    """New connections to `port` dropped, not refused: a client sends its SYN again a second
    later (the router's task being replaced meanwhile). Pure."""
    return ["INPUT", "-p", "tcp", "--dport", str(port), "--syn", "-j", "DROP"]


@contextmanager
def holding_connections(port: int) -> Iterator[bool]:
    """Hold new connections to `port` on this host while the block runs. Yields whether they are
    held (no iptables, or not root: they are not, and a client may see a refused connection)."""
    iptables = shutil.which("iptables")
    held = False
    try:
        if iptables is not None:
            held = _run(iptables, ["-I", *hold_rule(port)]).returncode == 0
    except PermissionError:
        held = False
    try:
        yield held
    finally:
        if held and iptables is not None:
            _run(iptables, ["-D", *hold_rule(port)])


def _run(iptables: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    # -w: wait for the xtables lock (dockerd changes rules too).
    return subprocess.run([iptables, "-w", "10", *args], capture_output=True, text=True, timeout=30, check=False)
