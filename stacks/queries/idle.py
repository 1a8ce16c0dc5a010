"""Idle stacks in the database: request counts and times (batched, with the reader's cursor),
the idle warning and its undoing, keep, and which stacks are busy with a deployment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select, update

from ..models import Cursor, Deployment, Lease, Stack, utcnow
from .base import ACTIVE_DEPLOYMENT, LIVE, Queries, changed


class IdleQueries(Queries):
    def record_activity(self, batch: dict[str, tuple[int, datetime]], *, cursor: tuple[str, int] | None = None,
                        lease: tuple[str, str] | None = None) -> bool:
        """Add request counts and move last-request/last-activity times forward, for many stacks
        in one transaction (with the reader's cursor). With `lease`, only while holding it."""
        with self.session() as s:
            if lease is not None:
                held = s.scalar(select(Lease).where(Lease.name == lease[0], Lease.holder == lease[1],
                                                    Lease.expires_at > utcnow()))
                if held is None:
                    return False
            for name, (count, at) in batch.items():
                s.execute(update(Stack).where(Stack.name == name, LIVE).values(
                    requests=Stack.requests + count,
                    last_request_at=case((Stack.last_request_at.is_(None), at),
                                         (Stack.last_request_at < at, at), else_=Stack.last_request_at),
                    last_activity_at=case((Stack.last_activity_at < at, at), else_=Stack.last_activity_at),
                ))
            if cursor is not None:
                row = s.get(Cursor, cursor[0])
                if row is None:
                    s.add(Cursor(name=cursor[0], position=cursor[1]))
                else:
                    row.position = max(row.position, cursor[1])
        return True

    def cursor(self, name: str) -> int | None:
        with self.session() as s:
            row = s.get(Cursor, name)
            return row.position if row else None

    def warn_stack(self, name: str, at: datetime) -> bool:
        """running/sleeping/failed -> warned, once."""
        with self.session() as s:
            return changed(s, update(Stack).where(
                Stack.name == name, Stack.state.in_(("running", "sleeping", "failed"))
            ).values(state="warned", warned_at=at)) == 1

    def unwarn_stack(self, name: str) -> bool:
        """warned -> what it was: sleeping if its processes sleep, failed if it never ran, else running."""
        with self.session() as s:
            row = s.scalar(select(Stack).where(Stack.name == name, Stack.state == "warned"))
            if row is None:
                return False
            row.state = "sleeping" if row.asleep else ("failed" if row.commit is None else "running")
            row.warned_at = None
            return True

    def keep_stack(self, name: str, until: datetime) -> None:
        with self.session() as s:
            s.execute(update(Stack).where(Stack.name == name, LIVE).values(keep_until=until))

    def busy_stacks(self) -> set[str]:
        """Stacks with a queued or running deployment: never slept or reaped."""
        with self.session() as s:
            rows = s.scalars(select(Stack.name).join(Deployment).where(
                LIVE, Deployment.state.in_(ACTIVE_DEPLOYMENT)))
            return set(rows)

    def active_kinds(self, name: str) -> set[str]:
        with self.session() as s:
            return set(s.scalars(select(Deployment.kind).join(Stack).where(
                Stack.name == name, LIVE, Deployment.state.in_(ACTIVE_DEPLOYMENT))))
