"""Bearer tokens of the HTTP APIs: admin tokens (a whole organization) or OAuth access tokens (an
organization, optionally only some of its workspaces)."""

from __future__ import annotations

from dataclasses import dataclass

from fermion.model.tenancy import Workspace
from fermion.ports import ConfigStore
from fermion.services.admin_auth import AdminAuth
from fermion.services.oauth import OAuthService, TokenScope, looks_like_jwt


@dataclass(frozen=True)
class BearerAuth:
    admin: AdminAuth
    oauth: OAuthService
    config: ConfigStore

    def scope_of(self, token: str) -> TokenScope | None:
        """What the token may reach, or None when it is not a valid token (callers answer 401)."""
        if looks_like_jwt(token):
            return self.oauth.verify(token)
        org = self.admin.org_of(token)
        return None if org is None else TokenScope(client_id="admin", org_id=org, workspace_ids=None)

    def org_of(self, token: str) -> int | None:
        scope = self.scope_of(token)
        return None if scope is None else scope.org_id

    def workspace_for(self, token: str, workspace_id: int) -> Workspace | None:
        """The workspace if the token may reach it; None otherwise (callers answer 404)."""
        scope = self.scope_of(token)
        if scope is None:
            return None
        ws = self.config.get_workspace(workspace_id)
        return ws if ws is not None and scope.allows(ws) else None
