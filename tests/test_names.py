"""Names are checked before anything runs: full matches, visible ASCII branches, ASCII digits,
and every refusal naming what it refused in one safe line."""

import subprocess

import pytest

from stacks.errors import InvalidName
from stacks.names import (
    check_app_name,
    check_branch,
    check_env_key,
    check_env_value,
    check_process_name,
    check_stack_name,
    echo,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize("name", ["a", "akira", "toru-2", "x" * 40, "0day"])
def test_good_stack_names(name: str) -> None:
    assert check_stack_name(name) == name


@pytest.mark.parametrize("name", ["", "Akira", "a_b", "-a", "a-", "a.b", "x" * 41, "router", "yadockeri", "tasks", "a b", "ä"])
def test_bad_stack_names(name: str) -> None:
    with pytest.raises(InvalidName):
        check_stack_name(name)


@pytest.mark.parametrize("branch", ["main", "feature/x", "feature-x", "v1.2", "user/akira/fix_1"])
def test_good_branches(branch: str) -> None:
    assert check_branch(branch) == branch


@pytest.mark.parametrize(
    "branch",
    ["", "-x", "--upload-pack=touch /tmp/x", "a..b", "a b", "x.lock", "a~1", "a^", "a:b", "@", "/a", "a\nb", "HEAD@{1}"],
)
def test_bad_branches(branch: str) -> None:
    with pytest.raises(InvalidName):
        check_branch(branch)


@pytest.mark.parametrize("key", ["A", "_X", "DATABASE_URL", "a1"])
def test_good_env_keys(key: str) -> None:
    assert check_env_key(key) == key


@pytest.mark.parametrize("key", ["", "1A", "A-B", "A B", "A=B", "PORT", "Ä"])
def test_bad_env_keys(key: str) -> None:
    with pytest.raises(InvalidName):
        check_env_key(key)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("7d", 604800), ("15", 15), (5, 5)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2w", "h", "-1s", "1.5h", "soon"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidName):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (45, 90, 3600, 86400 * 7, 5400)] == ["45s", "1m30s", "1h", "7d", "1h30m"]


# Look-alikes and unreadable input (issue 9 item 7, issue 18 item 6) ------------------------------
# Each is refused for a branch, and the refusal names the character.
LOOK_ALIKE_BRANCHES = {
    "ma\u200bin": "U+200B (ZERO WIDTH SPACE)",
    "ma\u200din": "U+200D (ZERO WIDTH JOINER)",
    "\ufeffmain": "U+FEFF (ZERO WIDTH NO-BREAK SPACE)",
    "main\u2060": "U+2060 (WORD JOINER)",
    "\u202emain": "U+202E (RIGHT-TO-LEFT OVERRIDE)",
    "ma\u202ain": "U+202A (LEFT-TO-RIGHT EMBEDDING)",
    "main\u2066": "U+2066 (LEFT-TO-RIGHT ISOLATE)",
    "m\u0430in": "U+0430 (CYRILLIC SMALL LETTER A)",
    "m\u0430\u0456n": "U+0430 (CYRILLIC SMALL LETTER A)",
    "feature-\u0445": "U+0445 (CYRILLIC SMALL LETTER HA)",
    "r\u03bfot": "U+03BF (GREEK SMALL LETTER OMICRON)",
    "\uff4d\uff41\uff49\uff4e": "U+FF4D (FULLWIDTH LATIN SMALL LETTER M)",
    "ma\u00a0in": "U+00A0 (NO-BREAK SPACE)",
    "ma\u00adin": "U+00AD (SOFT HYPHEN)",
    "ma\x85in": "U+0085",
    "ma\x9bin": "U+009B",
    "main\x9b2J": "U+009B",
    "caf\u00e9": "U+00E9 (LATIN SMALL LETTER E WITH ACUTE)",
    "main\udc80": "a lone surrogate (U+DC80)",
    "\ud800": "a lone surrogate (U+D800)",
}
CONTROL_BRANCHES = {
    "main\n": "U+000A (NEWLINE)",
    "main\r\n": "U+000D (CARRIAGE RETURN)",
    "ma\tin": "U+0009 (TAB)",
    "ma\x00in": "a NUL character (U+0000)",
    "main\x00": "a NUL character (U+0000)",
    "\x1b[2Kmain": "U+001B (ESCAPE)",
    "main\x7f": "U+007F (DELETE)",
    "main\x07": "U+0007",
}


@pytest.mark.parametrize(("branch", "named"), LOOK_ALIKE_BRANCHES.items())
def test_look_alike_branches_are_refused_saying_why(branch: str, named: str) -> None:
    with pytest.raises(InvalidName) as caught:
        check_branch(branch)
    message = str(caught.value)
    assert named in message and "visible ASCII" in message and "looks like `main`" in message
    assert_safe_refusal(message)


@pytest.mark.parametrize(("branch", "named"), CONTROL_BRANCHES.items())
def test_control_characters_in_branches_are_refused_saying_which(branch: str, named: str) -> None:
    with pytest.raises(InvalidName) as caught:
        check_branch(branch)
    assert named in str(caught.value)
    assert_safe_refusal(str(caught.value))


def test_every_visible_ascii_character_is_left_to_git() -> None:
    """The visible-ASCII rule refuses nothing git accepts: git's own rules decide the rest."""
    for code in range(0x21, 0x7F):
        name = f"a{chr(code)}b"
        git_says = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, cwd="/",
                                  check=False).returncode
        try:
            check_branch(name)
            accepted = True
        except InvalidName:
            accepted = False
        assert accepted == (git_says == 0), name


TRAILING = ["\n", "\r\n", "\r", "\x00", " ", "\t", "\x0b", "\x0c", "\u2028", "\x85"]


@pytest.mark.parametrize("tail", TRAILING, ids=[repr(t) for t in TRAILING])
def test_names_with_a_trailing_newline_or_control_are_refused(tail: str) -> None:
    """`$` matches before a final newline; every check is a full match."""
    for check, name in ((check_stack_name, "akira"), (check_branch, "main"), (check_env_key, "TOKEN"),
                        (check_process_name, "web"), (check_app_name, "crowdworks")):
        with pytest.raises(InvalidName) as caught:
            check(name + tail)
        assert_safe_refusal(str(caught.value))
        with pytest.raises(InvalidName):
            check(tail + name)


@pytest.mark.parametrize("name", ["\u0430kira", "akir\u0430", "ak\u200bira", "\uff41kira", "akira\udc80", "\u212akira"])
def test_look_alike_stack_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        check_stack_name(name)
    assert_safe_refusal(str(caught.value))


@pytest.mark.parametrize("text", ["²", "1²", "²d", "٣d", "７d", "\u0661", "1\u00b9h", "9" * 5000, "7d\x00", "1e3", "0x10",
                                  "+5", "5 d", "५m", "𝟕d"])
def test_durations_are_ascii_digits_only(text: str) -> None:
    with pytest.raises(InvalidName) as caught:
        parse_duration(text)
    assert "not understood" in str(caught.value)
    assert_safe_refusal(str(caught.value))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, -0.5])
def test_numeric_durations_must_be_finite_and_not_negative(value: float) -> None:
    with pytest.raises(InvalidName):
        parse_duration(value)


def test_settings_durations_may_end_with_a_newline() -> None:
    assert parse_duration("30m\n") == 1800 and parse_duration(" 90 ") == 90


@pytest.mark.parametrize("value", ["a\x00b", "\x00", "x\udc80", "\ud83d"])
def test_env_values_with_nul_or_surrogates_are_refused_naming_the_key_only(value: str) -> None:
    with pytest.raises(InvalidName) as caught:
        check_env_value("SECRET_TOKEN", value)
    message = str(caught.value)
    assert "`SECRET_TOKEN`" in message and value not in message and echo(value) not in message
    assert_safe_refusal(message)


@pytest.mark.parametrize("value", ["", "plain", "with space", "日本語", "emoji 🎉", "a\nb", "tab\there", "=x="])
def test_env_values_may_hold_any_other_text(value: str) -> None:
    assert check_env_value("K", value) == value


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("akira\n", "akira\\n"),
        ("a`b`c", "a'b'c"),
        ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),
        ("ma\u200bin", "ma\\u200bin"),
        ("\u202eevil", "\\u202eevil"),
        ("x\udc80", "x\\udc80"),
        ("\x00", "\\x00"),
        ("日本", "日本"),
        ("x" * 60, "x" * 60),
        ("x" * 61, "x" * 59 + "…"),
        ("\n" * 100, "\\n" * 29 + "…"),
    ],
)
def test_echo_is_bounded_and_shows_every_invisible_character(text: str, shown: str) -> None:
    assert echo(text) == shown


def test_echo_ascii_only_shows_look_alikes_as_code_points() -> None:
    assert echo("m\u0430in", ascii_only=True) == "m\\u0430in"


def assert_safe_refusal(message: str) -> None:
    """A refusal is one bounded line of visible characters; backticks only around what it names."""
    assert message and "\n" not in message and len(message) < 400
    assert all(ch.isprintable() for ch in message), repr(message)
    assert message.count("`") % 2 == 0
