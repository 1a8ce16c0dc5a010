"""Checks for every name a user can type, done before anything runs.

A stack name becomes a DNS label (`akira.y.example.com`), a Docker stack namespace and the
prefix of service names (`akira_web`), so it must be a lowercase DNS label short enough to
leave room for process suffixes within Docker's 63 characters.
"""

import math
import re
import subprocess
import unicodedata

from .errors import InvalidName

STACK_NAME_MAX = 40
BRANCH_MAX = 200
# Every pattern is used with fullmatch: `$` would also match before a final newline.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
_PROCESS = re.compile(r"[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?")
_APP = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Visible ASCII only: no spaces, controls, invisible, bidi or look-alike letters in a branch.
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")

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
        raise InvalidName(f"stack name `{echo(name)}` is too long: at most {STACK_NAME_MAX} characters")
    if not _LABEL.fullmatch(name):
        raise InvalidName(
            f"stack name `{echo(name)}` is not allowed: use lowercase letters, digits and "
            "dashes, starting and ending with a letter or digit (it becomes a host name)"
        )
    if name in RESERVED_STACK_NAMES:
        raise InvalidName(f"stack name `{name}` is reserved; pick another name")
    return name


def check_process_name(name: str) -> str:
    if not isinstance(name, str) or not _PROCESS.fullmatch(name):
        raise InvalidName(
            f"process name `{echo(str(name))}` is not allowed: lowercase letters, digits and "
            "dashes, 1-20 characters, starting with a letter"
        )
    return name


def check_app_name(name: str) -> str:
    if not isinstance(name, str) or not _APP.fullmatch(name):
        raise InvalidName(f"app name `{echo(str(name))}` is not allowed: lowercase letters, digits, `-` and `_`")
    return name


def check_env_key(key: str) -> str:
    if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
        raise InvalidName(
            f"env key `{echo(str(key))}` is not allowed: letters, digits and `_`, not starting with a digit"
        )
    if key == "PORT":
        raise InvalidName("env key `PORT` is set by yadockeri (8080) and cannot be changed")
    return key


def check_env_value(key: str, value: str) -> str:
    """A value a process environment can hold. The refusal names the key, never the value."""
    if not isinstance(value, str):
        raise InvalidName(f"the value of env key `{echo(str(key))}` is not text")
    bad = unreadable_char(value)
    if bad is not None:
        raise InvalidName(
            f"the value of env key `{echo(str(key))}` contains {describe_char(bad)}, which a process "
            "environment cannot hold"
        )
    return value


def check_branch(branch: str) -> str:
    """A branch must be a valid ref name of visible ASCII that no command could read as an option."""
    if not isinstance(branch, str) or not branch:
        raise InvalidName("a branch is needed, like `main` or `feature-x`")
    shown = echo(branch, ascii_only=True)
    if branch.startswith("-"):
        raise InvalidName(f"branch `{shown}` is not allowed: it cannot start with `-`")
    if len(branch) > BRANCH_MAX:
        raise InvalidName(f"branch `{shown}` is too long: at most {BRANCH_MAX} characters")
    if not _VISIBLE_ASCII.fullmatch(branch):
        bad = next(ch for ch in branch if not "\x21" <= ch <= "\x7e")
        if bad.isascii():  # a space or a control character: git refuses these too
            raise InvalidName(f"branch `{shown}` is not a valid branch name: it contains {describe_char(bad)}")
        raise InvalidName(
            f"branch `{shown}` is not allowed: it contains {describe_char(bad)}; branch names are "
            "limited to visible ASCII (letters, digits, punctuation), so that a name that looks like "
            "`main` is `main`"
        )
    if branch == "@":
        raise InvalidName(f"branch `{shown}` is not a valid branch name")
    # git itself is the authority on ref names; it never sees a shell, and `--branch` plus the
    # leading-dash check above mean the argument is read as a name. cwd=/ so no repository's
    # `@{-1}` can expand to something else (the output check would refuse it anyway).
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", branch], capture_output=True, text=True, check=False, cwd="/"
    )
    if result.returncode != 0 or result.stdout.strip() != branch:
        raise InvalidName(
            f"branch `{shown}` is not a valid branch name (git refuses names with `..`, `~`, `^`, `:`, "
            "`?`, `*`, `[`, `\\`, `@{`, a final `.lock` or `/`, and more)"
        )
    return branch


_DURATION = re.compile(r"([0-9]{1,6})([smhd])")
_SECONDS = re.compile(r"[0-9]{1,9}")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int | float) -> int:
    """`90s`, `30m`, `2h`, `7d` -> seconds. Plain numbers are seconds. ASCII digits only."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text) or text < 0:
            raise InvalidName(f"duration {text} must be a finite number of seconds, not negative")
        return int(text)
    word = str(text).strip(" \t\r\n")  # settings may come with a newline; the check is still a full match
    match = _DURATION.fullmatch(word)
    if match:
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if _SECONDS.fullmatch(word):
        return int(word)
    raise InvalidName(f"duration `{echo(str(text))}` is not understood: write it like 90s, 30m, 2h or 7d")


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


def unreadable_char(text: str) -> str | None:
    """The first NUL or lone surrogate in text: neither can be encoded or passed to a process."""
    for ch in text:
        if ch == "\x00" or "\ud800" <= ch <= "\udfff":
            return ch
    return None


_CONTROL_NAMES = {"\t": "TAB", "\n": "NEWLINE", "\r": "CARRIAGE RETURN", "\x1b": "ESCAPE", "\x7f": "DELETE"}


def describe_char(ch: str) -> str:
    """`U+200B (ZERO WIDTH SPACE)`: a character named so a reader can see what it is."""
    if ch == "\x00":
        return "a NUL character (U+0000)"
    if "\ud800" <= ch <= "\udfff":
        return f"a lone surrogate (U+{ord(ch):04X}), which is not text"
    name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "")
    if not name and unicodedata.category(ch) == "Cc":
        name = "CONTROL CHARACTER"
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def echo(text: str, limit: int = 60, *, ascii_only: bool = False) -> str:
    """User input echoed back safely: bounded, no backticks, and every character that is not
    visibly printable (newlines, controls, invisible and bidi marks, surrogates) escaped; with
    ascii_only, every non-ASCII character too (so a look-alike shows as what it is)."""
    pieces = [_echo_char(ch, ascii_only) for ch in str(text)]
    if sum(len(p) for p in pieces) <= limit:
        return "".join(pieces)
    out, size = [], 0
    for piece in pieces:
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "…"


def _echo_char(ch: str, ascii_only: bool) -> str:
    if ch == "`":
        return "'"  # it would close the code span the text is shown in
    if ch == " " or (ch.isprintable() and (ch.isascii() or not ascii_only)):
        return ch
    return ch.encode("unicode_escape").decode("ascii")  # \n, \x00, \u200b, \udc80
