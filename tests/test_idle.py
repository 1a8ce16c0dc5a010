"""Idle stacks, the pure parts: decisions and schedules, access-log parsing and counting,
the status pages. (tests/test_sleep_reap.py does the same on the real swarm.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stacks.activity import Counter, Hit, docker_time_ns, parse_line
from stacks.idle import FOREVER, Action, Timing, decide, describe, schedule_of
from stacks.status_page import StatusApp, page_for, render
from stacks.store import StackRecord

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TIMING = Timing(sleep_after=timedelta(hours=2), reap_after=timedelta(days=7), reap_warning=timedelta(hours=24))


def stack(name: str = "akira", *, idle: timedelta = timedelta(0), **changes: Any) -> StackRecord:
    record = StackRecord(
        id=1, name=name, app="app", branch="main", commit="c" * 40, image="img", owner="U1", state="running",
        created_at=NOW - timedelta(days=30), last_activity_at=NOW - idle, last_request_at=None, requests=0,
        asleep=False, keep_until=None, warned_at=None, middleware_hash=None, node=None, thread=None,
    )
    return replace(record, **changes)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (stack(idle=timedelta(hours=1)), None),
        (stack(idle=timedelta(hours=2)), "sleep"),
        (stack(idle=timedelta(hours=3), state="sleeping", asleep=True), None),
        (stack(idle=timedelta(days=7)), "warn"),
        (stack(idle=timedelta(days=8), state="sleeping", asleep=True), "warn"),
        (stack(idle=timedelta(days=8), state="failed", commit=None), "warn"),
        (stack(idle=timedelta(days=9), keep_until=NOW + timedelta(days=1)), None),
        (stack(idle=timedelta(days=9), keep_until=NOW - timedelta(days=1)), "warn"),
        (stack(idle=timedelta(days=9), keep_until=FOREVER), None),
        (stack(idle=timedelta(days=9), state="deploying"), None),
        (stack(idle=timedelta(days=8), state="warned", warned_at=NOW - timedelta(hours=1)), None),
        (stack(idle=timedelta(days=8), state="warned", warned_at=NOW - timedelta(hours=24)), "reap"),
        (stack(idle=timedelta(minutes=5), state="warned", warned_at=NOW - timedelta(hours=30)), "unwarn"),
        (stack(idle=timedelta(days=9), state="warned", warned_at=NOW - timedelta(hours=30),
               keep_until=NOW + timedelta(days=1)), "unwarn"),
        (stack(state="destroying"), "reap"),  # a reap cut short is finished
    ],
)
def test_decide(record: StackRecord, expected: str | None) -> None:
    actions = decide([record], set(), TIMING, NOW)
    assert [a.kind for a in actions] == ([expected] if expected else [])


def test_a_stack_being_deployed_is_never_slept_or_reaped() -> None:
    records = [stack("a", idle=timedelta(days=9)), stack("b", state="warned", warned_at=NOW - timedelta(days=2)),
               stack("c", idle=timedelta(hours=3)), stack("d", state="destroying")]
    assert decide(records, {"a", "b", "c", "d"}, TIMING, NOW) == []


def test_decide_is_pure_and_per_stack() -> None:
    records = [stack("a", idle=timedelta(hours=3)), stack("b"), stack("c", idle=timedelta(days=7, hours=1))]
    first = decide(records, set(), TIMING, NOW)
    assert first == decide(records, set(), TIMING, NOW)
    assert [(a.kind, a.stack) for a in first] == [("sleep", "a"), ("warn", "c")]
    assert isinstance(first[0], Action) and "idle for 3h0m" in first[0].reason


def test_schedule_of() -> None:
    fresh = schedule_of(stack(idle=timedelta(hours=1)), TIMING, NOW)
    assert fresh.sleeps_at == NOW + timedelta(hours=1)
    assert fresh.warned_at == NOW + timedelta(days=7) - timedelta(hours=1)
    assert fresh.reaped_at == fresh.warned_at + timedelta(hours=24)
    asleep = schedule_of(stack(idle=timedelta(hours=3), state="sleeping", asleep=True), TIMING, NOW)
    assert asleep.sleeps_at is None and asleep.warned_at is not None
    warned = schedule_of(stack(state="warned", warned_at=NOW - timedelta(hours=2)), TIMING, NOW)
    assert warned.reaped_at == NOW + timedelta(hours=22)
    kept = schedule_of(stack(keep_until=NOW + timedelta(days=3)), TIMING, NOW)
    assert (kept.sleeps_at, kept.reaped_at, kept.kept_until) == (None, None, NOW + timedelta(days=3))


# The router's counts ----------------------------------------------------------------------------
LINE = "2026-11-26T12:00:01.123456789Z yadockeri-activity akira 523 1795694400.875"


def _ns(stamp: str) -> int:
    """docker_time_ns of a stamp it must read."""
    value = docker_time_ns(stamp)
    assert value is not None, stamp
    return value


def test_parse_a_count_line() -> None:
    hit = parse_line(LINE.encode())
    assert hit == Hit(stack="akira", count=523, last_ns=1_795_694_400_875_000_000,
                      at_ns=_ns("2026-11-26T12:00:01.123456789Z"))
    assert hit.at_ns % 1_000_000_000 == 123456789


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-26T12:00:01.1Z 2026/11/26 12:00:01 [warn] 1#1: something",  # the error log
        '2026-11-26T12:00:01.1Z yadockeri-access {"stack":"akira","status":200}',  # a request log line
        "2026-11-26T12:00:01.1Z yadockeri-activity akira many 1795694400.875",
        "2026-11-26T12:00:01.1Z yadockeri-activity akira 3",
        "2026-11-26T12:00:01.1Z yadockeri-activity akira 3 soon",
        "garbage yadockeri-activity akira 3 1795694400.875",
        "",
    ],
)
def test_lines_that_are_not_counts(line: str) -> None:
    assert parse_line(line) is None


def test_docker_times_with_trimmed_fractions() -> None:
    assert _ns("2026-11-26T12:00:01.5Z") - _ns("2026-11-26T12:00:01Z") == 500_000_000
    assert _ns("2026-11-26T12:00:01.000000001Z") == _ns("2026-11-26T12:00:01Z") + 1
    assert docker_time_ns("yesterday") is None


def test_counter_adds_up_and_skips_only_what_was_seen_before_a_reconnect() -> None:
    counter = Counter(start_ns=100)
    for at, count in ((150, 5), (120, 2), (130, 1)):  # out of order (several nodes): all count
        assert counter.add(Hit("a", count, at - 1, at), seen_up_to=100)
    assert not counter.add(Hit("a", 7, 89, 90), seen_up_to=100)  # before the stream's start: counted already
    counter.add(Hit("b", 1, 159, 160), seen_up_to=100)
    batch, position = counter.take()
    assert position == 160
    assert {k: v[0] for k, v in batch.items()} == {"a": 8, "b": 1}
    assert batch["a"][1] == datetime.fromtimestamp(149 / 1e9, tz=UTC)
    assert counter.take()[0] == {}
    counter.give_back(batch)  # a flush that failed is not lost
    assert {k: v[0] for k, v in counter.take()[0].items()} == {"a": 8, "b": 1}


def test_the_routers_counter_script() -> None:
    """router/activity.awk, run by this machine's busybox awk as the router image does."""
    import subprocess

    from stacks.config import ROUTER_DIR

    lines = "akira 1.5\nakira 2.5\ntoru 3.1\ntick\nakira 4\ntick\ntick\n0 5\n"
    out = subprocess.run(["busybox", "awk", "-f", str(ROUTER_DIR / "activity.awk")], input=lines, text=True,
                         capture_output=True, check=True).stdout.splitlines()
    assert sorted(out[:2]) == ["yadockeri-activity akira 2 2.5", "yadockeri-activity toru 1 3.1"]
    assert out[2:] == ["yadockeri-activity akira 1 4", "yadockeri-activity 0 1 5"]  # and the end flushes


# The status endpoint --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "status", "kind", "retry"),
    [
        (None, 404, "unknown-stack", False),
        (stack(state="sleeping", asleep=True), 503, "sleeping", True),
        (stack(state="warned", asleep=True), 503, "sleeping", True),
        (stack(state="deploying"), 503, "deploying", True),
        (stack(state="failed"), 503, "failed", False),
        (stack(state="running", commit=None), 503, "failed", False),
        (stack(state="running"), 503, "unavailable", True),
    ],
)
def test_page_for_each_state(record: StackRecord | None, status: int, kind: str, retry: bool) -> None:
    page = page_for("akira", record)
    assert (page.status, page.kind, page.retry) == (status, kind, retry)
    _, headers, body = render(page, browser=True)
    assert ("X-Yadockeri-Page", kind) in headers
    assert (("Retry-After", "5") in headers) == retry
    assert (b'http-equiv="refresh"' in body) == retry
    _, headers, body = render(page, browser=False)
    assert ("Content-Type", "text/plain; charset=utf-8") in headers and b"<html" not in body


def call(app: StatusApp, path: str, method: str = "GET", accept: str = "text/html") -> tuple[str, dict, bytes]:
    seen: dict = {}

    def start_response(status: str, headers: list) -> None:
        seen.update(status=status, headers=dict(headers))

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method, "HTTP_ACCEPT": accept}, start_response))
    return seen["status"], seen["headers"], body


def test_status_app_wakes_only_the_named_sleeping_stack_and_answers_nothing_else() -> None:
    woken: list[str] = []
    records = {"akira": stack(state="sleeping", asleep=True), "toru": stack("toru")}
    app = StatusApp(records.get, woken.append)
    status, headers, body = call(app, "/_yadockeri/stack/akira")
    assert status.startswith("503") and headers["X-Yadockeri-Page"] == "sleeping" and woken == ["akira"]
    assert call(app, "/_yadockeri/stack/toru")[1]["X-Yadockeri-Page"] == "unavailable" and woken == ["akira"]
    assert call(app, "/_yadockeri/stack/nobody")[0].startswith("404")
    for path in ("/", "/slack/events", "/_yadockeri/stack/Akira", "/_yadockeri/stack/a_b", "/_yadockeri/stack/akira/x",
                 "/_yadockeri/stack/../slack/events", "/healthz"):
        status, headers, body = call(app, path)
        assert status.startswith("404") and body == b"" and "X-Yadockeri-Page" not in headers
    assert call(app, "/_yadockeri/stack/akira", method="POST")[2] == b""
    assert woken == ["akira"]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (stack(idle=timedelta(minutes=1)), "sleeps in 1h 59m"),
        (stack(idle=timedelta(0)), "sleeps in 2h"),
        (stack(idle=timedelta(hours=1, minutes=59, seconds=30)), "sleeps in 30s"),
        (stack(idle=timedelta(hours=1, minutes=15)), "sleeps in 45m"),
        (stack(asleep=True, state="sleeping", idle=timedelta(days=1)), "warned in 6d"),
        (stack(asleep=True, state="sleeping", idle=timedelta(days=1, hours=1)), "warned in 5d 23h"),
        (stack(state="warned", idle=timedelta(days=7, hours=4), warned_at=NOW - timedelta(hours=4)), "reaped in 20h"),
        (stack(keep_until=NOW + timedelta(days=6, hours=2)), "kept 6d 2h"),
        (stack(keep_until=FOREVER), "kept forever"),
    ],
)
def test_what_happens_next_is_said_to_the_minute(record: StackRecord, expected: str) -> None:
    assert describe(schedule_of(record, TIMING, NOW), NOW) == expected
