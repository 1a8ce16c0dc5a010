"""Apps and stacks: the apps yadockeri.yml names, and the live stacks (read, change, destroy,
the images they use, how many there are against the limits)."""

from __future__ import annotations

from sqlalchemy import Select, delete, func, select, text, update
from sqlalchemy.orm import Session

from ..capacity import OwnedStack, StackCounts, StackLimits, installation_full, owner_full
from ..config import AppConfig
from ..errors import NotFound
from ..models import App, Deployment, EnvVar, Stack, utcnow
from ..records import StackRecord, stack_columns
from .base import ACTIVE_DEPLOYMENT, LIVE, Queries, changed


class StackQueries(Queries):
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
        with self.reading() as s:
            row = s.execute(_stacks().where(Stack.name == name)).first()
            return StackRecord(*row) if row else None

    def require_stack(self, name: str) -> StackRecord:
        record = self.get_stack(name)
        if record is None:
            raise NotFound(f"there is no stack named `{name}`; `list` shows the stacks")
        return record

    def list_stacks(self) -> list[StackRecord]:
        with self.reading() as s:
            return [StackRecord(*row) for row in s.execute(_stacks().order_by(Stack.name))]

    def count_stacks(self) -> StackCounts:
        """Live stacks by state, in one grouped COUNT (flat cost however many there are)."""
        with self.reading() as s:
            return stack_counts(s)

    def require_room(self, owner: str, *, admin: bool, limits: StackLimits) -> None:
        """Refuse (LimitReached) a new stack by this creator if a cap is reached."""
        if limits.any:
            with self.reading() as s:
                check_room(s, owner, admin=admin, limits=limits)

    def update_stack(self, name: str, **values: object) -> None:
        with self.session() as s:
            s.execute(update(Stack).where(Stack.name == name, LIVE).values(**values))

    def claim_first_live(self, name: str) -> bool:
        """True once per stack: for the deploy that made it live first (its postdeploy runs)."""
        with self.session() as s:
            return changed(s, update(Stack).where(Stack.name == name, LIVE, Stack.first_live_at.is_(None))
                           .values(first_live_at=utcnow())) == 1

    def set_stack_state(self, name: str, state: str, *, only_from: tuple[str, ...] | None = None) -> bool:
        """Conditional state change: True if this call changed it."""
        with self.session() as s:
            query = update(Stack).where(Stack.name == name, LIVE)
            if only_from is not None:
                query = query.where(Stack.state.in_(only_from))
            return changed(s, query.values(state=state)) == 1

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

    def recent_images(self, app: str, *, limit: int = 3) -> list[str]:
        """The app's images of its latest successful deployments, newest first: a new branch's
        build reuses their layers (--cache-from, with a registry)."""
        with self.session() as s:
            images = s.scalars(
                select(Deployment.image).join(Stack).join(App)
                .where(App.name == app, Deployment.state == "succeeded", Deployment.image.is_not(None))
                .order_by(Deployment.id.desc()).limit(limit * 10)
            )
            return [image for image in dict.fromkeys(images) if image][:limit]


def _stacks() -> Select:
    """Live stacks as StackRecord's columns, without building ORM objects (a list of a thousand
    stacks then costs a few milliseconds, not tens)."""
    return select(*stack_columns()).join(App, Stack.app_id == App.id).where(LIVE)


# Room for a new stack ---------------------------------------------------------------------------
NEW_STACKS_LOCK = 0x79616B6F  # PostgreSQL advisory lock: one creation of a stack at a time, when capped


def check_room(session: Session, owner: str, *, admin: bool, limits: StackLimits) -> None:
    """The caps, counted in this transaction: the person's own first (what they can act on)."""
    if limits.max_per_owner is not None and limits.limits_owner(owner, admin=admin):
        owned = [OwnedStack(name, bool(asleep)) for name, asleep in
                 session.execute(select(Stack.name, Stack.asleep).where(Stack.owner == owner, LIVE).order_by(Stack.name))]
        if len(owned) >= limits.max_per_owner:
            raise owner_full(limits.max_per_owner, owned)
    if limits.max_stacks is not None:
        counts = stack_counts(session)
        if counts.total >= limits.max_stacks:
            raise installation_full(limits.max_stacks, counts.total, counts.asleep)


def stack_counts(session: Session) -> StackCounts:
    """Live stacks by state, in one grouped COUNT (flat cost however many there are)."""
    rows = session.execute(select(Stack.state, Stack.asleep, func.count()).where(LIVE).group_by(Stack.state, Stack.asleep))
    by = [(state, bool(asleep), int(count)) for state, asleep, count in rows]
    return StackCounts(total=sum(n for _, _, n in by), running=sum(n for st, a, n in by if st == "running" and not a),
                       asleep=sum(n for _, a, n in by if a), failed=sum(n for st, _, n in by if st == "failed"))


def serialise_new_stacks(session: Session) -> None:
    """Make concurrent creations of stacks count one after the other until this transaction ends.
    SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs a lock that covers rows
    that do not exist yet."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": NEW_STACKS_LOCK})
