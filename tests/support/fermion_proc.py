"""Start Fermion through its real CLI in a subprocess, wait until it answers, stop or kill it.

With FERMION_TEST_MODE=scaleout every server runs in scale-out mode: a fresh PostgreSQL database and a
fresh NATS JetStream stream of its own (dropped when the test session ends), named in the data
directory's fermion.toml, which every `fermion ... --data-dir` command reads.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SCALE_OUT = os.environ.get("FERMION_TEST_MODE", "embedded") == "scaleout"


def write_scale_out_config(data_dir: Path) -> dict[str, str]:
    """Settings for one scale-out server, in data_dir/fermion.toml and returned as FERMION_* variables: a
    new database and stream, cleaned up at exit."""
    from support import scaleout  # only scale-out runs need nats-py and psycopg here

    problem = scaleout.postgres_problem() or scaleout.nats_problem()
    if problem:
        scaleout.skip_or_fail(problem)
    name, url = scaleout.create_migrated_database()
    stream = scaleout.new_stream_name()
    atexit.register(scaleout.drop_database, name)
    atexit.register(scaleout.delete_stream, stream)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "fermion.toml").write_text(
        f'database_url = "{url}"\nnats_url = "{scaleout.NATS_URL}"\nnats_stream = "{stream}"\n'
        # Redeliver a killed worker's batches soon (tests kill servers mid-stream).
        "nats_ack_wait_s = 5\n"
    )
    return {"FERMION_DATABASE_URL": url, "FERMION_NATS_URL": scaleout.NATS_URL, "FERMION_NATS_STREAM": stream}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fermion_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "fermion.cli", *args]


def run_cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run a `fermion ... --json` command and return its parsed output."""
    out = subprocess.run(
        fermion_cmd(*args, "--data-dir", str(data_dir), "--json"),
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return json.loads(out.stdout)


@dataclass
class FermionProcess:
    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=lambda: {"FERMION_CONFIG_CACHE_TTL_S": "0.3"})
    proc: subprocess.Popen[bytes] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if SCALE_OUT and not (self.data_dir / "fermion.toml").exists():
            self.env = {**write_scale_out_config(self.data_dir), **self.env}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> dict[str, Any]:
        self.info = run_cli(self.data_dir, "init", "--port", str(self.port), env=self.env)
        return self.info

    def start(self, *extra: str) -> None:
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - kept open for the process
        self.proc = subprocess.Popen(
            fermion_cmd("serve", "--data-dir", str(self.data_dir), "--port", str(self.port), *extra),
            env={**os.environ, **self.env},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fermion exited: {(self.data_dir / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("fermion did not start in 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the whole process group (API process and its worker): a crash, not a shutdown."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    # Convenience accessors over the `init --json` output.
    @property
    def workspace_id(self) -> int:
        return int(self.info["workspace_id"])

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info['admin_token']}"}

    def input_creds(self, platform: str = "custom") -> tuple[str, str]:
        for inp in self.info["inputs"]:
            if inp["platform"] == platform:
                return inp["key"], inp["secret"]
        raise KeyError(platform)

    def events(self, **params: Any) -> list[dict[str, Any]]:
        r = httpx.get(
            f"{self.base_url}/api/v1/workspaces/{self.workspace_id}/events",
            params=params,
            headers=self.admin_headers,
            timeout=30,
        )
        r.raise_for_status()
        events: list[dict[str, Any]] = r.json()["events"]
        return events

    def wait_for_events(self, count: int, timeout_s: float = 30, **params: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        events = self.events(**params)
        while len(events) < count and time.monotonic() < deadline:
            time.sleep(0.1)
            events = self.events(**params)
        return events
