"""`fermion identity`: IDSync settings per workspace (strategy, priority, unique/login/immutable
identities, blocked values, per-type cap) and identity lookups, from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from fermion import bootstrap
from fermion.identity.settings import SettingsError
from fermion.settings import from_env

identity_app = typer.Typer(no_args_is_help=True, help="IDSync: identity strategy settings and lookups.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where Fermion keeps its files.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Workspace = Annotated[int, typer.Option("--workspace", help="Workspace id.")]
TypeList = Annotated[str | None, typer.Option(help="Comma-separated identity types (empty string: none).")]


def _emit(as_json: bool, value: Any, human: str) -> None:
    typer.echo(json.dumps(value, indent=2) if as_json else human)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _types(raw: str | None) -> list[str] | None:
    return None if raw is None else [t.strip() for t in raw.split(",") if t.strip()]


@identity_app.command("settings")
def settings_command(
    workspace: Workspace,
    strategy: Annotated[
        str | None,
        typer.Option(help="profile_conversion (default) | profile_link | profile_isolation | best_match"),
    ] = None,
    priority: TypeList = None,
    unique: TypeList = None,
    login: TypeList = None,
    immutable: TypeList = None,
    blocked_values: Annotated[
        str | None,
        typer.Option("--blocked-values", help="Comma-separated values that never identify anyone."),
    ] = None,
    block_all_zeros: Annotated[
        bool | None,
        typer.Option("--block-all-zeros/--allow-all-zeros", help="Ignore values such as 0000-0000."),
    ] = None,
    max_per_type: Annotated[
        int | None, typer.Option("--max-per-type", help="At most this many values of one type per profile.")
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Start from the strategy's defaults.")] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Show a workspace's identity settings; with options, change them first (others keep their values)."""
    stores = bootstrap.open_stores(from_env(data_dir=data_dir))
    if stores.config.get_workspace(workspace) is None:
        _fail(f"--workspace: no workspace {workspace}")
    service = bootstrap.identity_service(stores)
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("strategy", strategy),
            ("identity_priority", _types(priority)),
            ("unique_identities", _types(unique)),
            ("login_identities", _types(login)),
            ("immutable_identities", _types(immutable)),
            ("blocked_values", _types(blocked_values)),
            ("block_all_zeros", block_all_zeros),
            ("max_identities_per_type", max_per_type),
        )
        if value is not None
    }
    try:
        if changes or reset:
            current = service.update_settings(workspace, changes, replace=reset)
        else:
            current = service.get_settings(workspace)
    except SettingsError as exc:
        _fail("; ".join(f"{field}: {message}" for field, message in exc.errors))
        return
    value = {"workspace_id": workspace, **msgspec.to_builtins(current)}
    human = "\n".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in value.items())
    _emit(as_json, value, human)


@identity_app.command("lookup")
def lookup_command(
    workspace: Workspace,
    identity_type: Annotated[
        str, typer.Option("--type", help="customer_id, email, device_application_stamp, ...")
    ],
    value: Annotated[str, typer.Option("--value")],
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """The MPID holding an identity in the workspace's organization, and all of its identities."""
    stores = bootstrap.open_stores(from_env(data_dir=data_dir))
    if stores.config.get_workspace(workspace) is None:
        _fail(f"--workspace: no workspace {workspace}")
    service = bootstrap.identity_service(stores)
    mpid = service.find_mpid(workspace, identity_type, value)
    if mpid is None:
        _fail("no profile holds this identity", 1)
        return
    pairs = service.identities(workspace, mpid)
    result = {"mpid": str(mpid), "identities": [{"identity_type": t, "value": v} for t, v in pairs]}
    _emit(as_json, result, f"{mpid}\n" + "\n".join(f"  {t}: {v}" for t, v in pairs))
