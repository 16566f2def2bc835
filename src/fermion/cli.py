"""The `fermion` command: init, serve and workspaces; inputs, credentials, tokens and the rest from
their own modules. Every create/list command takes --json."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from fermion import bootstrap, cli_audience_connections, cli_delivery, cli_identity
from fermion.cli_audiences import audiences_app
from fermion.cli_calculated import calculated_app
from fermion.cli_credentials import credentials_app, tokens_app
from fermion.cli_inbound import inbound_app
from fermion.cli_inputs import inputs_app
from fermion.cli_integrations import integrations_app
from fermion.services.admin_auth import AdminAuth
from fermion.services.credential_directory import CredentialDirectory
from fermion.services.oauth import OAuthService
from fermion.services.tenancy import InvalidRequest, TenancyService
from fermion.settings import Settings, check, from_env
from fermion.supervisor import Supervisor

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Fermion customer data platform.")
workspaces_app = typer.Typer(no_args_is_help=True, help="Workspaces.")
app.add_typer(inputs_app, name="inputs")
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(credentials_app, name="credentials")
app.add_typer(tokens_app, name="tokens")
app.add_typer(integrations_app, name="integrations")
app.add_typer(cli_delivery.outputs_app, name="outputs")
app.add_typer(cli_delivery.connections_app, name="connections")
app.add_typer(cli_audience_connections.audience_connections_app, name="audience-connections")
app.add_typer(cli_identity.identity_app, name="identity")
app.add_typer(calculated_app, name="calculated-attributes")
app.add_typer(audiences_app, name="audiences")
app.add_typer(inbound_app, name="inbound")
app.command("replay")(cli_delivery.replay)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where Fermion keeps its files.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Port = Annotated[int | None, typer.Option("--port")]
Host = Annotated[str | None, typer.Option("--host")]
Config = Annotated[
    Path | None,
    typer.Option("--config", help="A TOML settings file (or FERMION_CONFIG); flags and FERMION_* win."),
]
ROLES = ("all", "api", "worker", "sender")
CREDENTIALS_FILE = "credentials.json"
INITIALIZED = "initialized"


def _settings(
    data_dir: Path | None, host: str | None = None, port: int | None = None, config: Path | None = None
) -> Settings:
    try:
        settings = from_env(config, data_dir=data_dir, host=host, port=port)
        check(settings)
    except (OSError, ValueError) as exc:
        _fail(str(exc), 2)
        raise
    return settings


def _emit(as_json: bool, value: Any, human: str) -> None:
    typer.echo(json.dumps(value, indent=2) if as_json else human)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _initialize(settings: Settings, stores: bootstrap.Stores) -> dict[str, Any]:
    tenancy = TenancyService(stores.config, stores.delivery.cipher)
    ws = tenancy.create_workspace_tree("Demo Organization", "Demo Account", "Demo Workspace")
    inputs = [
        tenancy.create_input(ws.id, "platform", p, n) for p, n in (("custom", "Server"), ("web", "Web"))
    ]
    directory = CredentialDirectory(stores.config, stores.delivery.cipher, ttl_s=0)
    token = AdminAuth(stores.config, directory).issue_token(ws.org_id)
    OAuthService(stores.config, directory).ensure_signing_key()
    stores.config.set_meta(INITIALIZED, "1")
    result = {
        "organization_id": ws.org_id,
        "account_id": ws.account_id,
        "workspace_id": ws.id,
        "inputs": [
            {
                "id": c.input.id,
                "platform": c.input.platform,
                "name": c.input.name,
                "key": c.input.key,
                "secret": c.secret,
            }
            for c in inputs
        ],
        "admin_token": token,
    }
    path = settings.data_dir / CREDENTIALS_FILE
    # Created 0600 (never readable by others, not even for a moment): it holds the secrets.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(json.dumps(result, indent=2))
    return result


def _with_urls(settings: Settings, creds: dict[str, Any]) -> dict[str, Any]:
    base = settings.base_url
    ids = f"{creds['organization_id']}/{creds['account_id']}/{creds['workspace_id']}"
    return {
        **creds,
        "base_url": base,
        "events_api_url": f"{base}/v2",
        "admin_api_url": f"{base}/api/v1",
        "profile_api_url": f"{base}/userprofile/v1/{ids}/{{mpid}}",
        "docs_url": f"{base}/docs",
    }


def _command() -> str:
    """How to run this CLI from a shell: `fermion` when that is on PATH, else the virtualenv's path."""
    installed = Path(sys.prefix) / "bin" / "fermion"
    on_path = shutil.which("fermion")
    if not installed.exists() or (on_path is not None and Path(on_path).resolve() == installed.resolve()):
        return "fermion"
    return str(installed)


def _banner(info: dict[str, Any]) -> str:
    lines = [
        f"Fermion is at {info['base_url']}",
        f"  Events API (SDK host):  {info['events_api_url']}",
        f"  Admin API:              {info['admin_api_url']}   (Authorization: Bearer {info['admin_token']})",
        f"  Profile API:            {info['profile_api_url']}",
        f"  API docs:               {info['docs_url']}",
        f"  Organization {info['organization_id']}, account {info['account_id']}, "
        f"workspace {info['workspace_id']}",
    ]
    for inp in info["inputs"]:
        lines.append(f"  {inp['name']} input:  key {inp['key']}  secret {inp['secret']}")
    lines.append(
        "  OAuth credentials (Profile and Platform APIs): "
        f"{_command()} credentials create --workspace {info['workspace_id']} --json"
    )
    return "\n".join(lines)


@app.command()
def init(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    config: Config = None,
    as_json: Json = False,
) -> None:
    """Create the database, a demo organization/account/workspace, its inputs and an admin token."""
    settings = _settings(data_dir, host, port, config)
    stores = bootstrap.open_stores(settings)
    if stores.config.get_meta(INITIALIZED):
        _fail(f"{settings.data_dir} is already initialized; see {settings.data_dir / CREDENTIALS_FILE}")
    info = _with_urls(settings, _initialize(settings, stores))
    _emit(as_json, info, _banner(info))


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    role: Annotated[
        str,
        typer.Option(
            help="all | api | worker | sender (worker and sender serve /healthz, /readyz, /metrics on --port)"
        ),
    ] = "all",
    demo: Annotated[
        bool, typer.Option("--demo", help="Create a demo workspace on first start; print keys.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Processing worker processes for --role all (FERMION_WORKERS; default 1)."),
    ] = None,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            help="One JSON line per request on stderr (FERMION_ACCESS_LOG=0 turns it off; default on).",
        ),
    ] = None,
    config: Config = None,
) -> None:
    """Run Fermion: the Events API and admin API, the processing worker, the sender (or one --role)."""
    settings = _settings(data_dir, host, port, config)
    if access_log is not None:
        settings = dataclasses.replace(
            settings, http=dataclasses.replace(settings.http, access_log=access_log)
        )
    if workers is not None:
        settings = dataclasses.replace(settings, workers=workers)
        try:
            check(settings)
        except ValueError as exc:
            _fail(str(exc), 2)
    if role not in ROLES:
        _fail("--role must be all, api, worker or sender", 2)
    stores = bootstrap.open_stores(settings)
    if role in ("worker", "sender"):
        # `serve --role all` passes its pid: the worker stops when that process is gone (even if it
        # died before the worker got this far), and serves no ops endpoints (it shares the API's port).
        parent = settings.supervisor_pid
        _run_role(
            role, settings, stores, parent, None if parent is not None else settings.port, settings.sender_pid
        )
        return
    if demo:
        if not stores.config.get_meta(INITIALIZED):
            _initialize(settings, stores)
        creds = json.loads((settings.data_dir / CREDENTIALS_FILE).read_text())
        typer.echo(_banner(_with_urls(settings, creds)))
    children = Supervisor(settings, config) if role == "all" else None
    if children is not None:
        children.start()
    try:
        import uvicorn

        from fermion.api.http_protocol import protocol_for
        from fermion.bootstrap_api import create_app  # the web stack: only the API process needs it

        app_ = create_app(settings, stores)
        # Everything allocated so far lives for the whole process: keep it out of the cyclic GC's
        # full passes, which otherwise stall the event loop for tens of milliseconds under load.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        # The inbound-log writer thread retakes the GIL after each commit; with the default 5 ms
        # switch interval every group commit waits behind the busy event loop.
        sys.setswitchinterval(0.0005)
        server = uvicorn.Server(
            uvicorn.Config(
                app_,
                host=settings.host,
                port=settings.port,
                log_level="warning",
                access_log=False,
                loop="uvloop",
                # httptools, plus deadlines for a request's headers and body and a cap on its headers.
                http=protocol_for(settings.http),
                timeout_keep_alive=settings.http.keep_alive_s,
                # SIGTERM: stop accepting, let in-flight requests finish (long-lived Live Stream
                # connections are cut after this long).
                timeout_graceful_shutdown=10,
            )
        )
        # uvicorn re-raises SIGTERM once its graceful shutdown is done; handled here, the process then
        # stops its worker below and exits 0 instead of dying on the spot.
        signal.signal(signal.SIGTERM, lambda *_: None)
        server.run()
    finally:
        if children is not None:
            children.stop()


def _run_role(
    role: str,
    settings: Settings,
    stores: bootstrap.Stores,
    parent_pid: int | None,
    ops_port: int | None,
    sender_pid: int | None = None,
) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if role == "worker":
            await bootstrap.run_worker(
                settings, stores, stop, parent_pid, ops_port=ops_port, sender_pid=sender_pid
            )
        else:
            await bootstrap.run_sender(settings, stores, stop, ops_port=ops_port, parent_pid=parent_pid)

    asyncio.run(main())


@workspaces_app.command("list")
def workspaces_list(data_dir: DataDir = None, as_json: Json = False) -> None:
    """List workspaces."""
    stores = bootstrap.open_stores(_settings(data_dir))
    rows = [
        {
            "id": w.id,
            "account_id": w.account_id,
            "org_id": w.org_id,
            "name": w.name,
            "rate_limit_per_s": w.rate_limit_per_s,
        }
        for w in TenancyService(stores.config, stores.delivery.cipher).list_workspaces()
    ]
    _emit(
        as_json, {"workspaces": rows}, "\n".join(f"{r['id']}\t{r['name']}" for r in rows) or "no workspaces"
    )


@workspaces_app.command("set-rate-limit")
def workspaces_set_rate_limit(
    workspace: Annotated[int, typer.Option("--workspace")],
    per_second: Annotated[int, typer.Option("--per-second", help="Batches per second; 0 turns it off.")],
    data_dir: DataDir = None,
) -> None:
    """Limit how many batches per second the Events API accepts for a workspace (429 beyond)."""
    stores = bootstrap.open_stores(_settings(data_dir))
    try:
        TenancyService(stores.config, stores.delivery.cipher).set_rate_limit(workspace, per_second)
    except InvalidRequest as exc:
        _fail(f"{exc.field}: {exc.message}", 2)


_CREATING_COMMANDS = ("init", "serve", "integrations")  # (integrations reads no database)


def _named_data_dir(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "--data-dir" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--data-dir="):
            return Path(arg.split("=", 1)[1])
    return None


def _check_data_dir(argv: list[str]) -> None:
    """Commands other than init and serve read existing state: pointed at a data directory with no
    database (e.g. run from another folder), they stop and say so instead of creating an empty one."""
    if not argv or argv[0].startswith("-") or argv[0] in _CREATING_COMMANDS or "--help" in argv:
        return
    try:
        settings = from_env(data_dir=_named_data_dir(argv))
    except (OSError, ValueError):
        return  # the command itself reports bad settings
    if not settings.database_url and not (settings.data_dir / "fermion.db").is_file():
        _fail(
            f"no Fermion database in {settings.data_dir.resolve()}: run the command in the folder where "
            "`fermion serve` runs (or below it), or pass --data-dir (or set FERMION_DATA_DIR)",
            2,
        )


def main() -> None:
    try:
        _check_data_dir(sys.argv[1:])
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    app()


if __name__ == "__main__":
    main()
