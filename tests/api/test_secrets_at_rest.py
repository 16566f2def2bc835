"""Secrets are secrets: the webhook's extra headers (API keys) are encrypted at rest, shown masked by
the API and the CLI, kept when an update sends them masked, and still sent to the partner; every file
Fermion creates in its data directory is readable by its owner only. Through a real server, in both
modes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from fermion.settings import from_env
from support.fermion_proc import SCALE_OUT, FermionProcess, fermion_cmd
from support.outputs_api import admin, ok, send
from support.recorder import Recorder
from support.servers import serving
from support.waiting import wait_until

API_KEY = "plain-api-key-" + uuid.uuid4().hex
SIGNING = "plain-signing-" + uuid.uuid4().hex
# Written by the test harness, not by Fermion.
NOT_FERMIONS = {"server.log", "fermion.toml"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FermionProcess]:
    # A directory Fermion creates.
    with serving(FermionProcess(tmp_path_factory.mktemp("secrets") / "data")) as proc:
        yield proc


def a_batch(mpid: int) -> dict[str, Any]:
    return {
        "environment": "development",
        "mpid": mpid,
        "events": [{"event_type": "custom_event", "data": {"event_name": "s", "custom_event_type": "other"}}],
    }


def stored_settings(server: FermionProcess, output_id: int) -> str:
    """The outputs row as stored in the database (SQLite file or PostgreSQL)."""
    url = from_env(None, data_dir=server.data_dir).effective_database_url
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT settings FROM outputs WHERE id = :id"), {"id": output_id})
            return str(row.scalar_one())
    finally:
        engine.dispose()


def cli_json(server: FermionProcess, *args: str) -> Any:
    out = subprocess.run(
        fermion_cmd(*args, "--data-dir", str(server.data_dir), "--json"),
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert API_KEY not in out.stdout and SIGNING not in out.stdout
    return json.loads(out.stdout)


def test_webhook_headers_are_encrypted_masked_kept_and_sent(server: FermionProcess) -> None:
    with Recorder() as partner:
        settings = {"url": partner.url("/hook"), "headers": {"X-Api-Key": API_KEY}, "signing_secret": SIGNING}
        r = admin(server, "POST", "/outputs", {"integration": "webhook", "settings": settings})
        created = ok(r)
        assert API_KEY not in r.text and SIGNING not in r.text
        assert created["settings"]["headers"] == {"X-Api-Key": "***"}
        out_id = created["id"]
        for response in (admin(server, "GET", f"/outputs/{out_id}"), admin(server, "GET", "/outputs")):
            assert response.status_code == 200 and API_KEY not in response.text, response.text
            assert '"X-Api-Key":"***"' in response.text.replace(" ", "")
        listed = cli_json(server, "outputs", "list")
        assert any(o["settings"].get("headers") == {"X-Api-Key": "***"} for o in listed["outputs"])
        row = stored_settings(server, out_id)
        assert API_KEY not in row and SIGNING not in row and "$enc" in row
        # The schema the API describes says the header values are secrets.
        schema = httpx.get(f"{server.base_url}/api/v1/integrations", headers=server.admin_headers, timeout=30)
        if schema.status_code == 200:
            hook = next(i for i in schema.json()["integrations"] if i["id"] == "webhook")
            headers_schema = hook["settings_schema"]["properties"]["headers"]
            assert headers_schema["additionalProperties"]["writeOnly"] is True

        # An update that sends the header masked (as shown) keeps it; a new header is added.
        r = admin(
            server,
            "PATCH",
            f"/outputs/{out_id}",
            {"settings": {**settings, "headers": {"X-Api-Key": "***", "X-Extra": "second"}}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["settings"]["headers"] == {"X-Api-Key": "***", "X-Extra": "***"}
        assert API_KEY not in stored_settings(server, out_id) and "second" not in stored_settings(
            server, out_id
        )

        body = {"input_id": server.info["inputs"][0]["id"], "output_id": out_id, "settings": {}}
        ok(admin(server, "POST", "/connections", body))
        send(server, [a_batch(77001)])
        assert wait_until(lambda: partner.accepted(), 60)
        sent = {k.lower(): v for k, v in partner.accepted()[0].headers.items()}
        assert sent["x-api-key"] == API_KEY and sent["x-extra"] == "second"
    log = (server.data_dir / "server.log").read_text()
    assert API_KEY not in log and SIGNING not in log


def test_files_fermion_creates_are_private(server: FermionProcess) -> None:
    send(server, [a_batch(77002)])
    server.wait_for_events(1, mpid=77002)
    archive = server.data_dir / "archive"
    assert wait_until(lambda: any(archive.rglob("*.ndjson")), 60), "no archive file written"
    expected = {"credentials.json"} | (set() if SCALE_OUT else {"fermion.db"})
    # In scale-out mode the test harness made the data directory (to write fermion.toml), not Fermion.
    files, dirs = [], [] if SCALE_OUT else [server.data_dir]
    for path in server.data_dir.rglob("*"):
        if path.name in NOT_FERMIONS:
            continue
        (dirs if path.is_dir() else files).append(path)
    assert expected <= {p.name for p in files}
    too_open = [
        f"{p.relative_to(server.data_dir.parent)} {stat.filemode(p.stat().st_mode)}"
        for p in files + dirs
        if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    ]
    assert not too_open


def test_existing_files_left_readable_by_others_are_tightened(tmp_path: Path) -> None:
    """A data directory from an older version (0644 files) is tightened when Fermion opens it."""
    if SCALE_OUT:
        pytest.skip("the SQLite files are what this checks")
    proc = FermionProcess(tmp_path / "old")
    proc.init()
    for path in proc.data_dir.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    cli_json(proc, "inputs", "list")
    databases = [p for p in proc.data_dir.rglob("*.db*") if p.is_file()]
    assert any(p.name == "fermion.db" for p in databases)
    too_open = [p.name for p in databases if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]
    assert not too_open


def test_headers_an_older_version_stored_in_clear_are_sealed_at_start(server: FermionProcess) -> None:
    """Runs last in this module: it restarts the server."""
    out_id = ok(
        admin(
            server,
            "POST",
            "/outputs",
            {"integration": "webhook", "settings": {"url": "https://old.example/h"}},
        )
    )["id"]
    plain = json.dumps({"url": "https://old.example/h", "headers": {"X-Api-Key": API_KEY}})
    url = from_env(None, data_dir=server.data_dir).effective_database_url
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:  # as the previous version stored it
            conn.execute(text("UPDATE outputs SET settings = :s WHERE id = :id"), {"s": plain, "id": out_id})
    finally:
        engine.dispose()
    server.stop()
    server.start()
    row = stored_settings(server, out_id)
    assert API_KEY not in row and "$enc" in row
    shown = ok(admin(server, "GET", f"/outputs/{out_id}"))
    assert shown["settings"]["headers"] == {"X-Api-Key": "***"}
