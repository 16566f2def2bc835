"""`fermion outputs`, `fermion connections` and `fermion replay`: outputs and connections from the command
line (create, list, update, delete; each takes --json), and replay of dead letters or stored history with
progress."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from fermion import bootstrap
from fermion.bootstrap_delivery import outputs_service, replay_service
from fermion.delivery.edits import ConfigEdits, ConnectionChanges, Deletion, Queued
from fermion.delivery.outputs import DeliveryError
from fermion.delivery.views import connection_json, deletion_json, output_json, progress_json
from fermion.settings import from_env

outputs_app = typer.Typer(
    no_args_is_help=True, help="Output configurations (an integration and its settings)."
)
connections_app = typer.Typer(no_args_is_help=True, help="Connections of inputs to outputs.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where Fermion keeps its files.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ConnectionId = Annotated[int, typer.Option("--connection", help="Connection id.")]
OutputId = Annotated[int, typer.Option("--output", help="Output id.")]
_LEVEL = "setting, name=value (repeatable; JSON values); `fermion integrations show ID` lists them."
OutputSetting = Annotated[list[str] | None, typer.Option("--setting", help=f"An output {_LEVEL}")]
Settings_ = Annotated[list[str] | None, typer.Option("--setting", help=f"A connection {_LEVEL}")]
SettingsJson = Annotated[str | None, typer.Option("--settings-json", help="All settings as a JSON object.")]
SettingsFile = Annotated[
    Path | None, typer.Option("--settings-file", help="A JSON file with the settings (an object).")
]
QueuedOption = Annotated[
    Queued,
    typer.Option(
        "--queued", help="Queued deliveries: deliver (sent first; the connection goes after) or drop."
    ),
]


def _emit(as_json: bool, value: Any, human: str) -> None:
    typer.echo(json.dumps(value, indent=2) if as_json else human)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _fail_delivery(exc: DeliveryError) -> NoReturn:
    _fail("; ".join(f"{e.field}: {e.message}" for e in exc.errors), 2 if exc.status == 400 else 1)


@contextmanager
def _delivery_errors() -> Iterator[None]:
    """A DeliveryError raised inside ends the command with its field errors (exit 2 when invalid)."""
    try:
        yield
    except DeliveryError as exc:
        _fail_delivery(exc)


def _settings_of(pairs: list[str] | None, as_json: str | None, file: Path | None = None) -> dict[str, Any]:
    """Settings from --settings-file, then --settings-json, then each --setting (later ones win)."""
    values: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            _fail(f"--settings-file: {exc}")
        if not isinstance(loaded, dict):
            _fail("--settings-file: must hold a JSON object")
        values.update(loaded)
    if as_json:
        try:
            loaded = json.loads(as_json)
        except json.JSONDecodeError as exc:
            _fail(f"--settings-json: {exc}")
        if not isinstance(loaded, dict):
            _fail("--settings-json: must be a JSON object")
        values.update(loaded)
    for pair in pairs or []:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            _fail(f"--setting {pair!r}: expected name=value")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw  # a bare string
    return values


def _stores(data_dir: Path | None) -> bootstrap.Stores:
    return bootstrap.open_stores(from_env(data_dir=data_dir))


@outputs_app.command("create")
def outputs_create(
    workspace: Annotated[int, typer.Option("--workspace", help="Workspace id.")],
    integration: Annotated[str, typer.Option("--integration", help="Integration id, e.g. webhook.")],
    name: Annotated[str, typer.Option()] = "",
    setting: OutputSetting = None,
    settings_json: SettingsJson = None,
    settings_file: SettingsFile = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create an output configuration (secret settings are encrypted at rest and shown as ***)."""
    stores = _stores(data_dir)
    with _delivery_errors():
        out, settings = outputs_service(stores.config, stores.delivery).create_output(
            workspace, integration, name, _settings_of(setting, settings_json, settings_file)
        )
    _emit(as_json, output_json(out, settings), f"output {out.id} ({out.name}, {out.integration_id})")


@outputs_app.command("list")
def outputs_list(
    workspace: Annotated[int | None, typer.Option("--workspace")] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List output configurations."""
    stores = _stores(data_dir)
    rows = [
        output_json(o, s) for o, s in outputs_service(stores.config, stores.delivery).list_outputs(workspace)
    ]
    human = "\n".join(f"{r['id']}\tws {r['workspace_id']}\t{r['integration']}\t{r['name']}" for r in rows)
    _emit(as_json, {"outputs": rows}, human or "no outputs")


@connections_app.command("create")
def connections_create(
    workspace: Annotated[int, typer.Option("--workspace")],
    input_id: Annotated[int, typer.Option("--input", help="Input id.")],
    output_id: Annotated[int, typer.Option("--output", help="Output id.")],
    setting: Settings_ = None,
    settings_json: SettingsJson = None,
    settings_file: SettingsFile = None,
    status: Annotated[str, typer.Option(help="active | inactive")] = "active",
    send_development: Annotated[bool, typer.Option("--send-development/--no-send-development")] = True,
    send_production: Annotated[bool, typer.Option("--send-production/--no-send-production")] = True,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Connect an input to an output."""
    stores = _stores(data_dir)
    with _delivery_errors():
        conn, settings = outputs_service(stores.config, stores.delivery).create_connection(
            workspace,
            input_id,
            output_id,
            _settings_of(setting, settings_json, settings_file),
            status,
            send_development,
            send_production,
        )
    _emit(
        as_json,
        connection_json(conn, settings),
        f"connection {conn.id}: input {input_id} -> output {output_id}",
    )


@connections_app.command("list")
def connections_list(
    workspace: Annotated[int | None, typer.Option("--workspace")] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List connections with their status and queue."""
    stores = _stores(data_dir)
    rows = []
    for conn, settings in outputs_service(stores.config, stores.delivery).list_connections(workspace):
        rows.append(
            {**connection_json(conn, settings), "queue": stores.delivery.queue.count_by_status(conn.id)}
        )
    human = "\n".join(
        f"{r['id']}\t{_source(r)} -> output {r['output_id']}\t{r['status']}\tqueue {r['queue']}" for r in rows
    )
    _emit(as_json, {"connections": rows}, human or "no connections")


def _edits(stores: bootstrap.Stores) -> ConfigEdits:
    return ConfigEdits(outputs_service(stores.config, stores.delivery), stores.delivery.queue)


def _changed_settings(
    pairs: list[str] | None, as_json: str | None, file: Path | None
) -> dict[str, Any] | None:
    """The new settings, or None when no settings option was given (they stay as they are)."""
    if not pairs and as_json is None and file is None:
        return None
    return _settings_of(pairs, as_json, file)


def _emit_deletion(as_json: bool, what: str, deletion: Deletion) -> None:
    waiting = ", ".join(f"connection {c}: {n} queued" for c, n in sorted(deletion.waiting.items()))
    human = f"{what} deleted" if deletion.done else f"{what} is deleting once sent ({waiting})"
    _emit(as_json, deletion_json(deletion), human)


def _output_workspace(stores: bootstrap.Stores, output_id: int) -> int:
    found = stores.delivery.outputs.get_output(output_id)
    if found is None:
        _fail(f"output_id: no output {output_id}", 1)
    return found.workspace_id


def _connection_workspace(stores: bootstrap.Stores, connection_id: int) -> int:
    found = stores.delivery.outputs.get_connection(connection_id)
    if found is None:
        _fail(f"connection_id: no connection {connection_id}", 1)
    return found.workspace_id


@outputs_app.command("update")
def outputs_update(
    output: OutputId,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    setting: OutputSetting = None,
    settings_json: SettingsJson = None,
    settings_file: SettingsFile = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Change an output's name and/or settings. Settings given replace the old ones and are validated
    again; a secret left out or given as *** keeps its stored value."""
    stores = _stores(data_dir)
    with _delivery_errors():
        out, settings = _edits(stores).update_output(
            _output_workspace(stores, output),
            output,
            name,
            _changed_settings(setting, settings_json, settings_file),
        )
    _emit(as_json, output_json(out, settings), f"output {out.id} ({out.name}) updated")


@outputs_app.command("delete")
def outputs_delete(
    output: OutputId,
    force: Annotated[bool, typer.Option("--force", help="Delete its connections too.")] = False,
    queued: QueuedOption = Queued.DELIVER,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Delete an output (refused while connections use it, unless --force)."""
    stores = _stores(data_dir)
    with _delivery_errors():
        deletion = _edits(stores).delete_output(_output_workspace(stores, output), output, force, queued)
    _emit_deletion(as_json, f"output {output}", deletion)


@connections_app.command("update")
def connections_update(
    connection: ConnectionId,
    status: Annotated[str | None, typer.Option(help="active | inactive")] = None,
    send_development: Annotated[
        bool | None, typer.Option("--send-development/--no-send-development", show_default=False)
    ] = None,
    send_production: Annotated[
        bool | None, typer.Option("--send-production/--no-send-production", show_default=False)
    ] = None,
    setting: Settings_ = None,
    settings_json: SettingsJson = None,
    settings_file: SettingsFile = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Change a connection: status, environments, settings (given settings replace the old ones and are
    validated; secrets left out or given as *** are kept, and consent_rules unless named)."""
    stores = _stores(data_dir)
    changes = ConnectionChanges(
        status=status,
        send_development=send_development,
        send_production=send_production,
        settings=_changed_settings(setting, settings_json, settings_file),
    )
    with _delivery_errors():
        conn, settings = _edits(stores).update_connection(
            _connection_workspace(stores, connection), connection, changes
        )
    _emit(as_json, connection_json(conn, settings), f"connection {conn.id} is {conn.status.value}")


@connections_app.command("delete")
def connections_delete(
    connection: ConnectionId,
    queued: QueuedOption = Queued.DELIVER,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Delete a connection; its queued deliveries are sent first (--queued deliver) or dropped."""
    stores = _stores(data_dir)
    with _delivery_errors():
        deletion = _edits(stores).delete_connection(
            _connection_workspace(stores, connection), connection, queued
        )
    _emit_deletion(as_json, f"connection {connection}", deletion)


@connections_app.command("set-status")
def connections_set_status(
    connection: Annotated[int, typer.Option("--connection")],
    status: Annotated[str, typer.Option(help="active | inactive")],
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Activate or deactivate a connection (the same as `connections update --status`)."""
    connections_update(connection, status=status, data_dir=data_dir, as_json=as_json)


def _time_ms(value: str, option: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: use milliseconds since the epoch or an ISO 8601 time")
        raise
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def replay(
    connection: ConnectionId,
    dead_letters: Annotated[
        bool, typer.Option("--dead-letters", help="Send the dead letters again.")
    ] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Start (ms or ISO 8601, UTC by default).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="End, exclusive (default: now).")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow until delivered.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to follow progress.")] = 600.0,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Replay a connection's dead letters, or stored history of a time window, showing progress (the
    running server's sender delivers)."""
    if dead_letters == (since is not None):
        _fail("give either --dead-letters or --since [--until]")
    stores = _stores(data_dir)
    found = stores.delivery.outputs.get_connection(connection)
    if found is None:
        _fail(f"connection: no connection {connection}", 1)
        return
    service = replay_service(stores.config, stores.delivery, bootstrap.connection_hooks(stores))
    with _delivery_errors():
        if dead_letters:
            job = service.replay_dead_letters(found.workspace_id, connection)
        else:
            since_ms = _time_ms(since or "0", "--since")
            until_ms = _time_ms(until, "--until") if until else int(time.time() * 1000) + 1
            job = service.create_window_job(found.workspace_id, connection, since_ms, until_ms)
            service.run_window_job(job)
    deadline = time.monotonic() + timeout
    progress = progress_json(service.progress(found.workspace_id, job.id))
    while wait and not progress["finished"] and time.monotonic() < deadline:
        typer.echo(
            f"replay {job.id}: {progress['done']} delivered, {progress['pending'] + progress['inflight']} "
            f"waiting, {progress['dead']} dead of {progress['job']['enqueued']}",
            err=True,
        )
        sys.stderr.flush()
        time.sleep(1.0)
        progress = progress_json(service.progress(found.workspace_id, job.id))
    human = (
        f"replay {job.id}: {progress['done']} delivered, {progress['dead']} dead, "
        f"{progress['pending'] + progress['inflight']} waiting of {progress['job']['enqueued']}"
    )
    _emit(as_json, progress, human)


def _source(connection: dict[str, Any]) -> str:
    """What a listed connection forwards: an input's batches, or an audience's membership changes."""
    if connection.get("audience_id") is not None:
        return f"audience {connection['audience_id']}"
    return f"input {connection['input_id']}"
