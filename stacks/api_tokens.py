"""API tokens: made, listed, revoked and resolved to who they act as (stacks/tokens.py says
what a token is). Every change is an event naming the token.

A token resolved is remembered for CACHE_SECONDS (by its digest), so that an API under load does
not ask the database on every request. A revocation or replacement in this process forgets it at
once; one made by another process (`yadockeri token revoke` on the command line) takes effect
within CACHE_SECONDS. Expiry is checked on every request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from . import tokens
from .config import Settings
from .errors import NotFound, PermissionDenied, YadockeriError
from .models import utcnow
from .runner import Actor
from .store import Store

CACHE_SECONDS = 5.0


class ApiTokens:
    def __init__(self, store: Store, settings: Callable[[], Settings]) -> None:
        self.store = store
        self._settings = settings
        self._known: dict[str, tuple[float, tokens.TokenRecord]] = {}  # digest -> (when read, record)
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Read every token from the database again (a change made outside this object)."""
        with self._lock:
            self._known.clear()

    def create_personal(self, user: str, actor: Actor) -> str:
        """A Slack user's token for the API, acting as them (a new one replaces their old one).
        The token is returned once and never stored in clear."""
        token = tokens.new_token()
        self.store.add_token(name=tokens.personal_name(user), owner=user, admin=False, token=token,
                             created_by=actor.id, expires_at=None, replace=True)
        self.forget()  # the one it replaced
        self.store.add_event(actor=actor.id, source=actor.source, action="token", stack=None, result="ok",
                             detail=f"personal token {tokens.personal_name(user)} created")
        return token

    def create_named(self, name: str, actor: Actor, *, admin: bool = False,
                           expires_in: int | None = None) -> str:
        """An admin's named token (for CI): its own identity, `token:<name>`."""
        if not actor.admin:
            raise PermissionDenied("only an admin may create named tokens")
        tokens.check_token_name(name)
        token = tokens.new_token()
        expires_at = utcnow() + timedelta(seconds=expires_in) if expires_in else None
        if not self.store.add_token(name=name, owner=tokens.named_owner(name), admin=admin, token=token,
                                    created_by=actor.id, expires_at=expires_at):
            raise YadockeriError(f"a token named `{name}` exists; revoke it first")
        self.store.add_event(actor=actor.id, source=actor.source, action="token", stack=None, result="ok",
                             detail=f"token {name} created" + (" (admin)" if admin else ""))
        return token

    def revoke(self, name: str, actor: Actor) -> None:
        personal = name.startswith("@")
        if not actor.admin and not (personal and name == tokens.personal_name(actor.id)):
            raise PermissionDenied("only an admin may revoke another's token")
        self.forget()
        if not self.store.revoke_token(name):
            raise NotFound(f"no token named `{name}`" if not personal else "you have no token")
        self.store.add_event(actor=actor.id, source=actor.source, action="token", stack=None, result="ok",
                             detail=f"token {name} revoked")

    def all(self) -> list[tokens.TokenRecord]:
        return self.store.tokens()

    def actor_of(self, token: str) -> tuple[Actor, tokens.TokenRecord]:
        """Who a token acts as; PermissionDenied (said as 401) for an unknown, revoked or expired one."""
        record = self._record(token) if tokens.looks_like_token(token) else None
        if record is None:
            raise PermissionDenied("this token is not known (revoked, or never made)")
        if record.expires_at is not None and record.expires_at <= utcnow():
            raise PermissionDenied(f"this token expired on {record.expires_at:%Y-%m-%d %H:%M} UTC")
        admin = record.admin or (record.personal and record.owner in self._settings().admin_ids)
        return Actor(id=record.owner, source=f"api:{record.name}"[:20], admin=admin), record


    def cached(self, token: str) -> bool:
        """Whether actor_of would answer without the database (the API then needs no thread)."""
        with self._lock:
            known = self._known.get(tokens.digest(token))
        return known is not None and time.monotonic() - known[0] < CACHE_SECONDS

    def _record(self, token: str) -> tokens.TokenRecord | None:
        key = tokens.digest(token)
        with self._lock:
            known = self._known.get(key)
        if known is not None and time.monotonic() - known[0] < CACHE_SECONDS:
            return known[1]
        record = self.store.token_by_secret(token)
        if record is not None:
            with self._lock:
                self._known[key] = (time.monotonic(), record)
        return record
