"""`fermion audience-connections create|list|update|delete`: connect audiences to audience outputs (e.g.
Amazon Kinesis Firehose) from the command line; each takes --json. Replay dead letters with `fermion
replay`."""

from __future__ import annotations

from typing import Annotated

import typer

from fermion.bootstrap import Stores
from fermion.bootstrap_delivery import audience_workspace, outputs_service
from fermion.cli_delivery import (
    ConnectionId,
    DataDir,
    Json,
    QueuedOption,
    Settings_,
    SettingsFile,
    SettingsJson,
    _changed_settings,
    _delivery_errors,
    _edits,
    _emit,
    _emit_deletion,
    _fail,
    _settings_of,
    _stores,
)
from fermion.delivery.edits import ConnectionChanges, Queued
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
    settings_file: SettingsFile = None,
    status: Annotated[str, typer.Option(help="active | inactive")] = "active",
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Connect an audience to an audience output (connection settings are validated)."""
    stores = _stores(data_dir)
    if audience_workspace(stores.engine)(audience) != workspace:
        _fail(f"audience_id: no audience {audience} in workspace {workspace}", 1)
    with _delivery_errors():
        conn, settings = outputs_service(stores.config, stores.delivery).create_audience_connection(
            workspace, audience, output_id, _settings_of(setting, settings_json, settings_file), status
        )
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


def _audience_of(stores: Stores, connection: int) -> tuple[int, int]:
    """(workspace id, audience id) of an audience connection."""
    found = stores.delivery.outputs.get_connection(connection)
    if found is None or found.audience_id is None:
        _fail(f"connection_id: no audience connection {connection}", 1)
    return found.workspace_id, found.audience_id


@audience_connections_app.command("update")
def update(
    connection: ConnectionId,
    status: Annotated[str | None, typer.Option(help="active | inactive")] = None,
    setting: Settings_ = None,
    settings_json: SettingsJson = None,
    settings_file: SettingsFile = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Change an audience connection's status and/or settings (given settings replace the old ones and
    are validated; secrets left out or given as *** are kept)."""
    stores = _stores(data_dir)
    workspace, audience = _audience_of(stores, connection)
    changes = ConnectionChanges(
        status=status, settings=_changed_settings(setting, settings_json, settings_file)
    )
    with _delivery_errors():
        conn, settings = _edits(stores).update_audience_connection(workspace, audience, connection, changes)
    _emit(as_json, audience_connection_json(conn, settings), f"connection {conn.id} is {conn.status.value}")


@audience_connections_app.command("delete")
def delete(
    connection: ConnectionId,
    queued: QueuedOption = Queued.DELIVER,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Delete an audience connection; its queued changes are sent first (--queued deliver) or dropped."""
    stores = _stores(data_dir)
    workspace, audience = _audience_of(stores, connection)
    with _delivery_errors():
        deletion = _edits(stores).delete_audience_connection(workspace, audience, connection, queued)
    _emit_deletion(as_json, f"connection {connection}", deletion)
