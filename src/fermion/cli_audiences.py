"""`fermion audiences create|list|members|size`: audiences from the command line (--json on each)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fermion import bootstrap
from fermion.audiences.views import audience_json, member_json
from fermion.services.audience_admin import InvalidAudience
from fermion.settings import from_env

audiences_app = typer.Typer(no_args_is_help=True, help="Audiences: definitions, members and size.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where Fermion keeps its files.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Workspace = Annotated[int, typer.Option("--workspace", help="Workspace id.")]
AudienceId = Annotated[int, typer.Option("--audience", help="Audience id.")]


def _emit(as_json: bool, value: Any, human: str) -> None:
    typer.echo(json.dumps(value, indent=2) if as_json else human)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _admin(data_dir: Path | None) -> Any:
    return bootstrap.audience_admin(bootstrap.open_stores(from_env(data_dir=data_dir)))


@audiences_app.command("create")
def create(
    workspace: Workspace,
    name: Annotated[str, typer.Option(help="Audience name.")],
    criteria: Annotated[
        str, typer.Option(help='Criteria as JSON, e.g. {"event": {"type": "custom_event"}}.')
    ],
    external_name: Annotated[str, typer.Option(help="Name shown to outputs.")] = "",
    kind: Annotated[str, typer.Option(help="real_time or standard.")] = "real_time",
    activate: Annotated[bool, typer.Option(help="Activate (calculate over history) right away.")] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    try:
        parsed = json.loads(criteria)
    except json.JSONDecodeError as exc:
        _fail(f"--criteria: {exc}")
    stores = bootstrap.open_stores(from_env(data_dir=data_dir))
    ws = stores.config.get_workspace(workspace)
    if ws is None:
        _fail(f"no workspace {workspace}", 1)
    assert ws is not None
    admin = bootstrap.audience_admin(stores)
    body = {"name": name, "external_name": external_name, "kind": kind, "criteria": parsed}
    try:
        created = admin.create(workspace, ws.account_id, body)
        if activate:
            created = admin.activate(created)
    except InvalidAudience as exc:
        _fail("; ".join(f"{f}: {m}" for f, m in exc.errors))
    _emit(as_json, audience_json(created), f"audience {created.id} ({created.status.value})")


@audiences_app.command("list")
def list_audiences(workspace: Workspace, data_dir: DataDir = None, as_json: Json = False) -> None:
    found = _admin(data_dir).list_audiences([workspace])
    lines = "\n".join(f"{a.id}\t{a.name}\t{a.kind.value}\t{a.status.value}" for a in found)
    _emit(as_json, {"audiences": [audience_json(a) for a in found]}, lines)


def _audience(admin: Any, workspace: int, audience_id: int) -> Any:
    found = admin.get(workspace, audience_id)
    if found is None:
        _fail(f"no audience {audience_id} in workspace {workspace}", 1)
    return found


@audiences_app.command("members")
def members(
    workspace: Workspace,
    audience: AudienceId,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    after: Annotated[int | None, typer.Option(help="List members after this MPID.")] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    admin = _admin(data_dir)
    page = admin.members(_audience(admin, workspace, audience), after, limit)
    lines = "\n".join(f"{m.mpid}\t{json.dumps(m.identities)}" for m in page)
    _emit(as_json, {"members": [member_json(m) for m in page]}, lines)


@audiences_app.command("size")
def size(workspace: Workspace, audience: AudienceId, data_dir: DataDir = None, as_json: Json = False) -> None:
    admin = _admin(data_dir)
    found = admin.metrics(_audience(admin, workspace, audience))
    value = {
        "audience_id": audience,
        "size": found.size,
        "adds_24h": found.adds_24h,
        "drops_24h": found.drops_24h,
        "volatility": round(found.volatility, 4),
    }
    _emit(as_json, value, str(found.size))
