"""Limits and privileges of every task yadockeri starts (processes, middleware, release and
other one-off jobs), from settings. Pure: no Docker here.

A branch may ask for less or for more within the maximums; it never gets a task without a
CPU, memory and pids limit, and never a capability outside the minimal set (an admin may add
some back per app in yadockeri.yml, never a branch).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import SpecError

if TYPE_CHECKING:
    from .config import Settings

MIN_CPUS = 0.01  # Docker's own minimum; and 0 nano-CPUs would mean "no limit"
MIN_MEMORY = 6 * 1024**2  # Docker refuses less than 6 MiB
NANO = 1_000_000_000

# What a usual image needs to start as root and step down to its own user (postgres, redis,
# elasticsearch entrypoints chown their data and call gosu/su-exec), and nothing more. Docker's
# default set also has NET_RAW (forged ARP and raw packets on a shared network), MKNOD,
# SETFCAP, SETPCAP, SYS_CHROOT and AUDIT_WRITE: all dropped.
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
    "CAP_SETGID", "CAP_SETUID",
)
# Every Linux capability name (an admin's per-app `capabilities:` must be one of them).
KNOWN_CAPABILITIES = frozenset(
    "CAP_" + name for name in (
        "AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND BPF CHECKPOINT_RESTORE CHOWN DAC_OVERRIDE "
        "DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN "
        "MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW PERFMON SETFCAP SETGID "
        "SETPCAP SETUID SYSLOG SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE SYS_PACCT SYS_PTRACE "
        "SYS_RAWIO SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG WAKE_ALARM"
    ).split()
)

# Log rotation on every task: a chatty process must not fill the node's disk.
LOG_MAX_SIZE = "10m"
LOG_MAX_FILE = "3"
_ROTATING_DRIVERS = ("json-file", "local")

_SIZE = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,6}))?([kmgt]?)(?:i?b)?", re.IGNORECASE)  # ASCII digits only
_UNIT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str | int) -> int:
    """`512m`, `1g`, `256k`, `1.5g`, or a whole number of bytes -> bytes (binary units, as
    Docker reads them). ASCII digits only. Raises ValueError with a sentence for anything else."""
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ValueError(f"size {text!r} is not understood: write it like 512m or 1g")
    if isinstance(text, int):
        size = text
    else:
        match = _SIZE.fullmatch(text.strip())
        if not match:
            raise ValueError(f"size `{text[:40]}` is not understood: write it like 512m or 1g")
        whole, fraction, unit = match.groups()
        factor = _UNIT[unit.lower()]
        size = int(whole) * factor + (int(fraction) * factor // 10 ** len(fraction) if fraction else 0)
    if size <= 0:
        raise ValueError(f"size `{str(text)[:40]}` must be more than zero")
    return size


def format_size(size: int) -> str:
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def log_driver(engine_default: str | None) -> dict[str, object]:
    """The engine's own default log driver, with size caps where it rotates files. A branch never
    chooses a driver: they run inside dockerd, on the host's network (syslog, gelf, fluentd...)."""
    name = engine_default or "json-file"
    if name in _ROTATING_DRIVERS:
        return {"Name": name, "Options": {"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILE}}
    return {"Name": name}


@dataclass(frozen=True)
class Limits:
    """Defaults (for a task that says nothing) and maximums (for one that asks)."""

    default_cpus: float
    max_cpus: float
    default_memory: int
    max_memory: int
    default_pids: int
    max_pids: int
    max_replicas: int
    max_processes: int  # processes plus middleware services of one stack
    max_tmpfs: int  # each tmpfs mount; also its size when it says none

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            default_cpus=settings.default_cpus, max_cpus=settings.max_cpus,
            default_memory=parse_size(settings.default_memory), max_memory=parse_size(settings.max_memory),
            default_pids=settings.default_pids, max_pids=settings.max_pids, max_replicas=settings.max_replicas,
            max_processes=settings.max_processes, max_tmpfs=parse_size(settings.max_tmpfs),
        )

    def cpus(self, value: float | None, where: str) -> float:
        if value is None:
            return self.default_cpus
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(f"{where} must be a number of CPUs, like 0.5 or 2")
        if not MIN_CPUS <= value <= self.max_cpus:
            raise SpecError(f"{where} is {value:g}: it must be between {MIN_CPUS:g} and {self.max_cpus:g} "
                            "(YADOCKERI_MAX_CPUS)")
        return float(value)

    def memory(self, value: int | None, where: str) -> int:
        if value is None:
            return self.default_memory
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{where} must be a size like 512m or 1g")
        if not MIN_MEMORY <= value <= self.max_memory:
            raise SpecError(f"{where} is {format_size(value)}: it must be between {format_size(MIN_MEMORY)} and "
                            f"{format_size(self.max_memory)} (YADOCKERI_MAX_MEMORY)")
        return value

    def pids(self, value: int | None, where: str) -> int:
        if value is None:
            return self.default_pids
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.max_pids:
            raise SpecError(f"{where} must be a whole number from 1 to {self.max_pids} (YADOCKERI_MAX_PIDS)")
        return value

    def replicas(self, value: int | None, where: str) -> int:
        if value is None:
            return 1
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self.max_replicas:
            raise SpecError(f"{where} must be a whole number from 0 to {self.max_replicas} (YADOCKERI_MAX_REPLICAS)")
        return value

    def tmpfs(self, value: int | None, where: str) -> int:
        if value is None:
            return self.max_tmpfs
        if not 1 <= value <= self.max_tmpfs:
            raise SpecError(f"{where} must be at most {format_size(self.max_tmpfs)} (YADOCKERI_MAX_TMPFS)")
        return value

    def count(self, processes: int, middleware: int) -> None:
        if processes + middleware > self.max_processes:
            raise SpecError(
                f"the stack would run {processes} processes and {middleware} middleware services: at most "
                f"{self.max_processes} in all (YADOCKERI_MAX_PROCESSES)"
            )


def restrict_privileges(container: dict[str, Any], keep: list[str] | tuple[str, ...]) -> None:
    """A ContainerSpec (a dict, changed in place) that drops every capability but `keep` and asks
    for no new privileges. `Privileges.NoNewPrivileges` takes effect on engines with API 1.46+;
    older engines ignore it and need dockerd's own `no-new-privileges` (scripts/setup.sh)."""
    container["CapabilityDrop"] = ["ALL"]
    container["CapabilityAdd"] = list(keep)
    container["Privileges"] = {"NoNewPrivileges": True}


def capabilities(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The capabilities a task keeps: the minimal set plus what an admin added for the app."""
    return sorted(set(CAPABILITIES) | {normal_capability(name) for name in extra})


def normal_capability(name: str) -> str:
    """`net_raw`, `NET_RAW`, `CAP_NET_RAW` -> `CAP_NET_RAW`; ValueError for an unknown name."""
    text = name.strip().upper()
    full = text if text.startswith("CAP_") else f"CAP_{text}"
    if full not in KNOWN_CAPABILITIES:
        raise ValueError(f"`{name[:40]}` is not a Linux capability (like NET_RAW or SYS_CHROOT)")
    return full
