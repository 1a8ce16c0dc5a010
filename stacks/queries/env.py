"""A stack's env: values encrypted at rest with the store's Fernet key, changed in one transaction."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import select

from ..errors import NotFound
from ..models import EnvVar, Stack
from ..secrets import decrypt, encrypt
from .base import LIVE, Queries


class EnvQueries(Queries):
    _fernet: Fernet  # set by the Store, which holds the key

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
