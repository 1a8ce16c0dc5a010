"""Database models. Only the store (stacks/store.py, stacks/queries/) opens sessions on them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite stores naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


# Stack states (DESIGN.md) and deployment states (issue #2).
STACK_STATES = ("deploying", "running", "failed", "sleeping", "warned", "destroying", "destroyed")
DEPLOYMENT_STATES = ("queued", "running", "succeeded", "failed", "interrupted")
# What a deployment does: build and roll out, apply env, destroy, sleep or wake (stacks/jobs.py).
DEPLOYMENT_KINDS = ("deploy", "redeploy", "env", "destroy", "sleep", "wake")


class App(Base):
    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    repo: Mapped[str] = mapped_column(Text)
    branch: Mapped[str] = mapped_column(String(255))
    is_default: Mapped[bool] = mapped_column(default=False)


class Stack(Base):
    __tablename__ = "stacks"
    __table_args__ = (
        # A name is unique among stacks that exist; destroyed ones keep their history.
        Index(
            "uq_stacks_live_name",
            "name",
            unique=True,
            sqlite_where=text("state != 'destroyed'"),
            postgresql_where=text("state != 'destroyed'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    branch: Mapped[str] = mapped_column(String(255))
    commit: Mapped[str | None] = mapped_column(String(64))
    image: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(20), default="deploying")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_request_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requests: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # through the router
    asleep: Mapped[bool] = mapped_column(default=False, server_default=false())  # processes scaled to 0
    keep_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    middleware_hash: Mapped[str | None] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(255))  # where middleware with volumes lives
    # Where a front end shows this stack's story (a Slack thread "channel:ts"); opaque here.
    thread: Mapped[str | None] = mapped_column(String(255))
    # When the stack's first deploy went live: its postdeploy command runs then, once. Set before
    # the command starts, so a restart of yadockeri never runs it twice.
    first_live_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    app: Mapped[App] = relationship(lazy="joined")


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stack_id: Mapped[int] = mapped_column(ForeignKey("stacks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="deploy")
    branch: Mapped[str] = mapped_column(String(255))
    commit: Mapped[str | None] = mapped_column(String(64))
    image: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    requested_by: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(20))  # cli, slack, scheduler
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runner: Mapped[str | None] = mapped_column(String(255))  # host:pid:start of the process running it
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(String(255))  # a front end's message for it; opaque here

    stack: Mapped[Stack] = relationship(lazy="joined")
    steps: Mapped[list[DeploymentStep]] = relationship(
        order_by="DeploymentStep.id", cascade="all, delete-orphan", lazy="selectin"
    )


class DeploymentStep(Base):
    __tablename__ = "deployment_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default="running")  # running, ok, skipped, warning, failed
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EnvVar(Base):
    __tablename__ = "env_vars"
    __table_args__ = (UniqueConstraint("stack_id", "key", name="uq_env_vars_stack_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stack_id: Mapped[int] = mapped_column(ForeignKey("stacks.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token, never the plain value
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(255))


class Event(Base):
    """Audit trail: who did what to which stack, when, and how it ended."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    stack: Mapped[str | None] = mapped_column(String(40), index=True)
    result: Mapped[str] = mapped_column(String(20))  # ok, failed, refused, queued
    detail: Mapped[str | None] = mapped_column(Text)


class StackLock(Base):
    """One row while a deployment holds a stack; the database makes it exclusive across processes."""

    __tablename__ = "stack_locks"

    stack: Mapped[str] = mapped_column(String(40), primary_key=True)
    deployment_id: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(255))  # who asked, for "waiting for akira (deploy by U123)"
    runner: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lease(Base):
    """A named lease (the scheduler's): one holder at a time until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Cursor(Base):
    """Where a reader of a stream stopped (the router's access log), so a restart resumes there."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)  # nanoseconds since the epoch


class ApiToken(Base):
    """A token of the HTTP API, stored as its SHA-256 only (tokens are 256 random bits, so a
    plain hash cannot be reversed). A personal token (`@<slack user>`) acts as its owner; a
    named one (an admin's, for CI) is its own identity, `token:<name>`."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)
    owner: Mapped[str] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(default=False)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))  # the first characters, to tell tokens apart in a list
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PullRequestStack(Base):
    """A pull request and its review stack: what yadockeri tells GitHub about it (the comment it
    edits, the last GitHub deployment) and whether its code comes from a fork."""

    __tablename__ = "pull_request_stacks"
    __table_args__ = (UniqueConstraint("repo", "number", name="uq_pull_request"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo: Mapped[str] = mapped_column(String(140))
    number: Mapped[int] = mapped_column(Integer)
    app: Mapped[str] = mapped_column(String(40))
    stack: Mapped[str] = mapped_column(String(40), index=True)
    head_sha: Mapped[str] = mapped_column(String(64))
    fork: Mapped[bool] = mapped_column(default=False)
    open: Mapped[bool] = mapped_column(default=True)
    html_url: Mapped[str | None] = mapped_column(Text)
    comment_id: Mapped[int | None] = mapped_column(BigInteger)
    github_deployment: Mapped[int | None] = mapped_column(BigInteger)  # the newest GitHub deployment of it
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """A webhook delivery (X-GitHub-Delivery), kept from the moment it is answered: `queued` with
    its payload until a worker acts on it (`acting`), then `done` with what it did."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(12), default="queued", server_default="done", index=True)
    payload: Mapped[str | None] = mapped_column(Text)  # dropped once done
    result: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message a front end must deliver (a Slack message carrying a deployment's state), kept
    from the moment it is asked for until it is delivered: `pending`, then `done` or `dead`.
    `content` is the newest version asked for (JSON); `wanted` and `sent` count versions, so an
    update asked for while the process stopped is sent after the restart. `nonce` is written into
    the message (Slack's message metadata), so that a post whose answer was lost can be found
    instead of posted twice (`uncertain`)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(64))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(Integer)
    ts: Mapped[str | None] = mapped_column(String(32))
    fallback: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(Text)  # what its owner must learn once it is posted (JSON)
    topic: Mapped[str | None] = mapped_column(String(80), index=True)  # what it is about ("prompt:akira")
    wanted: Mapped[int] = mapped_column(Integer, default=1)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    final: Mapped[bool] = mapped_column(default=False)
    uncertain: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SeenKey(Base):
    """A key a front end acts on once (a Slack event id, which Slack delivers again when it thinks
    the first delivery was missed), kept a day so that a retry after a restart acts no more."""

    __tablename__ = "seen_keys"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
