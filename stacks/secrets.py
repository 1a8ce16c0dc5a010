"""Env values are secrets: Fernet-encrypted at rest, masked whenever shown."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from .errors import ConfigError

MASK = "••••••"


def load_key(secret_key: str | None, data_dir: Path) -> bytes:
    """The install's Fernet key (url-safe base64 text): the configured one, else one generated
    once into DATA_DIR/secret.key (mode 0600)."""
    if secret_key:
        key = secret_key.strip().encode()
    else:
        path = data_dir / "secret.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        key = path.read_bytes().strip()
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise ConfigError(
            "YADOCKERI_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes); "
            "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from None
    return key


def load_fernet(secret_key: str | None, data_dir: Path) -> Fernet:
    return Fernet(load_key(secret_key, data_dir))


def derived_token(secret_key: str | None, data_dir: Path, purpose: str) -> str:
    """A stable secret for one purpose, derived from the install's Fernet key (so every process
    of the install computes the same one, and it changes only when the key does)."""
    key = base64.urlsafe_b64decode(load_key(secret_key, data_dir))
    return hmac.new(key, f"yadockeri:{purpose}".encode(), hashlib.sha256).hexdigest()


def encrypt(fernet: Fernet, value: str) -> bytes:
    return fernet.encrypt(value.encode())


def decrypt(fernet: Fernet, token: bytes) -> str:
    try:
        return fernet.decrypt(token).decode()
    except InvalidToken:
        raise ConfigError("an env value cannot be decrypted: YADOCKERI_SECRET_KEY changed since it was stored") from None


def mask(value: str) -> str:
    """What is shown of a value anywhere (Slack, the command line, logs): nothing, neither its
    characters nor its length. Only emptiness is said, which is no secret and often the mistake."""
    return MASK if value else "(empty)"


def redact(text: str, secrets: list[str]) -> str:
    """Replace every secret value found in text (longest first) with a mask."""
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
