"""Tenancy administration: organizations, accounts, workspaces and their inputs."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fermion.model.tenancy import Input, InputKind, Platform, Workspace
from fermion.ports import ConfigStore, NewInput, SecretCipher
from fermion.services.credentials import issue
from fermion.services.identity_auth import remember_signing_secret


class InvalidRequest(ValueError):
    """A request the caller can fix; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CreatedInput:
    input: Input
    secret: str  # shown once, never stored


class TenancyService:
    def __init__(self, config: ConfigStore, cipher: SecretCipher) -> None:
        self._config = config
        self._cipher = cipher

    def create_workspace_tree(self, org: str, account: str, workspace: str) -> Workspace:
        o = self._config.create_organization(org)
        a = self._config.create_account(o.id, account)
        return self._config.create_workspace(a.id, workspace)

    def create_input(self, workspace_id: int, kind: str, platform: str, name: str = "") -> CreatedInput:
        if self._config.get_workspace(workspace_id) is None:
            raise InvalidRequest("workspace_id", f"no workspace {workspace_id}")
        try:
            input_kind = InputKind(kind)
        except ValueError:
            raise InvalidRequest("kind", f"must be one of {[k.value for k in InputKind]}") from None
        if input_kind is InputKind.PLATFORM:
            try:
                platform = Platform(platform.lower()).value
            except ValueError:
                raise InvalidRequest("platform", f"must be one of {[p.value for p in Platform]}") from None
        elif not platform:
            raise InvalidRequest("platform", "a feed input needs the partner name")
        creds = issue()
        created = self._config.create_input(
            NewInput(
                workspace_id=workspace_id,
                kind=input_kind,
                platform=platform,
                name=name or f"{platform} input",
                key=creds.key,
                secret_hash=creds.secret_hash,
            )
        )
        remember_signing_secret(
            self._config, self._cipher, created.id, creds.secret
        )  # for signed IDSync requests
        return CreatedInput(input=created, secret=creds.secret)

    def list_inputs(self, workspace_id: int | None = None) -> list[Input]:
        return self._config.list_inputs(workspace_id)

    def list_workspaces(self) -> list[Workspace]:
        return self._config.list_workspaces()

    def set_rate_limit(self, workspace_id: int, per_s: int) -> None:
        if per_s < 0:
            raise InvalidRequest("rate_limit_per_s", "must be 0 (off) or a positive number")
        self._config.set_workspace_rate_limit(workspace_id, per_s)


def now_ms() -> int:
    return int(time.time() * 1000)
