"""Admin API tokens: bearer tokens scoped to one organization, stored hashed.

(OAuth client credentials for the Platform and Profile APIs build on this in a later issue.)
"""

from __future__ import annotations

import secrets

from fermion.model.tenancy import Workspace
from fermion.ports import ConfigStore
from fermion.services.credentials import hash_secret

_PREFIX = "admin_token:"


class AdminAuth:
    def __init__(self, config: ConfigStore) -> None:
        self._config = config

    def issue_token(self, org_id: int) -> str:
        token = "fat_" + secrets.token_urlsafe(32)
        self._config.set_meta(_PREFIX + hash_secret(token), str(org_id))
        return token

    def org_of(self, token: str) -> int | None:
        value = self._config.get_meta(_PREFIX + hash_secret(token))
        return int(value) if value is not None else None

    def workspace_for(self, token: str, workspace_id: int) -> Workspace | None:
        """The workspace if the token's organization owns it; None otherwise (callers answer 404)."""
        org = self.org_of(token)
        if org is None:
            return None
        ws = self._config.get_workspace(workspace_id)
        return ws if ws is not None and ws.org_id == org else None
