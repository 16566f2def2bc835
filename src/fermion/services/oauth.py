"""OAuth 2 client credentials for the Profile, Platform and admin APIs: clients scoped to one
organization (optionally to some of its workspaces), secrets stored hashed, expiring HS256 JWTs."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import msgspec

from fermion.model.tenancy import Workspace
from fermion.ports import ConfigStore
from fermion.services.credential_directory import OAUTH_CLIENT_PREFIX, CredentialDirectory, OAuthClient
from fermion.services.credentials import hash_secret, secret_matches
from fermion.services.tenancy import InvalidRequest

__all__ = [
    "CreatedClient",
    "IssuedToken",
    "OAuthClient",
    "OAuthService",
    "TokenScope",
    "client_json",
    "looks_like_jwt",
]

# As mParticle's: 8 hours. Revoking the client ends its tokens too (within config_cache_ttl_s).
TOKEN_TTL_S = 8 * 3600
SIGNING_KEY = "oauth_signing_key"
_ISSUER = "fermion"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class CreatedClient:
    client: OAuthClient
    secret: str  # shown once, never stored


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


@dataclass(frozen=True)
class TokenScope:
    """What a valid access token may reach."""

    client_id: str
    org_id: int
    workspace_ids: frozenset[int] | None

    def allows(self, ws: Workspace) -> bool:
        return ws.org_id == self.org_id and (self.workspace_ids is None or ws.id in self.workspace_ids)


def client_json(client: OAuthClient) -> dict[str, Any]:
    """An OAuth client as the credentials API and `fermion credentials --json` show it (never its secret
    hash; a new client's secret is added by the caller, once)."""
    return {
        "client_id": client.client_id,
        "org_id": client.org_id,
        "workspace_ids": client.workspace_ids,
        "created_ms": client.created_ms,
    }


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class OAuthService:
    def __init__(
        self,
        config: ConfigStore,
        directory: CredentialDirectory,
        clock: Callable[[], float] = time.time,
        ttl_s: int = TOKEN_TTL_S,
    ) -> None:
        self._config = config
        self._directory = directory
        self._clock = clock
        self._ttl_s = ttl_s
        self._key: bytes | None = None

    # -- signing key ---------------------------------------------------------------------------

    def ensure_signing_key(self) -> None:
        """Create the signing key if there is none (done by `fermion init`)."""
        if self._config.get_meta(SIGNING_KEY) is None:
            self._config.set_meta(SIGNING_KEY, secrets.token_urlsafe(48))

    def _signing_key(self, reload: bool = False) -> bytes:
        if self._key is None or reload:
            self.ensure_signing_key()
            # Re-read: with several API processes starting at once, the last writer's key is the one.
            value = self._config.get_meta(SIGNING_KEY)
            assert value is not None
            self._key = value.encode()
        return self._key

    # -- clients -------------------------------------------------------------------------------

    def create_client(self, org_id: int, workspace_ids: Sequence[int] | None = None) -> CreatedClient:
        for ws_id in workspace_ids or ():
            ws = self._config.get_workspace(ws_id)
            if ws is None or ws.org_id != org_id:
                raise InvalidRequest("workspace", f"no workspace {ws_id} in organization {org_id}")
        secret = secrets.token_urlsafe(32)
        client = OAuthClient(
            client_id="fc_" + secrets.token_hex(16),
            secret_hash=hash_secret(secret),
            org_id=org_id,
            workspace_ids=sorted(set(workspace_ids)) if workspace_ids else None,
            created_ms=int(self._clock() * 1000),
        )
        self._config.set_meta(OAUTH_CLIENT_PREFIX + client.client_id, msgspec.json.encode(client).decode())
        self._directory.forget_oauth_client(client.client_id)
        return CreatedClient(client=client, secret=secret)

    def get_client(self, client_id: str) -> OAuthClient | None:
        return self._directory.oauth_client(client_id) if client_id.startswith("fc_") else None

    def list_clients(self, org_id: int | None = None) -> list[OAuthClient]:
        """The clients (of one organization, or all), oldest first."""
        clients = [
            msgspec.json.decode(value, type=OAuthClient)
            for _, value in self._config.list_meta(OAUTH_CLIENT_PREFIX)
        ]
        return sorted(
            (c for c in clients if org_id is None or c.org_id == org_id), key=lambda c: c.created_ms
        )

    def revoke_client(self, client_id: str, org_id: int | None = None) -> bool:
        """Delete the client: no new tokens, and its tokens stop working (every process within
        config_cache_ttl_s). False when there is no such client (in that organization)."""
        client = self._directory.oauth_client(client_id) if client_id.startswith("fc_") else None
        if client is None or (org_id is not None and client.org_id != org_id):
            return False
        self._config.delete_meta(OAUTH_CLIENT_PREFIX + client_id)
        self._directory.forget_oauth_client(client_id)
        return True

    # -- tokens --------------------------------------------------------------------------------

    def issue_token(
        self, client_id: str, client_secret: str, audience: str | None = None
    ) -> IssuedToken | None:
        """A bearer token for valid client credentials; None when they are wrong."""
        client = self.get_client(client_id)
        if client is None or not secret_matches(client_secret, client.secret_hash):
            return None
        now = int(self._clock())
        claims: dict[str, object] = {
            "iss": _ISSUER,
            "sub": client.client_id,
            "org": client.org_id,
            "ws": client.workspace_ids,
            "iat": now,
            "exp": now + self._ttl_s,
            "jti": secrets.token_hex(8),
        }
        if audience:
            claims["aud"] = audience
        token = jwt.encode(claims, self._signing_key(), algorithm=_ALGORITHM)
        return IssuedToken(access_token=token, expires_in=self._ttl_s)

    def verify(self, token: str) -> TokenScope | None:
        """The token's scope, or None when it is malformed, forged, expired or its client revoked."""
        try:
            claims = self._decode(token, self._signing_key())
        except jwt.InvalidSignatureError:
            try:  # another process may have created the key this one cached before it
                claims = self._decode(token, self._signing_key(reload=True))
            except jwt.PyJWTError:
                return None
        except jwt.PyJWTError:
            return None
        org, ws = claims.get("org"), claims.get("ws")
        if not isinstance(org, int) or not (ws is None or isinstance(ws, list)):
            return None
        client = self.get_client(str(claims["sub"]))
        if client is None or client.org_id != org:
            return None
        return TokenScope(
            client_id=client.client_id,
            org_id=org,
            workspace_ids=None if ws is None else frozenset(int(w) for w in ws),
        )

    def _decode(self, token: str, key: bytes) -> dict[str, object]:
        claims: dict[str, object] = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            # Times are checked below against this service's clock (which tests can move).
            options={
                "require": ["exp", "iat", "sub", "iss"],
                "verify_aud": False,
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= int(self._clock()):
            raise jwt.ExpiredSignatureError("token expired")
        return claims
