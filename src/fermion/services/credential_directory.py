"""The one directory of credentials every API route reads: input keys and secrets, IDSync signing
secrets, admin tokens, OAuth clients, and the workspaces an input opens (its rate limit).

One expiry rule: every entry, found or not found, lives at most `ttl_s` (the `config_cache_ttl_s`
setting). So a deactivated input, a rotated secret, a revoked OAuth client or a deleted admin token
stops working on every API process within `ttl_s`, whichever process (or CLI command) made the change.
Nothing else in the API keeps credentials; the process that makes a change also `forget`s its entries,
so it takes effect there at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from fermion.model.tenancy import Input, Workspace
from fermion.ports import ConfigStore, SecretCipher
from fermion.services.credentials import hash_secret, secret_matches

# Where each kind of credential is kept in the config store's meta table.
ADMIN_TOKEN_PREFIX = "admin_token:"
OAUTH_CLIENT_PREFIX = "oauth_client:"
SIGNING_SECRET_PREFIX = "input_signing_secret:"

_MAX_ENTRIES = 100_000

K = TypeVar("K")
V = TypeVar("V")


class OAuthClient(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    secret_hash: str
    org_id: int
    workspace_ids: list[int] | None  # None: every workspace of the organization
    created_ms: int


class _Expiring(Generic[K, V]):
    """Values by key, each kept at most `ttl_s` after it was read (misses too, so unknown keys sent
    again and again do not each cost a database read)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def fresh(self, key: K) -> tuple[bool, V | None]:
        found = self._entries.get(key)
        if found is not None and self._clock() - found[0] < self._ttl_s:
            return True, found[1]
        return False, None

    def put(self, key: K, value: V) -> V:
        if self._ttl_s > 0:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (self._clock(), value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def get(self, key: K, load: Callable[[K], V]) -> V:
        found = self._entries.get(key)
        if found is not None and self._clock() - found[0] < self._ttl_s:
            return found[1]
        return self.put(key, load(key))

    async def aget(self, key: K, load: Callable[[K], V]) -> V:
        """As `get`; a fresh entry is answered without leaving the event loop."""
        found = self._entries.get(key)
        if found is not None and self._clock() - found[0] < self._ttl_s:
            return found[1]
        return self.put(key, await asyncio.to_thread(load, key))


class CredentialDirectory:
    def __init__(
        self,
        config: ConfigStore,
        cipher: SecretCipher,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._cipher = cipher
        self._inputs: _Expiring[str, Input | None] = _Expiring(ttl_s, clock)
        self._signing: _Expiring[int, str | None] = _Expiring(ttl_s, clock)
        self._workspaces: _Expiring[int, Workspace | None] = _Expiring(ttl_s, clock)
        self._admin_tokens: _Expiring[str, int | None] = _Expiring(ttl_s, clock)
        self._clients: _Expiring[str, OAuthClient | None] = _Expiring(ttl_s, clock)

    # -- inputs --------------------------------------------------------------------------------

    async def input_for_key(self, key: str) -> Input | None:
        """The input with this key, active or not (callers tell 401 from 403)."""
        return await self._inputs.aget(key, self._config.get_input_by_key)

    async def authenticate(self, key: str, secret: str) -> Input | None:
        """The active input whose key and secret these are, else None."""
        inp = await self.input_for_key(key)
        if inp is None or not inp.active or not secret_matches(secret, inp.secret_hash):
            return None
        return inp

    async def signing_secret(self, input_id: int) -> str | None:
        """The input's secret itself (for HMAC-signed IDSync requests), None when there is none on
        record or it was encrypted under another key."""
        return await self._signing.aget(input_id, self._load_signing_secret)

    def _load_signing_secret(self, input_id: int) -> str | None:
        stored = self._config.get_meta(f"{SIGNING_SECRET_PREFIX}{input_id}")
        try:
            return self._cipher.decrypt(stored) if stored is not None else None
        except ValueError:
            return None

    def forget_input(self, inp: Input) -> None:
        """Drop what this process knows of an input it just changed."""
        self._inputs.forget(inp.key)
        self._signing.forget(inp.id)

    # -- workspaces (the rate limit an input's requests count against) -------------------------

    def cached_workspace(self, workspace_id: int) -> tuple[bool, Workspace | None]:
        """(True, workspace) while the entry is fresh; (False, None) when it must be read."""
        return self._workspaces.fresh(workspace_id)

    async def workspace(self, workspace_id: int) -> Workspace | None:
        return await self._workspaces.aget(workspace_id, self._config.get_workspace)

    def workspace_now(self, workspace_id: int) -> Workspace | None:
        """As `workspace`, from a worker thread."""
        return self._workspaces.get(workspace_id, self._config.get_workspace)

    # -- bearer tokens -------------------------------------------------------------------------

    def admin_token_org(self, token: str) -> int | None:
        """The organization of an admin token, None when there is no such token (or it was deleted)."""
        return self._admin_tokens.get(hash_secret(token), self._load_admin_token)

    def _load_admin_token(self, token_hash: str) -> int | None:
        value = self._config.get_meta(ADMIN_TOKEN_PREFIX + token_hash)
        return int(value) if value is not None else None

    def forget_admin_token(self, token_hash: str) -> None:
        self._admin_tokens.forget(token_hash)

    def oauth_client(self, client_id: str) -> OAuthClient | None:
        """The OAuth client, None when there is none (or it was revoked)."""
        return self._clients.get(client_id, self._load_client)

    def _load_client(self, client_id: str) -> OAuthClient | None:
        raw = self._config.get_meta(OAUTH_CLIENT_PREFIX + client_id)
        return None if raw is None else msgspec.json.decode(raw, type=OAuthClient)

    def forget_oauth_client(self, client_id: str) -> None:
        self._clients.forget(client_id)
