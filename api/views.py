"""Engine records -> the API's models (pure)."""

from __future__ import annotations

from stacks.config import Settings
from stacks.store import DeploymentRecord, StackRecord

from . import schemas

FINISHED = ("succeeded", "failed", "interrupted")


def deployment(record: DeploymentRecord, settings: Settings) -> schemas.Deployment:
    live = record.state == "succeeded" and record.kind != "destroy"
    return schemas.Deployment(
        id=record.id, stack=record.stack, kind=record.kind, branch=record.branch, commit=record.commit,
        state=record.state, requested_by=record.requested_by, source=record.source, created_at=record.created_at,
        started_at=record.started_at, finished_at=record.finished_at, error=record.error,
        url=settings.stack_url(record.stack) if live else None,
        steps=[schemas.Step(name=s.name, state=s.state, seconds=s.seconds, detail=s.detail) for s in record.steps],
        events=f"/api/v1/deployments/{record.id}/events",
    )


def stack(record: StackRecord, settings: Settings, next_words: str) -> schemas.Stack:
    return schemas.Stack(
        name=record.name, app=record.app, branch=record.branch, commit=record.commit, state=record.state,
        url=settings.stack_url(record.name), owner=record.owner, asleep=record.asleep, created_at=record.created_at,
        last_activity_at=record.last_activity_at, keep_until=record.keep_until, next=next_words,
    )
