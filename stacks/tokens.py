"""API tokens, pure: making one, its digest, its name rules and who it acts as.

A token is `ydk_` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored:
with that much randomness a fast hash is as safe as a slow one, and a lookup by digest needs no
comparison loop (the digest is what the database compares). The first characters are kept as a
hint, so a list can tell tokens apart without showing one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidName
from .names import echo

PREFIX = "ydk_"
HINT_LENGTH = 8
_NAME = re.compile(r"[a-z][a-z0-9-]{0,14}")
_TOKEN = re.compile(r"ydk_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class TokenRecord:
    name: str
    owner: str  # a Slack user ID (personal), or `token:<name>`
    admin: bool
    hint: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @property
    def personal(self) -> bool:
        return self.name.startswith("@")


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(text: str) -> bool:
    return bool(_TOKEN.fullmatch(text))


def check_token_name(name: str) -> str:
    """A named token's name: lowercase letters, digits and dashes, 1-15, starting with a letter."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidName(f"token name `{echo(str(name))}` is not allowed: lowercase letters, digits and dashes, "
                          "1-15 characters, starting with a letter")
    return name


def personal_name(user: str) -> str:
    """The name of a Slack user's personal token (`@` never starts a named token's name)."""
    return "@" + user.lower()[:19]


def named_owner(name: str) -> str:
    return f"token:{name}"
