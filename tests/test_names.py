"""Names are checked before anything runs."""

import pytest

from stacks.errors import InvalidName
from stacks.names import (
    check_branch,
    check_env_key,
    check_stack_name,
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


@pytest.mark.parametrize("branch", ["", "-x", "--upload-pack=touch /tmp/x", "a..b", "a b", "x.lock", "a~1", "a^", "a:b", "@", "/a", "a\nb", "HEAD@{1}"])
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
