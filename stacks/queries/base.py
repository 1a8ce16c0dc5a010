"""What every group of queries stands on: one session factory, and the small helpers that make
a write decide something (a conditional update, an insert that may find the row exists)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..database import READ_ONLY
from ..models import Stack

LIVE = Stack.state != "destroyed"
ACTIVE_DEPLOYMENT = ("queued", "running")


class Queries:
    """Queries of one subject; each `with self.session()` is one transaction, and each `with
    self.reading()` one that only reads (on SQLite it takes no write lock)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        bind = sessions.kw["bind"]
        self._readers = sessionmaker(bind.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._readers.begin() as session:
            yield session


def changed(session: Session, statement: Any) -> int:
    """How many rows an UPDATE changed (SQLAlchemy types execute() as a plain Result)."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def insert(session: Session, row: object) -> bool:
    """Insert in a savepoint; False (and nothing changed) if a unique key says it exists."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def live_stack(session: Session, name: str, *, lock: bool = False) -> Stack | None:
    """The live stack row; with lock, held until the transaction ends (PostgreSQL; SQLite's
    BEGIN IMMEDIATE already serialises writers)."""
    query = select(Stack).where(Stack.name == name, LIVE)
    return session.scalar(query.with_for_update(of=Stack) if lock else query)
