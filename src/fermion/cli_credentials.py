"""`fermion credentials` (OAuth clients) and `fermion tokens` (admin API tokens): create, list and
revoke. A revoked client or token stops working on every server process within config_cache_ttl_s;
secrets are printed only when created."""

from __future__ import annotations

from typing import Annotated

import typer

from fermion import bootstrap
from fermion.cli_inputs import DataDir, Json, emit, fail, open_stores
from fermion.services.admin_auth import AdminAuth
from fermion.services.credential_directory import CredentialDirectory
from fermion.services.oauth import OAuthService, client_json
from fermion.services.tenancy import InvalidRequest

credentials_app = typer.Typer(no_args_is_help=True, help="OAuth client credentials (Profile and admin APIs).")
tokens_app = typer.Typer(no_args_is_help=True, help="Admin API tokens.")

Org = Annotated[int | None, typer.Option("--org", help="Organization (default: the only one).")]


def _directory(stores: bootstrap.Stores) -> CredentialDirectory:
    # A CLI command keeps nothing: every read goes to the database.
    return CredentialDirectory(stores.config, stores.delivery.cipher, ttl_s=0)


def _org(stores: bootstrap.Stores, org: int | None, workspace: list[int] | None = None) -> int:
    workspaces = stores.config.list_workspaces()
    if org is None and workspace:
        found = next((w for w in workspaces if w.id == workspace[0]), None)
        if found is None:
            fail(f"--workspace: no workspace {workspace[0]}")
            raise AssertionError  # unreachable: fail() exits
        return found.org_id
    if org is None:
        orgs = sorted({w.org_id for w in workspaces})
        if len(orgs) != 1:
            fail("--org is required when there is not exactly one organization")
        return orgs[0]
    return org


@credentials_app.command("create")
def credentials_create(
    workspace: Annotated[
        list[int] | None, typer.Option("--workspace", help="Limit to this workspace (repeatable).")
    ] = None,
    org: Org = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create an OAuth client for POST /oauth/token; the secret is shown only now."""
    stores = open_stores(data_dir)
    org_id = _org(stores, org, workspace)
    try:
        created = OAuthService(stores.config, _directory(stores)).create_client(org_id, workspace or None)
    except InvalidRequest as exc:
        fail(f"--{exc.field}: {exc.message}")
        return
    value = {**client_json(created.client), "client_secret": created.secret}
    emit(as_json, value, f"client_id {created.client.client_id}  client_secret {created.secret}")


@credentials_app.command("list")
def credentials_list(org: Org = None, data_dir: DataDir = None, as_json: Json = False) -> None:
    """List OAuth clients (ids only; secrets are never shown again)."""
    stores = open_stores(data_dir)
    rows = [client_json(c) for c in OAuthService(stores.config, _directory(stores)).list_clients(org)]
    human = "\n".join(
        f"{r['client_id']}\torg {r['org_id']}\tworkspaces {r['workspace_ids'] or 'all'}" for r in rows
    )
    emit(as_json, {"clients": rows}, human or "no OAuth clients")


@credentials_app.command("revoke")
def credentials_revoke(
    client_id: Annotated[str, typer.Argument(help="The client id (fc_...).")],
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Revoke an OAuth client: no new tokens, and its tokens stop working within seconds."""
    stores = open_stores(data_dir)
    if not OAuthService(stores.config, _directory(stores)).revoke_client(client_id):
        fail(f"no OAuth client {client_id}", 1)
    emit(as_json, {"client_id": client_id, "revoked": True}, f"OAuth client {client_id} revoked")


@tokens_app.command("create")
def tokens_create(org: Org = None, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Create an admin API token for an organization; the token is shown only now."""
    stores = open_stores(data_dir)
    org_id = _org(stores, org)
    auth = AdminAuth(stores.config, _directory(stores))
    token = auth.issue_token(org_id)
    value = {"token_id": auth.token_id(token), "org_id": org_id, "token": token}
    emit(as_json, value, f"admin token {value['token_id']} (org {org_id}): {token}")


@tokens_app.command("list")
def tokens_list(org: Org = None, data_dir: DataDir = None, as_json: Json = False) -> None:
    """List admin tokens by id (the tokens themselves are stored hashed and never shown again)."""
    stores = open_stores(data_dir)
    rows = [
        {"token_id": t.token_id, "org_id": t.org_id}
        for t in AdminAuth(stores.config, _directory(stores)).list_tokens(org)
    ]
    emit(
        as_json,
        {"tokens": rows},
        "\n".join(f"{r['token_id']}\torg {r['org_id']}" for r in rows) or "no tokens",
    )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (tok_..., as listed) or the token.")],
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Delete an admin token: it stops working within seconds."""
    stores = open_stores(data_dir)
    auth = AdminAuth(stores.config, _directory(stores))
    shown = auth.token_id(token_id) if token_id.startswith("fat_") else token_id
    if not auth.revoke_token(token_id):
        fail(f"no admin token {shown}", 1)
    emit(as_json, {"token_id": shown, "revoked": True}, f"admin token {shown} revoked")
