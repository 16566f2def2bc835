"""Tenancy administration: organizations, accounts, workspaces and their inputs (created, deactivated,
reactivated, given a new secret, deleted)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fermion.model.tenancy import Input, InputKind, Platform, Workspace
from fermion.ports import ConfigStore, NewInput, SecretCipher
from fermion.services.credential_directory import CredentialDirectory
from fermion.services.credentials import issue
from fermion.services.identity_auth import forget_signing_secret, remember_signing_secret


def input_json(inp: Input, secret: str | None = None) -> dict[str, Any]:
    """An input as the admin API and `fermion inputs --json` show it; the secret only when just issued."""
    out: dict[str, Any] = {
        "id": inp.id,
        "workspace_id": inp.workspace_id,
        "kind": inp.kind.value,
        "platform": inp.platform,
        "name": inp.name,
        "key": inp.key,
        "active": inp.active,
        "created_ms": inp.created_ms,
    }
    if secret is not None:
        out["secret"] = secret
    return out


class InputInUse(ValueError):
    """The input cannot be deleted while these connections use it."""

    def __init__(self, connection_ids: list[int]) -> None:
        super().__init__(f"connections {connection_ids} use this input")
        self.connection_ids = connection_ids


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
    def __init__(
        self, config: ConfigStore, cipher: SecretCipher, directory: CredentialDirectory | None = None
    ) -> None:
        # `directory`: the API process's credentials, forgotten here as soon as this process changes
        # one (other processes see the change within config_cache_ttl_s). None in CLI commands.
        self._config = config
        self._cipher = cipher
        self._directory = directory

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

    def get_input(self, workspace_id: int, input_id: int) -> Input | None:
        """The workspace's input, None when it has no such input."""
        inp = self._config.get_input(input_id)
        return inp if inp is not None and inp.workspace_id == workspace_id else None

    def set_active(self, inp: Input, active: bool) -> Input:
        """Deactivate (its key and secret stop working everywhere) or reactivate an input."""
        changed = self._config.set_input_active(inp.id, active) or inp
        self._forget(inp)
        return changed

    def rotate_secret(self, inp: Input) -> CreatedInput:
        """A new secret for the input (shown once); the old one stops working."""
        creds = issue()
        changed = self._config.set_input_secret_hash(inp.id, creds.secret_hash) or inp
        remember_signing_secret(self._config, self._cipher, inp.id, creds.secret)
        self._forget(inp)
        return CreatedInput(input=changed, secret=creds.secret)

    def delete_input(self, inp: Input) -> None:
        """Delete the input and its signing secret; InputInUse while connections use it."""
        try:
            blocking = self._config.delete_input(inp.id)
        except LookupError:
            return  # already gone
        if blocking:
            raise InputInUse(blocking)
        forget_signing_secret(self._config, inp.id)
        self._forget(inp)

    def _forget(self, inp: Input) -> None:
        if self._directory is not None:
            self._directory.forget_input(inp)

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
