"""Checks for every name a user can type, done before anything runs.

A stack name becomes a DNS label (`akira.y.example.com`), a Docker stack namespace and the
prefix of service names (`akira_web`), so it must be a lowercase DNS label short enough to
leave room for process suffixes within Docker's 63 characters.
"""

import re
import subprocess

from .errors import InvalidName

STACK_NAME_MAX = 40
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_PROCESS = re.compile(r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")
_APP = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

# Names the router, yadockeri itself or Docker's DNS use, and names people would mistake
# for infrastructure.
RESERVED_STACK_NAMES = frozenset(
    {
        "router", "yadockeri", "tasks", "default", "localhost", "www", "admin", "api",
        "status", "wake", "ingress", "docker", "swarm", "registry", "bot", "host", "none",
    }
)


def check_stack_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName("a stack name is needed, like `akira`")
    if len(name) > STACK_NAME_MAX:
        raise InvalidName(f"stack name `{_short(name)}` is too long: at most {STACK_NAME_MAX} characters")
    if not _LABEL.match(name):
        raise InvalidName(
            f"stack name `{_short(name)}` is not allowed: use lowercase letters, digits and "
            "dashes, starting and ending with a letter or digit (it becomes a host name)"
        )
    if name in RESERVED_STACK_NAMES:
        raise InvalidName(f"stack name `{name}` is reserved; pick another name")
    return name


def check_process_name(name: str) -> str:
    if not isinstance(name, str) or not _PROCESS.match(name):
        raise InvalidName(
            f"process name `{_short(str(name))}` is not allowed: lowercase letters, digits and "
            "dashes, 1-20 characters, starting with a letter"
        )
    return name


def check_app_name(name: str) -> str:
    if not isinstance(name, str) or not _APP.match(name):
        raise InvalidName(f"app name `{_short(str(name))}` is not allowed: lowercase letters, digits, `-` and `_`")
    return name


def check_env_key(key: str) -> str:
    if not isinstance(key, str) or not _ENV_KEY.match(key):
        raise InvalidName(
            f"env key `{_short(str(key))}` is not allowed: letters, digits and `_`, not starting with a digit"
        )
    if key == "PORT":
        raise InvalidName("env key `PORT` is set by yadockeri (8080) and cannot be changed")
    return key


def check_branch(branch: str) -> str:
    """A branch must be a valid ref name that no command could read as an option."""
    if not isinstance(branch, str) or not branch:
        raise InvalidName("a branch is needed, like `main` or `feature-x`")
    if branch.startswith("-"):
        raise InvalidName(f"branch `{_short(branch)}` is not allowed: it cannot start with `-`")
    if len(branch) > 200 or branch == "@" or any(ch.isspace() or ord(ch) < 32 for ch in branch):
        raise InvalidName(f"branch `{_short(branch)}` is not a valid branch name")
    # git itself is the authority on ref names; it never sees a shell, and `--branch` plus the
    # leading-dash check above mean the argument is read as a name.
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", branch], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or result.stdout.strip() != branch:
        raise InvalidName(f"branch `{_short(branch)}` is not a valid branch name")
    return branch


_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int | float) -> int:
    """`90s`, `30m`, `2h`, `7d` -> seconds. Plain numbers are seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise InvalidName(f"duration {text} cannot be negative")
        return int(text)
    match = _DURATION.match(str(text).strip())
    if not match:
        if str(text).strip().isdigit():
            return int(str(text).strip())
        raise InvalidName(f"duration `{_short(str(text))}` is not understood: write it like 90s, 30m, 2h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            if seconds % size == 0:
                return f"{seconds // size}{unit}"
            break
    if seconds >= 86400:
        return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60}s"
    return f"{seconds}s"


def _short(text: str, limit: int = 60) -> str:
    """Echo user input back safely: bounded, no backticks or newlines."""
    text = text.replace("`", "'").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
