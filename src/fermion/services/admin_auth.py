"""Admin API tokens: bearer tokens scoped to one organization, stored hashed, listable by id and
deletable (a deleted token stops working on every process within config_cache_ttl_s)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fermion.model.tenancy import Workspace
from fermion.ports import ConfigStore
from fermion.services.credential_directory import ADMIN_TOKEN_PREFIX, CredentialDirectory
from fermion.services.credentials import hash_secret

_ID_CHARS = 16  # of the token's hash: enough to name it, useless to authenticate


@dataclass(frozen=True)
class AdminToken:
    token_id: str
    org_id: int


class AdminAuth:
    def __init__(self, config: ConfigStore, directory: CredentialDirectory) -> None:
        self._config = config
        self._directory = directory

    def issue_token(self, org_id: int) -> str:
        token = "fat_" + secrets.token_urlsafe(32)
        token_hash = hash_secret(token)
        self._config.set_meta(ADMIN_TOKEN_PREFIX + token_hash, str(org_id))
        self._directory.forget_admin_token(token_hash)
        return token

    @staticmethod
    def token_id(token: str) -> str:
        """The name a token is listed and revoked by."""
        return "tok_" + hash_secret(token)[:_ID_CHARS]

    def list_tokens(self, org_id: int | None = None) -> list[AdminToken]:
        found = [
            AdminToken(token_id="tok_" + key[len(ADMIN_TOKEN_PREFIX) :][:_ID_CHARS], org_id=int(value))
            for key, value in self._config.list_meta(ADMIN_TOKEN_PREFIX)
        ]
        return [t for t in found if org_id is None or t.org_id == org_id]

    def revoke_token(self, token_id: str, org_id: int | None = None) -> bool:
        """Delete the token named by its id (`tok_...`, as listed) or by the token itself. False when
        there is no such token (in that organization)."""
        if token_id.startswith("fat_"):
            token_id = self.token_id(token_id)
        prefix = token_id.removeprefix("tok_")
        if len(prefix) != _ID_CHARS:
            return False
        deleted = False
        for key, value in self._config.list_meta(ADMIN_TOKEN_PREFIX + prefix):
            if org_id is None or int(value) == org_id:
                self._config.delete_meta(key)
                self._directory.forget_admin_token(key[len(ADMIN_TOKEN_PREFIX) :])
                deleted = True
        return deleted

    def org_of(self, token: str) -> int | None:
        return self._directory.admin_token_org(token)

    def workspace_for(self, token: str, workspace_id: int) -> Workspace | None:
        """The workspace if the token's organization owns it; None otherwise (callers answer 404)."""
        org = self.org_of(token)
        if org is None:
            return None
        ws = self._config.get_workspace(workspace_id)
        return ws if ws is not None and ws.org_id == org else None
