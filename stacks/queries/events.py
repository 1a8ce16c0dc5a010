"""The audit trail: who did what to which stack, from where, with what result."""

from __future__ import annotations

from sqlalchemy import select

from ..models import Event
from ..records import EventRecord
from .base import Queries


class EventQueries(Queries):
    def add_event(self, *, actor: str, source: str, action: str, stack: str | None, result: str,
                  detail: str | None = None) -> None:
        with self.session() as s:
            s.add(Event(actor=actor, source=source, action=action, stack=stack, result=result, detail=detail))

    def events(self, stack: str | None = None, limit: int = 50) -> list[EventRecord]:
        with self.session() as s:
            query = select(Event).order_by(Event.id.desc()).limit(limit)
            if stack is not None:
                query = query.where(Event.stack == stack)
            return [EventRecord(e.at, e.actor, e.source, e.action, e.stack, e.result, e.detail) for e in s.scalars(query)]
