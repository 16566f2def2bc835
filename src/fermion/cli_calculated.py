"""`fermion calculated-attributes create|list|activate|status`: calculated attributes from the command
line (create and list take --json; so do activate and status). `activate --wait` waits until the
server's workers have calculated it over stored history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fermion import bootstrap
from fermion.adapters.sql.calculated_store import SqlCalculatedStore
from fermion.cli_wait import DEFAULT_TIMEOUT_S, Timeout, Wait, wait_for
from fermion.services.calculated_admin import CalculatedAdmin, CalculatedSettings, CaProblem, ca_json
from fermion.settings import from_env

calculated_app = typer.Typer(no_args_is_help=True, help="Calculated attributes (definitions and status).")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where Fermion keeps its files.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Workspace = Annotated[int, typer.Option("--workspace", help="Workspace id.")]
CaId = Annotated[int, typer.Option("--id", help="Calculated attribute id.")]


def _admin(data_dir: Path | None) -> CalculatedAdmin:
    settings = from_env(data_dir=data_dir)
    stores = bootstrap.open_stores(settings)
    return CalculatedAdmin(
        SqlCalculatedStore(stores.engine), CalculatedSettings(settings.calculated_max_active)
    )


def _emit(as_json: bool, value: Any, human: str) -> None:
    typer.echo(json.dumps(value, indent=2) if as_json else human)


def _fail(problem: CaProblem) -> None:
    for field, message in problem.errors:
        typer.echo(f"error: {field}: {message}", err=True)
    raise typer.Exit(2 if problem.status == 400 else 1)


@calculated_app.command("create")
def create(
    workspace: Workspace,
    name: Annotated[str, typer.Option("--name")],
    definition: Annotated[str, typer.Option("--definition", help="The draft definition as JSON.")],
    description: Annotated[str, typer.Option("--description")] = "",
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create a calculated attribute with a draft definition."""
    try:
        draft = json.loads(definition)
    except json.JSONDecodeError as exc:
        typer.echo(f"error: --definition: {exc}", err=True)
        raise typer.Exit(2) from None
    admin = _admin(data_dir)
    try:
        record = admin.create(
            workspace, {"name": name, "description": description, "draft_definition": draft}
        )
    except CaProblem as problem:
        _fail(problem)
        return
    _emit(as_json, ca_json(record, admin.calculation(record)), f"created calculated attribute {record.id}")


@calculated_app.command("list")
def list_cas(workspace: Workspace, data_dir: DataDir = None, as_json: Json = False) -> None:
    """List the workspace's calculated attributes."""
    admin = _admin(data_dir)
    records = admin.list(workspace)
    lines = [f"{r.id}\t{r.name}\t{r.status}" for r in records]
    _emit(as_json, [ca_json(r, admin.calculation(r)) for r in records], "\n".join(lines))


@calculated_app.command("activate")
def activate(
    workspace: Workspace,
    ca_id: CaId,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Activate the draft definition (the running server's workers backfill it from stored history,
    starting within about a second)."""
    admin = _admin(data_dir)
    try:
        admin.activate(workspace, ca_id, "cli")
        record = admin.get(workspace, ca_id)
        if wait and not wait_for(lambda: _progress(admin, workspace, ca_id), timeout):
            raise CaProblem(408, [("id", f"still calculating after {timeout:g} s")])
        record = admin.get(workspace, ca_id)
    except CaProblem as problem:
        _fail(problem)
        return
    _emit(as_json, ca_json(record, admin.calculation(record)), f"activated calculated attribute {ca_id}")


def _progress(admin: CalculatedAdmin, workspace: int, ca_id: int) -> tuple[bool, str]:
    calculation = admin.calculation(admin.get(workspace, ca_id))
    line = f"calculated attribute {ca_id}: {calculation['status']} {calculation['progress']}%"
    return calculation["status"] == "completed", line


@calculated_app.command("status")
def status(workspace: Workspace, ca_id: CaId, data_dir: DataDir = None, as_json: Json = False) -> None:
    """The calculation status: progress and estimated completion."""
    admin = _admin(data_dir)
    try:
        record = admin.get(workspace, ca_id)
    except CaProblem as problem:
        _fail(problem)
        return
    calculation = admin.calculation(record)
    _emit(
        as_json,
        {"id": ca_id, "name": record.name, **calculation},
        f"{calculation['status']} {calculation['progress']}%",
    )
