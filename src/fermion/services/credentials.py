"""Issuing and checking input keys and secrets (secrets are shown once and stored hashed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class IssuedCredentials:
    key: str
    secret: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random tokens, so a fast hash is enough; no password stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(prefix: str = "") -> IssuedCredentials:
    key = prefix + secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    return IssuedCredentials(key=key, secret=secret, secret_hash=hash_secret(secret))


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
