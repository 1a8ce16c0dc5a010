"""API tokens: stored by digest, found by digest, revoked by deletion."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ..models import ApiToken, utcnow
from ..records import token_record
from ..tokens import HINT_LENGTH, TokenRecord, digest
from .base import Queries, changed, insert

LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


class TokenQueries(Queries):
    def add_token(self, *, name: str, owner: str, admin: bool, token: str, created_by: str,
                  expires_at: datetime | None, replace: bool = False) -> bool:
        """Store a token's digest; False if a token of that name exists (unless `replace`)."""
        with self.session() as s:
            if replace:
                s.execute(delete(ApiToken).where(ApiToken.name == name))
            return insert(s, ApiToken(name=name, owner=owner, admin=admin, digest=digest(token),
                                      hint=token[:HINT_LENGTH], created_by=created_by, expires_at=expires_at))

    def token_by_secret(self, token: str) -> TokenRecord | None:
        """The token this secret is (expired ones too: the caller says why it is refused)."""
        with self.reading() as s:
            row = s.scalar(select(ApiToken).where(ApiToken.digest == digest(token)))
            record = token_record(row) if row is not None else None
        now = utcnow()
        if record is not None and (record.last_used_at is None or now - record.last_used_at > LAST_USED_EVERY):
            with self.session() as s:  # a write at most once a minute per token
                s.execute(update(ApiToken).where(ApiToken.digest == digest(token)).values(last_used_at=now))
        return record

    def tokens(self) -> list[TokenRecord]:
        with self.session() as s:
            return [token_record(row) for row in s.scalars(select(ApiToken).order_by(ApiToken.name))]

    def revoke_token(self, name: str) -> bool:
        with self.session() as s:
            return changed(s, delete(ApiToken).where(ApiToken.name == name)) == 1
