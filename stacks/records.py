"""The frozen records the store hands out (rows never leave a session), and how rows become them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .models import ApiToken, App, Deployment, Stack
from .tokens import TokenRecord


@dataclass(frozen=True)
class StackRecord:
    id: int
    name: str
    app: str
    branch: str
    commit: str | None
    image: str | None
    owner: str
    state: str
    created_at: datetime
    last_activity_at: datetime
    last_request_at: datetime | None
    requests: int
    asleep: bool
    keep_until: datetime | None
    warned_at: datetime | None
    middleware_hash: str | None
    node: str | None
    thread: str | None
    first_live_at: datetime | None = None


@dataclass(frozen=True)
class StepRecord:
    name: str
    state: str
    started_at: datetime
    ended_at: datetime | None
    detail: str | None

    @property
    def seconds(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


@dataclass(frozen=True)
class DeploymentRecord:
    id: int
    stack: str
    stack_id: int
    kind: str
    branch: str
    commit: str | None
    image: str | None
    state: str
    requested_by: str
    source: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    runner: str | None
    error: str | None
    log_tail: str | None
    message: str | None
    steps: tuple[StepRecord, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class LockRecord:
    stack: str
    deployment_id: int
    holder: str
    runner: str
    acquired_at: datetime


@dataclass(frozen=True)
class EventRecord:
    at: datetime
    actor: str
    source: str
    action: str
    stack: str | None
    result: str
    detail: str | None


def stack_columns() -> tuple[Any, ...]:
    """A StackRecord's columns in its order (joined with App): every StackRecord is read so."""
    return (Stack.id, Stack.name, App.name, Stack.branch, Stack.commit, Stack.image, Stack.owner, Stack.state,
            Stack.created_at, Stack.last_activity_at, Stack.last_request_at, Stack.requests, Stack.asleep,
            Stack.keep_until, Stack.warned_at, Stack.middleware_hash, Stack.node, Stack.thread, Stack.first_live_at)



def deployment_record(row: Deployment) -> DeploymentRecord:
    steps = tuple(StepRecord(s.name, s.state, s.started_at, s.ended_at, s.detail) for s in row.steps)
    return DeploymentRecord(
        id=row.id, stack=row.stack.name, stack_id=row.stack_id, kind=row.kind, branch=row.branch,
        commit=row.commit, image=row.image, state=row.state, requested_by=row.requested_by, source=row.source,
        created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at, runner=row.runner,
        error=row.error, log_tail=row.log_tail, message=row.message, steps=steps,
    )


def token_record(row: ApiToken) -> TokenRecord:
    return TokenRecord(name=row.name, owner=row.owner, admin=row.admin, hint=row.hint, created_by=row.created_by,
                       created_at=row.created_at, expires_at=row.expires_at, last_used_at=row.last_used_at)
