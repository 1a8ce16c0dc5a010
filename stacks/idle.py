"""Idle stacks, decided by pure functions: which stacks to sleep, warn, un-warn or reap now,
and when each will happen. The scheduler (scheduler.py) acts on the decisions through the engine.

A stack's last activity is the later of its last deploy/env change and its last request through
the router. After SLEEP_AFTER without activity its processes scale to zero (middleware and data
kept) and the next request wakes it; after REAP_AFTER it is warned in Slack; without activity or
a keep within REAP_WARNING it is destroyed. A kept stack is neither slept nor reaped. A stack
with a deployment queued or running is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from .store import StackRecord

FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
ActionKind = Literal["sleep", "warn", "unwarn", "reap"]


@dataclass(frozen=True)
class Timing:
    sleep_after: timedelta
    reap_after: timedelta
    reap_warning: timedelta

    @classmethod
    def of(cls, settings) -> Timing:
        return cls(timedelta(seconds=settings.sleep_after), timedelta(seconds=settings.reap_after),
                   timedelta(seconds=settings.reap_warning))


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    stack: str
    reason: str


@dataclass(frozen=True)
class Schedule:
    """What will happen to a stack and when (None: not planned)."""

    sleeps_at: datetime | None
    warned_at: datetime | None  # when it is (or will be) warned
    reaped_at: datetime | None
    kept_until: datetime | None


def kept(stack: StackRecord, now: datetime) -> bool:
    return stack.keep_until is not None and stack.keep_until > now


def schedule_of(stack: StackRecord, timing: Timing, now: datetime) -> Schedule:
    if kept(stack, now):
        return Schedule(None, None, None, stack.keep_until)
    if stack.state == "warned" and stack.warned_at is not None:
        return Schedule(None, stack.warned_at, stack.warned_at + timing.reap_warning, None)
    if stack.state in ("destroying", "destroyed"):
        return Schedule(None, None, None, None)
    warn_at = stack.last_activity_at + timing.reap_after
    sleeps_at = stack.last_activity_at + timing.sleep_after if stack.state == "running" and not stack.asleep else None
    if sleeps_at is not None and sleeps_at >= warn_at:
        sleeps_at = None
    return Schedule(sleeps_at, warn_at, warn_at + timing.reap_warning, None)


def describe(schedule: Schedule, now: datetime) -> str:
    """What happens next to a stack, in words: `sleeps in 1h`, `reaped in 20h`, `kept 6d`."""
    if schedule.kept_until is not None:
        return "kept forever" if schedule.kept_until >= FOREVER else f"kept {_words(schedule.kept_until - now)}"
    if schedule.sleeps_at is not None:
        return f"sleeps in {_words(schedule.sleeps_at - now)}"
    if schedule.warned_at is not None and schedule.warned_at <= now and schedule.reaped_at is not None:
        return f"reaped in {_words(schedule.reaped_at - now)}"
    if schedule.warned_at is not None:
        return f"warned in {_words(schedule.warned_at - now)}"
    return ""


def _words(delta: timedelta) -> str:
    """A readable duration, to the minute: 6d 23h, 1h 59m, 45m, 30s (a stack idle for a
    minute "sleeps in 1h 59m", not "in 1h")."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    days, hours, minutes = seconds // 86400, seconds // 3600 % 24, seconds // 60 % 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def decide(stacks: list[StackRecord], busy: set[str], timing: Timing, now: datetime) -> list[Action]:
    """The actions due now. Pure: the same stacks and time give the same answer."""
    actions: list[Action] = []
    for stack in stacks:
        action = _decide_one(stack, stack.name in busy, timing, now)
        if action is not None:
            actions.append(action)
    return actions


def _decide_one(stack: StackRecord, busy: bool, timing: Timing, now: datetime) -> Action | None:
    if busy:
        return None  # being deployed: never slept or reaped
    if stack.state == "destroying":
        return Action("reap", stack.name, "a destroy was cut short; finishing it")
    idle = now - stack.last_activity_at
    if stack.state == "warned":
        if kept(stack, now) or (stack.warned_at is not None and stack.last_activity_at > stack.warned_at):
            return Action("unwarn", stack.name, "kept or used again since the warning")
        if stack.warned_at is not None and now - stack.warned_at >= timing.reap_warning:
            return Action("reap", stack.name, f"idle for {_days(idle)} and nobody kept it after the warning")
        return None
    if kept(stack, now) or stack.state not in ("running", "sleeping", "failed"):
        return None
    if idle >= timing.reap_after:
        return Action("warn", stack.name, f"idle for {_days(idle)}")
    if stack.state == "running" and not stack.asleep and idle >= timing.sleep_after:
        return Action("sleep", stack.name, f"idle for {_days(idle)}")
    return None


def _days(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60}m"
    return f"{seconds // 60}m{seconds % 60}s"
