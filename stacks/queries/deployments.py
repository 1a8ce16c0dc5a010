"""Deployments and their steps: queued (deciding again, in the transaction, who may build which
branch), started, finished, heartbeats of the process running them, recovery after it died."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select, update

from ..capacity import StackLimits
from ..errors import NotFound, PermissionDenied, YadockeriError
from ..jobs import BUILDS_BRANCH  # the kinds that build the deployment's branch
from ..models import App, Deployment, DeploymentStep, Stack, StackLock, utcnow
from ..records import DeploymentRecord, deployment_record
from .base import ACTIVE_DEPLOYMENT, LIVE, Queries, changed, insert, live_stack
from .stacks import check_room, serialise_new_stacks


class DeploymentQueries(Queries):
    def create_deployment(
        self, *, stack: str, app: str, branch: str, kind: str, actor: str, source: str, create: bool,
        admin: bool = False, limits: StackLimits | None = None,
    ) -> tuple[DeploymentRecord, bool]:
        """Queue a deployment; with create=True a missing stack is created, owned by actor.

        Who may build which branch, and whether a new stack fits the `limits`, is decided again
        here, on the rows as they are in this transaction (locked): the caller's earlier checks
        ran before its Docker calls, and stacks may have been created or moved meanwhile. Returns
        the deployment and whether the stack was created by this call.
        """
        with self.session() as s:
            if create and limits is not None and limits.any:
                serialise_new_stacks(s)
            row = live_stack(s, stack, lock=True)
            created = False
            if row is None:
                if not create:
                    raise NotFound(f"there is no stack named `{stack}`; `list` shows the stacks")
                if limits is not None:
                    check_room(s, actor, admin=admin, limits=limits)
                app_row = s.scalar(select(App).where(App.name == app))
                if app_row is None:
                    raise NotFound(f"no app named `{app}`")
                row = Stack(name=stack, app_id=app_row.id, branch=branch, owner=actor, state="deploying")
                created = insert(s, row)
                if not created:  # another process created it a moment ago: decide on its row
                    row = live_stack(s, stack, lock=True)
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
            return deployment_record(deployment), created

    def get_deployment(self, deployment_id: int) -> DeploymentRecord:
        with self.reading() as s:
            row = s.get(Deployment, deployment_id)
            if row is None:
                raise NotFound(f"no deployment #{deployment_id}")
            return deployment_record(row)

    def deployments(self, stack: str, limit: int = 10) -> list[DeploymentRecord]:
        with self.session() as s:
            rows = s.scalars(
                select(Deployment).join(Stack).where(Stack.name == stack, LIVE).order_by(Deployment.id.desc()).limit(limit)
            )
            return [deployment_record(r) for r in rows]

    def active_deployments(self) -> list[DeploymentRecord]:
        with self.session() as s:
            rows = s.scalars(select(Deployment).where(Deployment.state.in_(ACTIVE_DEPLOYMENT)).order_by(Deployment.id))
            return [deployment_record(r) for r in rows]

    def start_deployment(self, deployment_id: int, runner: str) -> bool:
        with self.session() as s:
            now = utcnow()
            return changed(s, update(Deployment)
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
                marked = changed(s, update(Deployment)
                                 .where(Deployment.id == row.id, Deployment.state == row.state)
                                 .values(state="interrupted", finished_at=utcnow(),
                                         error="interrupted: the yadockeri process running it stopped"))
                if marked:
                    s.execute(delete(StackLock).where(StackLock.deployment_id == row.id))
                    interrupted.append(row.id)
        return [self.get_deployment(i) for i in interrupted]


def _check_may_build(row: Stack, *, app: str, branch: str, kind: str, actor: str, admin: bool, create: bool) -> None:
    """Only the owner or an admin may point a stack at another branch (deploy, or a redeploy
    that still carries the branch the stack had before it moved)."""
    if create and row.app.name != app:
        raise YadockeriError(f"stack `{row.name}` runs app `{row.app.name}`; destroy it first to use `{app}`")
    if kind in BUILDS_BRANCH and branch != row.branch and actor != row.owner and not admin:
        raise PermissionDenied(
            f"only the owner of `{row.name}` (<{row.owner}>) or an admin may move `{row.name}` to another branch"
        )
