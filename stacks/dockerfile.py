"""What a branch's Dockerfile asks of the build, read before the build starts. Pure.

A Dockerfile comes from a branch anyone can push. BuildKit would run whatever frontend image
a `# syntax=` line names (with the build's secrets), and builds without a secret that a
`RUN --mount=type=secret` asks for but nobody defined (the step then fails far from the
cause, or silently succeeds without it). So yadockeri reads both here: the frontend must be
allowed (YADOCKERI_BUILD_FRONTENDS), every secret id must be one the app defines.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass

from .errors import SpecError

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_MOUNT = re.compile(r"--mount=(\S+)")
_SECRET_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class BuildNeeds:
    """What the Dockerfile asks for: its frontend image (None: the engine's built-in one)
    and the ids of the secrets its RUN steps mount."""

    frontend: str | None
    secrets: frozenset[str]


def read_needs(text: str, *, path: str = "Dockerfile") -> BuildNeeds:
    directives = _directives(text)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise SpecError(f"{path}: the escape directive must be \\ or `")
    return BuildNeeds(frontend=directives.get("syntax") or None, secrets=frozenset(_secret_ids(text, escape, path)))


def _directives(text: str) -> dict[str, str]:
    """Parser directives: `# key=value` lines at the very top, before anything else."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _DIRECTIVE.match(line.strip()) if line.strip().startswith("#") else None
        if match is None:
            break
        key = match.group(1).lower()
        if key in found:  # Docker stops reading directives at a repeated one
            break
        found[key] = match.group(2)
    return found


def _instructions(text: str, escape: str) -> list[str]:
    """Instructions with their continuation lines joined (comments inside them dropped)."""
    joined: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment line inside a continued instruction
        if line.endswith(escape):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    if current:
        joined.append(current)
    return joined


def _secret_ids(text: str, escape: str, path: str) -> set[str]:
    ids: set[str] = set()
    for instruction in _instructions(text, escape):
        word = instruction.split(None, 1)[0].upper() if instruction.split() else ""
        if word != "RUN":
            continue
        for value in _MOUNT.findall(instruction):
            options = _options(value)
            if options.get("type") != "secret":
                continue
            secret = options.get("id") or posixpath.basename(options.get("target") or options.get("dst") or "")
            if not _SECRET_ID.match(secret):
                raise SpecError(f"{path}: a secret mount's id must be written out (letters, digits, . _ -), "
                                f"not `{secret[:60]}`")
            ids.add(secret)
    return ids


def _options(value: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in value.strip("'\"").split(","):
        key, _, val = part.partition("=")
        options[key.strip().lower()] = val.strip()
    return options


def check_frontend(frontend: str | None, allowed: list[str], *, path: str = "Dockerfile") -> None:
    """Refuse a `# syntax=` frontend no pattern of YADOCKERI_BUILD_FRONTENDS allows."""
    if frontend is None:
        return
    if any(fnmatch.fnmatchcase(frontend, pattern) for pattern in allowed):
        return
    allowed_text = ", ".join(allowed) or "none"
    raise SpecError(f"{path}: `# syntax={frontend[:120]}` names a Dockerfile frontend this yadockeri does not run "
                    f"(allowed: {allowed_text}; YADOCKERI_BUILD_FRONTENDS); remove the line to use the built-in one")


def check_secrets(wanted: frozenset[str], defined: set[str], *, app: str, path: str = "Dockerfile") -> None:
    """Refuse a secret id the app does not define: BuildKit would build without it."""
    missing = sorted(wanted - defined)
    if missing:
        known = ", ".join(sorted(defined)) or "none"
        raise SpecError(f"{path}: a RUN step mounts the build secret `{missing[0]}`, which app `{app}` does not define "
                        f"(its build_secrets in yadockeri.yml: {known}); ask an admin to add it, or remove the mount")
