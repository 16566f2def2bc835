"""`fermion inputs`: create, list, deactivate, activate, rotate-secret and delete platform and feed
inputs. Secrets are printed only when created (or rotated), never listed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fermion import bootstrap
from fermion.model.tenancy import Input
from fermion.services.tenancy import InputInUse, InvalidRequest, TenancyService, input_json
from fermion.settings import check, from_env

inputs_app = typer.Typer(no_args_is_help=True, help="Platform and feed inputs.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where Fermion keeps its files.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
InputId = Annotated[int, typer.Argument(help="The input's id (see `fermion inputs list`).")]


def emit(as_json: bool, value: Any, human: str) -> None:
    typer.echo(json.dumps(value, indent=2) if as_json else human)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def open_stores(data_dir: Path | None) -> bootstrap.Stores:
    try:
        settings = from_env(None, data_dir=data_dir)
        check(settings)
    except (OSError, ValueError) as exc:
        fail(str(exc))
        raise
    return bootstrap.open_stores(settings)


def _tenancy_and_input(data_dir: Path | None, input_id: int) -> tuple[TenancyService, Input]:
    stores = open_stores(data_dir)
    tenancy = TenancyService(stores.config, stores.delivery.cipher)
    inp = stores.config.get_input(input_id)
    if inp is None:
        fail(f"no input {input_id}", 1)
        raise AssertionError  # unreachable: fail() exits
    return tenancy, inp


@inputs_app.command("create")
def inputs_create(
    workspace: Annotated[int, typer.Option("--workspace", help="Workspace id.")],
    platform: Annotated[
        str,
        typer.Option(
            help="ios, android, web, tvos, roku, alexa, smart_tv, fire_tv, "
            "xbox, custom; or the partner name of a feed"
        ),
    ] = "custom",
    kind: Annotated[str, typer.Option(help="platform | feed")] = "platform",
    name: Annotated[str, typer.Option()] = "",
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create an input and print its key and secret (the secret is shown only now)."""
    stores = open_stores(data_dir)
    try:
        created = TenancyService(stores.config, stores.delivery.cipher).create_input(
            workspace, kind, platform, name
        )
    except InvalidRequest as exc:
        fail(f"{exc.field}: {exc.message}")
        return
    inp = created.input
    value = input_json(inp, created.secret)
    emit(as_json, value, f"input {inp.id} ({inp.name}): key {inp.key}  secret {created.secret}")


@inputs_app.command("list")
def inputs_list(
    workspace: Annotated[int | None, typer.Option("--workspace")] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List inputs (keys only; secrets are never shown again)."""
    stores = open_stores(data_dir)
    rows = [
        input_json(i) for i in TenancyService(stores.config, stores.delivery.cipher).list_inputs(workspace)
    ]
    human = "\n".join(
        f"{r['id']}\tws {r['workspace_id']}\t{r['kind']}\t{r['platform']}\t{r['key']}\t{r['name']}"
        + ("" if r["active"] else "\t(inactive)")
        for r in rows
    )
    emit(as_json, {"inputs": rows}, human or "no inputs")


def _set_active(input_id: int, active: bool, data_dir: Path | None, as_json: bool) -> None:
    tenancy, inp = _tenancy_and_input(data_dir, input_id)
    changed = tenancy.set_active(inp, active)
    state = "active" if changed.active else "inactive (its key and secret stop working within seconds)"
    emit(as_json, input_json(changed), f"input {changed.id} is {state}")


@inputs_app.command("deactivate")
def inputs_deactivate(input_id: InputId, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Deactivate an input: every request with its key or secret is refused (within seconds)."""
    _set_active(input_id, False, data_dir, as_json)


@inputs_app.command("activate")
def inputs_activate(input_id: InputId, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Reactivate a deactivated input."""
    _set_active(input_id, True, data_dir, as_json)


@inputs_app.command("rotate-secret")
def inputs_rotate_secret(input_id: InputId, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Give an input a new secret (printed only now); the old secret stops working within seconds."""
    tenancy, inp = _tenancy_and_input(data_dir, input_id)
    rotated = tenancy.rotate_secret(inp)
    emit(
        as_json,
        input_json(rotated.input, rotated.secret),
        f"input {inp.id}: key {inp.key}  new secret {rotated.secret}",
    )


@inputs_app.command("delete")
def inputs_delete(input_id: InputId, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Delete an input (refused while connections use it: delete those first)."""
    tenancy, inp = _tenancy_and_input(data_dir, input_id)
    try:
        tenancy.delete_input(inp)
    except InputInUse as exc:
        fail(f"input {input_id} is used by connections {exc.connection_ids}; delete them first", 1)
    emit(as_json, {"id": input_id, "deleted": True}, f"input {input_id} deleted")
