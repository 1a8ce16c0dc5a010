"""The one way to the database.

Sessions never leave this module: callers get plain, frozen records. Every write that
decides something (taking a lock, marking a deployment, sleeping a stack) is a conditional
update in one transaction, so two processes that race do the thing once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from cryptography.fernet import Fernet
from sqlalchemy import case, create_engine, delete, event, func, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

import migrations

from .config import AppConfig
from .errors import ConfigError, NotFound, PermissionDenied, YadockeriError
from .jobs import BUILDS_BRANCH  # the kinds that build the deployment's branch
from .models import (
    App,
    Cursor,
    Deployment,
    DeploymentStep,
    EnvVar,
    Event,
    Lease,
    Stack,
    StackLock,
    utcnow,
)
from .secrets import decrypt, encrypt

LIVE = Stack.state != "destroyed"
ACTIVE_DEPLOYMENT = ("queued", "running")


def _changed(session: Session, statement: Any) -> int:
    """How many rows an UPDATE changed (SQLAlchemy types execute() as a plain Result)."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


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


def _stack_record(row: Stack) -> StackRecord:
    return StackRecord(
        id=row.id, name=row.name, app=row.app.name, branch=row.branch, commit=row.commit, image=row.image,
        owner=row.owner, state=row.state, created_at=row.created_at, last_activity_at=row.last_activity_at,
        last_request_at=row.last_request_at, requests=row.requests, asleep=row.asleep, keep_until=row.keep_until,
        warned_at=row.warned_at,
        middleware_hash=row.middleware_hash, node=row.node, thread=row.thread,
    )


def _deployment_record(row: Deployment) -> DeploymentRecord:
    steps = tuple(StepRecord(s.name, s.state, s.started_at, s.ended_at, s.detail) for s in row.steps)
    return DeploymentRecord(
        id=row.id, stack=row.stack.name, stack_id=row.stack_id, kind=row.kind, branch=row.branch,
        commit=row.commit, image=row.image, state=row.state, requested_by=row.requested_by, source=row.source,
        created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at, runner=row.runner,
        error=row.error, log_tail=row.log_tail, message=row.message, steps=steps,
    )


def _insert(session: Session, row: object) -> bool:
    """Insert in a savepoint; False (and nothing changed) if a unique key says it exists."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def _live_stack(session: Session, name: str, *, lock: bool = False) -> Stack | None:
    """The live stack row; with lock, held until the transaction ends (PostgreSQL; SQLite's
    BEGIN IMMEDIATE already serialises writers)."""
    query = select(Stack).where(Stack.name == name, LIVE)
    return session.scalar(query.with_for_update(of=Stack) if lock else query)


def _check_may_build(row: Stack, *, app: str, branch: str, kind: str, actor: str, admin: bool, create: bool) -> None:
    """Only the owner or an admin may point a stack at another branch (deploy, or a redeploy
    that still carries the branch the stack had before it moved)."""
    if create and row.app.name != app:
        raise YadockeriError(f"stack `{row.name}` runs app `{row.app.name}`; destroy it first to use `{app}`")
    if kind in BUILDS_BRANCH and branch != row.branch and actor != row.owner and not admin:
        raise PermissionDenied(
            f"only the owner of `{row.name}` (<{row.owner}>) or an admin may move `{row.name}` to another branch"
        )


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            # Let SQLAlchemy, not pysqlite, begin transactions (so SAVEPOINTs work) ...
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection) -> None:
            # ... and take the write lock up front: a read-then-write transaction cannot then
            # fail with SQLITE_BUSY halfway; writers queue on busy_timeout instead.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (run at every start; a no-op when current).
    Alembic is loaded only when there is something to do: a command-line start stays quick."""
    if _current_revision(engine) == head_revision():
        return
    from alembic import command as alembic_command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        alembic_command.upgrade(config, "head")


def head_revision() -> str:
    """The newest migration: the revision no other migration names as its down_revision."""
    revisions, downs = set(), set()
    for path in (Path(migrations.__file__).parent / "versions").glob("*.py"):
        text = path.read_text()
        revision = re.search(r"^revision\s*=\s*['\"](\w+)['\"]", text, re.M)
        down = re.search(r"^down_revision\s*=\s*['\"](\w+)['\"]", text, re.M)
        if revision:
            revisions.add(revision.group(1))
        if down:
            downs.add(down.group(1))
    (head,) = revisions - downs
    return head


def _current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except (OperationalError, ProgrammingError):
        return None  # a new database


class Store:
    def __init__(self, url: str, fernet: Fernet) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._fernet = fernet
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            migrate(self.engine)
        except OperationalError as error:
            raise ConfigError(f"cannot open the database {self.engine.url!r}: {error.orig}") from None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # Apps -------------------------------------------------------------------------------------
    def sync_apps(self, apps: dict[str, AppConfig]) -> None:
        with self.session() as s:
            for name, app in apps.items():
                row = s.scalar(select(App).where(App.name == name))
                if row is None:
                    s.add(App(name=name, repo=app.repo, branch=app.branch, is_default=app.default))
                else:
                    row.repo, row.branch, row.is_default = app.repo, app.branch, app.default

    # Stacks -----------------------------------------------------------------------------------
    def get_stack(self, name: str) -> StackRecord | None:
        with self.session() as s:
            row = s.scalar(select(Stack).where(Stack.name == name, LIVE))
            return _stack_record(row) if row else None

    def require_stack(self, name: str) -> StackRecord:
        record = self.get_stack(name)
        if record is None:
            raise NotFound(f"there is no stack named `{name}`; `list` shows the stacks")
        return record

    def list_stacks(self) -> list[StackRecord]:
        with self.session() as s:
            return [_stack_record(r) for r in s.scalars(select(Stack).where(LIVE).order_by(Stack.name))]

    def update_stack(self, name: str, **values: object) -> None:
        with self.session() as s:
            s.execute(update(Stack).where(Stack.name == name, LIVE).values(**values))

    def set_stack_state(self, name: str, state: str, *, only_from: tuple[str, ...] | None = None) -> bool:
        """Conditional state change: True if this call changed it."""
        with self.session() as s:
            query = update(Stack).where(Stack.name == name, LIVE)
            if only_from is not None:
                query = query.where(Stack.state.in_(only_from))
            return _changed(s, query.values(state=state)) == 1

    def mark_destroyed(self, name: str) -> None:
        with self.session() as s:
            stack = s.scalar(select(Stack).where(Stack.name == name, LIVE))
            if stack is None:
                return
            s.execute(delete(EnvVar).where(EnvVar.stack_id == stack.id))
            stack.state, stack.destroyed_at = "destroyed", utcnow()

    def forget_stack(self, name: str) -> None:
        """Remove a stack that never existed beyond its first, refused deployment."""
        with self.session() as s:
            s.execute(delete(Stack).where(Stack.name == name, LIVE))

    def images_in_use(self, *, except_stack: str | None = None) -> set[str]:
        """Images that live stacks run or that unfinished deployments are about to run."""
        with self.session() as s:
            query = select(Stack.image).where(LIVE, Stack.image.is_not(None))
            pending = select(Deployment.image).join(Stack).where(
                Deployment.state.in_(ACTIVE_DEPLOYMENT), Deployment.image.is_not(None)
            )
            if except_stack:
                query = query.where(Stack.name != except_stack)
                pending = pending.where(Stack.name != except_stack)
            return {i for i in s.scalars(query) if i} | {i for i in s.scalars(pending) if i}

    def images_of(self, name: str) -> set[str]:
        """Every image the live stack named `name` ran or built."""
        with self.session() as s:
            stack = s.scalar(select(Stack).where(Stack.name == name, LIVE))
            if stack is None:
                return set()
            images = set(s.scalars(select(Deployment.image).where(Deployment.stack_id == stack.id)))
            return {i for i in images | {stack.image} if i}

    # Deployments ------------------------------------------------------------------------------
    def create_deployment(
        self, *, stack: str, app: str, branch: str, kind: str, actor: str, source: str, create: bool,
        admin: bool = False,
    ) -> tuple[DeploymentRecord, bool]:
        """Queue a deployment; with create=True a missing stack is created, owned by actor.

        Who may build which branch is decided again here, on the stack row as it is in this
        transaction (locked): the caller's earlier check ran before its Docker calls, and the
        stack may have been created or moved meanwhile. Returns the deployment and whether the
        stack was created by this call.
        """
        with self.session() as s:
            row = _live_stack(s, stack, lock=True)
            created = False
            if row is None:
                if not create:
                    raise NotFound(f"there is no stack named `{stack}`; `list` shows the stacks")
                app_row = s.scalar(select(App).where(App.name == app))
                if app_row is None:
                    raise NotFound(f"no app named `{app}`")
                row = Stack(name=stack, app_id=app_row.id, branch=branch, owner=actor, state="deploying")
                created = _insert(s, row)
                if not created:  # another process created it a moment ago: decide on its row
                    row = _live_stack(s, stack, lock=True)
                    if row is None:
                        raise YadockeriError(f"stack `{stack}` was just created and removed by someone else; try again")
            if not created:
                _check_may_build(row, app=app, branch=branch, kind=kind, actor=actor, admin=admin, create=create)
            deployment = Deployment(
                stack_id=row.id, kind=kind, branch=branch, requested_by=actor, source=source, state="queued"
            )
            s.add(deployment)
            s.flush()
            s.refresh(deployment)
            return _deployment_record(deployment), created

    def get_deployment(self, deployment_id: int) -> DeploymentRecord:
        with self.session() as s:
            row = s.get(Deployment, deployment_id)
            if row is None:
                raise NotFound(f"no deployment #{deployment_id}")
            return _deployment_record(row)

    def deployments(self, stack: str, limit: int = 10) -> list[DeploymentRecord]:
        with self.session() as s:
            rows = s.scalars(
                select(Deployment).join(Stack).where(Stack.name == stack, LIVE).order_by(Deployment.id.desc()).limit(limit)
            )
            return [_deployment_record(r) for r in rows]

    def active_deployments(self) -> list[DeploymentRecord]:
        with self.session() as s:
            rows = s.scalars(select(Deployment).where(Deployment.state.in_(ACTIVE_DEPLOYMENT)).order_by(Deployment.id))
            return [_deployment_record(r) for r in rows]

    def start_deployment(self, deployment_id: int, runner: str) -> bool:
        with self.session() as s:
            now = utcnow()
            return _changed(s, update(Deployment)
                            .where(Deployment.id == deployment_id, Deployment.state == "queued")
                            .values(state="running", runner=runner, started_at=now, heartbeat_at=now)) == 1

    def claim_deployment(self, deployment_id: int, runner: str) -> None:
        """Say which process will run a queued deployment (so a dead one can be told apart)."""
        with self.session() as s:
            s.execute(
                update(Deployment)
                .where(Deployment.id == deployment_id, Deployment.state == "queued")
                .values(runner=runner, heartbeat_at=utcnow())
            )

    def finish_deployment(self, deployment_id: int, state: str, **values: object) -> None:
        with self.session() as s:
            s.execute(
                update(Deployment)
                .where(Deployment.id == deployment_id)
                .values(state=state, finished_at=utcnow(), **values)
            )

    def set_deployment(self, deployment_id: int, **values: object) -> None:
        with self.session() as s:
            s.execute(update(Deployment).where(Deployment.id == deployment_id).values(**values))

    def start_step(self, deployment_id: int, name: str) -> int:
        with self.session() as s:
            step = DeploymentStep(deployment_id=deployment_id, name=name, state="running")
            s.add(step)
            s.flush()
            return step.id

    def end_step(self, step_id: int, state: str, detail: str | None = None) -> None:
        with self.session() as s:
            s.execute(update(DeploymentStep).where(DeploymentStep.id == step_id).values(
                state=state, detail=detail, ended_at=utcnow()
            ))

    def heartbeat(self, runner: str) -> None:
        with self.session() as s:
            now = utcnow()
            s.execute(update(Deployment).where(
                Deployment.runner == runner, Deployment.state.in_(ACTIVE_DEPLOYMENT)
            ).values(heartbeat_at=now))
            s.execute(update(StackLock).where(StackLock.runner == runner).values(heartbeat_at=now))

    def recover_interrupted(self, is_dead: Callable[[str | None, datetime | None], bool]) -> list[DeploymentRecord]:
        """Mark deployments whose runner died as interrupted and free their locks."""
        interrupted = []
        with self.session() as s:
            rows = s.scalars(select(Deployment).where(Deployment.state.in_(ACTIVE_DEPLOYMENT)))
            for row in rows:
                if not is_dead(row.runner, row.heartbeat_at):
                    continue
                marked = _changed(s, update(Deployment)
                                  .where(Deployment.id == row.id, Deployment.state == row.state)
                                  .values(state="interrupted", finished_at=utcnow(),
                                          error="interrupted: the yadockeri process running it stopped"))
                if marked:
                    s.execute(delete(StackLock).where(StackLock.deployment_id == row.id))
                    interrupted.append(row.id)
        return [self.get_deployment(i) for i in interrupted]

    # Locks ------------------------------------------------------------------------------------
    def try_lock(self, stack: str, deployment_id: int, holder: str, runner: str) -> LockRecord | None:
        """Take the stack for this deployment if it is free and it is this deployment's turn.

        Returns None when taken, else who holds the stack (or the deployment ahead in line).
        """
        with self.session() as s:
            current = s.get(StackLock, stack)
            if current is not None:
                if current.deployment_id == deployment_id:
                    return None
                return LockRecord(current.stack, current.deployment_id, current.holder, current.runner, current.acquired_at)
            ahead = s.scalar(
                select(Deployment).join(Stack).where(
                    Stack.name == stack, Deployment.state == "queued", Deployment.id < deployment_id
                ).order_by(Deployment.id).limit(1)
            )
            if ahead is not None:
                return LockRecord(stack, ahead.id, ahead.requested_by, ahead.runner or "", ahead.created_at)
            if not _insert(s, StackLock(stack=stack, deployment_id=deployment_id, holder=holder, runner=runner)):
                return LockRecord(stack, 0, "another deployment", "", utcnow())
            return None

    def lock_holder(self, stack: str) -> LockRecord | None:
        with self.session() as s:
            current = s.get(StackLock, stack)
            if current is None:
                return None
            return LockRecord(current.stack, current.deployment_id, current.holder, current.runner, current.acquired_at)

    def unlock(self, stack: str, deployment_id: int) -> None:
        with self.session() as s:
            s.execute(delete(StackLock).where(StackLock.stack == stack, StackLock.deployment_id == deployment_id))

    # Env --------------------------------------------------------------------------------------
    def get_env(self, stack: str) -> dict[str, str]:
        with self.session() as s:
            rows = s.scalars(select(EnvVar).join(Stack, EnvVar.stack_id == Stack.id).where(Stack.name == stack, LIVE))
            return {row.key: decrypt(self._fernet, row.value) for row in sorted(rows, key=lambda r: r.key)}

    def change_env(self, stack: str, set_values: dict[str, str], unset: list[str], actor: str) -> list[str]:
        """Apply set/unset in one transaction; returns the keys that really changed."""
        changed: list[str] = []
        with self.session() as s:
            row = s.scalar(select(Stack).where(Stack.name == stack, LIVE))
            if row is None:
                raise NotFound(f"there is no stack named `{stack}`")
            existing = {e.key: e for e in s.scalars(select(EnvVar).where(EnvVar.stack_id == row.id))}
            for key, value in set_values.items():
                if key in existing:
                    if decrypt(self._fernet, existing[key].value) == value:
                        continue
                    existing[key].value, existing[key].updated_by = encrypt(self._fernet, value), actor
                else:
                    s.add(EnvVar(stack_id=row.id, key=key, value=encrypt(self._fernet, value), updated_by=actor))
                changed.append(key)
            for key in unset:
                if key in existing and key not in set_values:
                    s.delete(existing[key])
                    changed.append(key)
        return sorted(changed)

    # Idle stacks ------------------------------------------------------------------------------
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
            return _changed(s, update(Stack).where(
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

    # Events -----------------------------------------------------------------------------------
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

    # Leases -----------------------------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew a lease; True while this holder has it."""
        now = utcnow()
        expires = now + timedelta(seconds=ttl_seconds)
        with self.session() as s:
            taken = _changed(s, update(Lease)
                             .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
                             .values(holder=holder, expires_at=expires))
            if taken:
                return True
            if s.get(Lease, name) is not None:
                return False
            return _insert(s, Lease(name=name, holder=holder, expires_at=expires))

    def release_lease(self, name: str, holder: str) -> None:
        with self.session() as s:
            s.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))

    def count(self, model: type) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0
