"""`fermion audience-connections create|list`: connect audiences to audience outputs (e.g. Amazon Kinesis
Firehose) from the command line; both take --json. Replay dead letters with `fermion replay`."""

from __future__ import annotations

from typing import Annotated

import typer

from fermion.bootstrap_delivery import audience_workspace, outputs_service
from fermion.cli_delivery import (
    DataDir,
    Json,
    Settings_,
    SettingsJson,
    _emit,
    _fail,
    _fail_delivery,
    _settings_of,
    _stores,
)
from fermion.delivery.outputs import DeliveryError
from fermion.delivery.views import audience_connection_json

audience_connections_app = typer.Typer(
    no_args_is_help=True, help="Connections of audiences to audience outputs."
)


@audience_connections_app.command("create")
def create(
    workspace: Annotated[int, typer.Option("--workspace", help="Workspace id.")],
    audience: Annotated[int, typer.Option("--audience", help="Audience id.", min=1)],
    output_id: Annotated[int, typer.Option("--output", help="Audience output id.")],
    setting: Settings_ = None,
    settings_json: SettingsJson = None,
    status: Annotated[str, typer.Option(help="active | inactive")] = "active",
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Connect an audience to an audience output (connection settings are validated)."""
    stores = _stores(data_dir)
    if audience_workspace(stores.engine)(audience) != workspace:
        _fail(f"audience_id: no audience {audience} in workspace {workspace}", 1)
    try:
        conn, settings = outputs_service(stores.config, stores.delivery).create_audience_connection(
            workspace, audience, output_id, _settings_of(setting, settings_json), status
        )
    except DeliveryError as exc:
        _fail_delivery(exc)
        return
    _emit(
        as_json,
        audience_connection_json(conn, settings),
        f"connection {conn.id}: audience {audience} -> output {output_id}",
    )


@audience_connections_app.command("list")
def list_(
    workspace: Annotated[int | None, typer.Option("--workspace")] = None,
    audience: Annotated[int | None, typer.Option("--audience", help="Only this audience's.")] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List audience connections with their status and queue."""
    stores = _stores(data_dir)
    found = outputs_service(stores.config, stores.delivery).list_audience_connections(workspace, audience)
    rows = [
        {**audience_connection_json(c, s), "queue": stores.delivery.queue.count_by_status(c.id)}
        for c, s in found
    ]
    human = "\n".join(
        f"{r['id']}\taudience {r['audience_id']} -> output {r['output_id']}\t{r['status']}"
        f"\tqueue {r['queue']}"
        for r in rows
    )
    _emit(as_json, {"connections": rows}, human or "no audience connections")
