"""Property-based tests of the one parser and the name checks (hypothesis).

Whatever words or text arrive, from the command line or Slack: only UsageError / InvalidName
escape, each with a one-line refusal of visible characters followed by the usage; and what
parse accepts is always a DNS-label stack name, a visible-ASCII branch git accepts, an
identifier env key, an env value a process can hold, a duration within bounds.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stacks.commands import KEEP_MAX, Command, Origin, parse
from stacks.errors import InvalidName, UsageError
from stacks.names import (
    RESERVED_STACK_NAMES,
    check_app_name,
    check_branch,
    check_env_key,
    check_env_value,
    check_process_name,
    check_stack_name,
    parse_duration,
)

# Examples per property; the total is reported in the closing note.
MANY = 600
SOME = 300
PROPERTY = settings(max_examples=MANY, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(max_examples=SOME, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])

# Every code point, surrogates, NUL and controls included.
ANY_CHAR = st.characters(exclude_categories=())
NASTY = st.sampled_from([
    "\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\x9b", "\u00a0", "\u00ad", "\u200b", "\u200d", "\u2028",
    "\u202a", "\u202e", "\u2066", "\ufeff", "\udc80", "\ud800", "\u0430", "\u0435", "\u03bf", "\u212a", "²", "٣",
    "７", "`", "'", '"', "=", "-", "--", "/", ":", "..", "@{", "~", "^", "*", "?", "[", "\\", ".lock", "@", " ",
])
ASCII_WORD = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_/.=AZ"), min_size=1, max_size=12)
WORD = st.one_of(
    st.text(ANY_CHAR, max_size=20),
    ASCII_WORD,
    st.lists(st.one_of(ASCII_WORD, NASTY), min_size=1, max_size=5).map("".join),
)
VERB = st.sampled_from([
    "deploy", "redeploy", "destroy", "env", "list", "ls", "status", "logs", "keep", "help", "router", "bot",
    "reaper", "install", "uninstall", "up", "DEPLOY", "\u212aeep", "frob",
])
OPTION = st.sampled_from(["--app", "--for", "--forever", "--yes", "-y", "--stacks", "set", "unset", "--app=", "--for="])
WORDS = st.one_of(
    st.lists(WORD, max_size=6),
    st.tuples(VERB, st.lists(st.one_of(WORD, OPTION), max_size=6)).map(lambda t: [t[0], *t[1]]),
)
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    st.lists(st.one_of(VERB, WORD, OPTION, st.sampled_from(['"', "'", "“", "”", "&amp;", "&lt;", "&#0;", "&#x202e;"])),
             max_size=8).map(" ".join),
)
ORIGINS: tuple[Origin, ...] = ("cli", "slack")
ORIGIN = st.sampled_from(ORIGINS)

LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
PROCESS = re.compile(r"[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?")
APP = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?")
VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


def parse_or_refuse(words: list[str] | str, origin: Origin) -> Command | None:
    """parse, with the property that only UsageError escapes, carrying a safe refusal."""
    try:
        return parse(words, origin=origin)
    except UsageError as error:
        assert_refusal(str(error))
        return None


def assert_refusal(message: str) -> None:
    first, sep, rest = message.partition("\n")
    assert first and sep and rest, message  # a refusal, then the usage
    assert len(first) < 500, first
    assert all(ch.isprintable() for ch in first), repr(first)  # no control, invisible, bidi, surrogate
    assert first.count("`") % 2 == 0, first  # echoed words cannot break out of their code span
    assert "yadockeri" in rest


def assert_accepted_command_is_sound(command: Command) -> None:
    if command.stack is not None:
        assert LABEL.fullmatch(command.stack) and command.stack not in RESERVED_STACK_NAMES
    if command.branch is not None:
        assert VISIBLE_ASCII.fullmatch(command.branch) and not command.branch.startswith("-")
        assert len(command.branch) <= 200
    if command.app is not None:
        assert APP.fullmatch(command.app)
    if command.process is not None:
        assert PROCESS.fullmatch(command.process)
    for key, value in command.env_set:
        assert KEY.fullmatch(key) and key != "PORT"
        assert "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)
        value.encode("utf-8")  # storable: encryption encodes it
    for key in command.env_unset:
        assert KEY.fullmatch(key)
    if command.verb == "keep":
        assert command.keep_seconds is not None and 0 < command.keep_seconds <= KEEP_MAX


@PROPERTY
@given(WORDS, ORIGIN)
@example(["deploy", "akira\n", "main"], "cli")
@example(["deploy", "akira", "\udc80"], "slack")
@example(["keep", "akira", "--for", "²"], "cli")
@example(["env", "akira", "set", "A=\x00"], "slack")
def test_any_word_list_is_a_command_or_a_clear_refusal(words: list[str], origin: Origin) -> None:
    command = parse_or_refuse(words, origin)
    if command is not None:
        assert_accepted_command_is_sound(command)
        if origin == "slack":
            assert command.verb not in {"router", "bot", "reaper", "install", "uninstall", "up"}


@PROPERTY
@given(TEXT, ORIGIN)
@example('deploy "akira\n" main', "slack")
@example("deploy akira ma\u200bin", "slack")
@example("deploy akira &#x202e;niam", "slack")
@example("token frob", "cli")
def test_any_text_is_a_command_or_a_clear_refusal(text: str, origin: Origin) -> None:
    command = parse_or_refuse(text, origin)
    if command is not None:
        assert_accepted_command_is_sound(command)


@PROPERTY
@given(WORD, WORD, ORIGIN)
def test_deploy_accepts_only_sound_names(stack: str, branch: str, origin: Origin) -> None:
    command = parse_or_refuse(["deploy", stack, branch], origin)
    if command is not None:
        assert (command.stack, command.branch) == (stack, branch)  # accepted as typed, never normalised
        assert_accepted_command_is_sound(command)


@FEWER
@given(st.lists(st.tuples(WORD, WORD), min_size=1, max_size=4), ORIGIN)
def test_env_set_accepts_only_sound_keys_and_values(pairs: list[tuple[str, str]], origin: Origin) -> None:
    command = parse_or_refuse(["env", "akira", "set", *(f"{k}={v}" for k, v in pairs)], origin)
    if command is not None:
        assert_accepted_command_is_sound(command)


@FEWER
@given(WORD, ORIGIN)
def test_keep_durations(duration: str, origin: Origin) -> None:
    command = parse_or_refuse(["keep", "akira", "--for", duration], origin)
    if command is not None:
        assert re.fullmatch(r"[0-9]+[smhd]?", duration.strip(" \t\r\n"))
        assert_accepted_command_is_sound(command)


# The checks on their own --------------------------------------------------------------------------
# Each check, and what a name it accepts must satisfy (truthy: sound).
CHECKS: dict[str, tuple[Callable[[str], str], Callable[[str], object]]] = {
    "stack": (check_stack_name, lambda n: LABEL.fullmatch(n) and n not in RESERVED_STACK_NAMES),
    "process": (check_process_name, PROCESS.fullmatch),
    "app": (check_app_name, APP.fullmatch),
    "key": (check_env_key, lambda n: KEY.fullmatch(n) and n != "PORT"),
    "branch": (check_branch, lambda n: VISIBLE_ASCII.fullmatch(n) and not n.startswith("-") and len(n) <= 200),
}


@PROPERTY
@given(st.sampled_from(sorted(CHECKS)), WORD)
def test_name_checks_accept_only_what_they_promise(kind: str, name: str) -> None:
    check, sound = CHECKS[kind]
    try:
        assert check(name) == name
    except InvalidName as error:
        message = str(error)
        assert "\n" not in message and all(ch.isprintable() for ch in message) and len(message) < 500
        assert message.count("`") % 2 == 0
        return
    assert sound(name), (kind, name)


@FEWER
@given(st.text(st.sampled_from("abc-/._@{}~^:?*[\\ 0123456789"), min_size=1, max_size=12))
def test_branch_check_agrees_with_git_on_visible_ascii(branch: str) -> None:
    git = subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, text=True, cwd="/",
                         check=False)
    git_accepts = git.returncode == 0 and git.stdout.strip() == branch and not branch.startswith("-")
    try:
        check_branch(branch)
        ours = True
    except InvalidName:
        ours = False
    assert ours == (git_accepts and " " not in branch and branch != "@")


@PROPERTY
@given(st.one_of(WORD, st.integers(min_value=-10**30, max_value=10**30), st.floats(allow_nan=True, allow_infinity=True)))
def test_durations_are_seconds_or_a_clear_refusal(value: str | float) -> None:
    try:
        seconds = parse_duration(value)
    except InvalidName as error:
        assert "\n" not in str(error) and all(ch.isprintable() for ch in str(error))
        return
    assert isinstance(seconds, int) and seconds >= 0


@FEWER
@given(WORD, st.text(ANY_CHAR, max_size=30))
def test_env_values_are_refused_only_for_nul_or_surrogates(key: str, value: str) -> None:
    unreadable = "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    try:
        assert check_env_value(key, value) == value
        assert not unreadable
    except InvalidName as error:
        assert unreadable and all(ch.isprintable() for ch in str(error))
