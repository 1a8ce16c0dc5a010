"""Who holds what: the per-stack lock a deployment runs under (first come, first served), and
the leases that make one process of several do a periodic job."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update

from ..models import Deployment, Lease, Stack, StackLock, utcnow
from ..records import LockRecord
from .base import Queries, changed, insert


class LockQueries(Queries):
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
            if not insert(s, StackLock(stack=stack, deployment_id=deployment_id, holder=holder, runner=runner)):
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

    # Leases -----------------------------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew a lease; True while this holder has it."""
        now = utcnow()
        expires = now + timedelta(seconds=ttl_seconds)
        with self.session() as s:
            taken = changed(s, update(Lease)
                            .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
                            .values(holder=holder, expires_at=expires))
            if taken:
                return True
            if s.get(Lease, name) is not None:
                return False
            return insert(s, Lease(name=name, holder=holder, expires_at=expires))

    def release_lease(self, name: str, holder: str) -> None:
        with self.session() as s:
            s.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
