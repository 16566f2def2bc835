"""`fermion audiences create|list|activate|deactivate|delete|members|size`: audiences from the command
line (--json on each). `activate --wait` waits until the server's worker has calculated the audience."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from fermion import bootstrap
from fermion.audiences.records import Audience, Status
from fermion.audiences.views import audience_json, member_json, percent, standing_json
from fermion.cli_wait import DEFAULT_TIMEOUT_S, Timeout, Wait, wait_for
from fermion.services.audience_admin import AudienceAdmin, Conflict, InvalidAudience
from fermion.settings import from_env

audiences_app = typer.Typer(no_args_is_help=True, help="Audiences: definitions, members and size.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where Fermion keeps its files.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Workspace = Annotated[int, typer.Option("--workspace", help="Workspace id.")]
AudienceId = Annotated[int, typer.Option("--audience", help="Audience id.")]


def _emit(as_json: bool, value: Any, human: str) -> None:
    typer.echo(json.dumps(value, indent=2) if as_json else human)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _admin(data_dir: Path | None) -> AudienceAdmin:
    return bootstrap.audience_admin(bootstrap.open_stores(from_env(data_dir=data_dir)))


def _wait(admin: AudienceAdmin, workspace: int, audience_id: int, timeout_s: float) -> Audience:
    """Poll until the audience is calculated (the worker's job picks an activation up within a
    second), printing its progress; exits 1 if it is deactivated or deleted meanwhile, or on timeout."""
    latest: list[Audience] = []

    def step() -> tuple[bool, str]:
        found = admin.get(workspace, audience_id)
        if found is None:
            _fail(f"audience {audience_id} was deleted while calculating", 1)
        assert found is not None
        latest[:] = [found]
        if found.status not in (Status.CALCULATING, Status.ACTIVE):
            _fail(f"audience {audience_id} is {found.status.value}", 1)
        return (
            found.status == Status.ACTIVE,
            f"audience {audience_id}: {found.status.value} {percent(found)}%",
        )

    if not wait_for(step, timeout_s):
        _fail(f"audience {audience_id} still calculating after {timeout_s:g} s", 1)
    return latest[0]


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
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
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
    if activate and wait:
        created = _wait(admin, workspace, created.id, timeout)
    _emit(as_json, audience_json(created), f"audience {created.id} ({created.status.value})")


@audiences_app.command("list")
def list_audiences(workspace: Workspace, data_dir: DataDir = None, as_json: Json = False) -> None:
    found = _admin(data_dir).list_audiences([workspace])
    lines = "\n".join(f"{a.id}\t{a.name}\t{a.kind.value}\t{a.status.value}" for a in found)
    _emit(as_json, {"audiences": [audience_json(a) for a in found]}, lines)


def _audience(admin: AudienceAdmin, workspace: int, audience_id: int) -> Audience:
    found = admin.get(workspace, audience_id)
    if found is None:
        _fail(f"no audience {audience_id} in workspace {workspace}", 1)
    assert found is not None
    return found


@audiences_app.command("activate")
def activate(
    workspace: Workspace,
    audience: AudienceId,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Activate the draft criteria: the running server's worker calculates the audience over stored
    history (starting within a second), then keeps it current."""
    admin = _admin(data_dir)
    try:
        found = admin.activate(_audience(admin, workspace, audience))
    except InvalidAudience as exc:
        _fail("; ".join(f"{f}: {m}" for f, m in exc.errors))
    except Conflict as exc:
        _fail(str(exc), 1)
    if wait:
        found = _wait(admin, workspace, audience, timeout)
    _emit(as_json, audience_json(found), f"audience {audience} ({found.status.value})")


@audiences_app.command("deactivate")
def deactivate(
    workspace: Workspace, audience: AudienceId, data_dir: DataDir = None, as_json: Json = False
) -> None:
    """Stop evaluating and sending the audience (activate it again to recalculate it)."""
    admin = _admin(data_dir)
    try:
        found = admin.deactivate(_audience(admin, workspace, audience))
    except Conflict as exc:
        _fail(str(exc), 1)
    _emit(as_json, audience_json(found), f"audience {audience} ({found.status.value})")


@audiences_app.command("delete")
def delete(
    workspace: Workspace, audience: AudienceId, data_dir: DataDir = None, as_json: Json = False
) -> None:
    """Delete the audience (connected outputs are told)."""
    admin = _admin(data_dir)
    admin.delete(_audience(admin, workspace, audience))
    _emit(as_json, {"id": audience, "deleted": True}, f"deleted audience {audience}")


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
    found = _audience(admin, workspace, audience)
    if found.first_calculation_pending:  # members are not known yet
        _emit(as_json, {"members": [], **standing_json(found)}, f"calculating {percent(found)}%")
        return
    page = admin.members(found, after, limit)
    lines = "\n".join(f"{m.mpid}\t{json.dumps(m.identities)}" for m in page)
    _emit(as_json, {"members": [member_json(m) for m in page], **standing_json(found)}, lines)


@audiences_app.command("size")
def size(workspace: Workspace, audience: AudienceId, data_dir: DataDir = None, as_json: Json = False) -> None:
    admin = _admin(data_dir)
    aud = _audience(admin, workspace, audience)
    found = admin.metrics(aud)
    pending = aud.first_calculation_pending  # the size is not known yet
    value = {
        "audience_id": audience,
        **standing_json(aud),
        "size": None if pending else found.size,
        "adds_24h": found.adds_24h,
        "drops_24h": found.drops_24h,
        "volatility": round(found.volatility, 4),
    }
    _emit(as_json, value, f"calculating {percent(aud)}%" if pending else str(found.size))
