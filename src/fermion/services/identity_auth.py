"""IDSync authentication (spec 1.2): Basic key:secret, HMAC-signed requests (`x-mp-key`, `Date`,
`x-mp-signature`) as the mobile SDKs send them, and key-only `x-mp-key` for browsers.

Key-only requests are accepted for platform inputs (whose keys ship inside apps and pages anyway);
feed inputs must authenticate with their secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from fermion.model.tenancy import Input, InputKind
from fermion.ports import ConfigStore, SecretCipher
from fermion.services.credential_directory import SIGNING_SECRET_PREFIX, CredentialDirectory

MAX_CLOCK_SKEW_S = 15 * 60


def remember_signing_secret(config: ConfigStore, cipher: SecretCipher, input_id: int, secret: str) -> None:
    """Keep an input's secret, encrypted, so signed requests can be verified (an HMAC needs the secret
    itself, not the hash that Basic authentication compares against)."""
    config.set_meta(f"{SIGNING_SECRET_PREFIX}{input_id}", cipher.encrypt(secret))


def forget_signing_secret(config: ConfigStore, input_id: int) -> None:
    config.delete_meta(f"{SIGNING_SECRET_PREFIX}{input_id}")


class IdentityAuthError(Exception):
    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def parse_date(raw: str) -> float | None:
    """Epoch seconds of an RFC 1123 (Android) or ISO 8601 basic/extended (docs) date, else None."""
    raw = raw.strip()
    for parse in (
        lambda s: datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
        parsedate_to_datetime,
        datetime.fromisoformat,
    ):
        try:
            parsed = parse(raw)
        except (ValueError, TypeError, IndexError):
            continue
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def signature(secret: str, method: str, date: str, path: str, body: bytes) -> str:
    message = f"{method}\n{date}\n{path}".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_paths(path: str, query: str) -> list[str]:
    """Paths a client may have signed: as requested, and without the `/identity` prefix of a custom
    base URL (Android signs its default URL's path plus query)."""
    paths = [path]
    if path.startswith("/identity/"):
        paths.append(path[len("/identity") :])
    if query:
        paths += [f"{p}?{query}" for p in list(paths)]
    return paths


class IdentityAuth:
    """Checks IDSync and Alias requests against the credential directory (nothing cached here)."""

    def __init__(self, directory: CredentialDirectory, clock: Callable[[], float] = time.time) -> None:
        self._directory = directory
        self._clock = clock

    async def authenticate(
        self,
        headers: Mapping[str, str],
        method: str,
        path: str,
        query: str,
        bodies: tuple[bytes, ...],
        path_key: str | None = None,
    ) -> Input:
        """The calling input, or IdentityAuthError (401 missing or wrong credentials, 403 not allowed).

        `bodies`: the body as received and decompressed (a signature may cover either)."""
        authorization = headers.get("authorization", "")
        if authorization[:6].lower() == "basic ":
            return await self._basic(authorization[6:])
        key = headers.get("x-mp-key") or path_key
        if not key:
            raise IdentityAuthError(401, "The x-mp-key header is required.", "x-mp-key")
        inp = await self._directory.input_for_key(key)
        if inp is None:
            raise IdentityAuthError(401, "The API key is not valid.", "x-mp-key")
        if not inp.active:
            raise IdentityAuthError(403, "The input is disabled.", "x-mp-key")
        signed = headers.get("x-mp-signature")
        if signed is not None:
            await self._verify(inp, signed, headers.get("date"), method, path, query, bodies)
        elif inp.kind is not InputKind.PLATFORM:
            raise IdentityAuthError(403, "Key-only authentication is for platform inputs.", "x-mp-key")
        return inp

    async def _basic(self, token: str) -> Input:
        try:
            key, sep, secret = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key, sep, secret = "", "", ""
        if not sep or not key:
            raise IdentityAuthError(401, "Basic credentials must be base64(key:secret).", "Authorization")
        inp = await self._directory.authenticate(key, secret)
        if inp is None:
            raise IdentityAuthError(401, "The API key or secret is not valid.", "Authorization")
        return inp

    async def _verify(
        self,
        inp: Input,
        signed: str,
        date: str | None,
        method: str,
        path: str,
        query: str,
        bodies: tuple[bytes, ...],
    ) -> None:
        if not date:
            raise IdentityAuthError(401, "A signed request needs a Date header.", "Date")
        when = parse_date(date)
        if when is None:
            raise IdentityAuthError(401, "The Date header is not a valid date.", "Date")
        if abs(self._clock() - when) > MAX_CLOCK_SKEW_S:
            raise IdentityAuthError(401, "The Date header is more than 15 minutes off.", "Date")
        secret = await self._directory.signing_secret(inp.id)
        if secret is None:
            raise IdentityAuthError(
                403, "This input has no signing secret on record; create a new input.", "x-mp-signature"
            )
        given = signed.strip().lower()
        for candidate_path in signed_paths(path, query):
            for body in bodies:
                if hmac.compare_digest(signature(secret, method, date, candidate_path, body), given):
                    return
        raise IdentityAuthError(401, "The request signature does not match.", "x-mp-signature")
