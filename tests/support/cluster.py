"""A Fermion cluster of separate role processes, started with the README's "Running at scale" commands.

Each process gets its own data directory, as it would on its own machine; they share only PostgreSQL
and NATS (passed in `env`). Used by tests/scaleout and bench/scale.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.fermion_proc import free_port


@dataclass
class RoleProcess:
    name: str
    role: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]  # FERMION_DATABASE_URL, FERMION_NATS_URL, FERMION_NATS_STREAM, ...
    processes: dict[str, RoleProcess] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def _run_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def init(self) -> dict[str, Any]:
        """`fermion init --json`: migrate the database, create the demo workspace, print credentials."""
        data_dir = self.root / "init"
        out = subprocess.run(
            [sys.executable, "-m", "fermion.cli", "init", "--data-dir", str(data_dir), "--json"],
            check=True,
            capture_output=True,
            text=True,
            env=self._run_env(),
            timeout=120,
        )
        self.info = json.loads(out.stdout)
        return self.info

    def start(self, name: str, role: str, port: int | None = None, wait: bool = True) -> RoleProcess:
        """`fermion serve --role <role> --port <port>` in the process's own data directory."""
        rp = self.processes.get(name) or RoleProcess(name, role, port or free_port(), self.root / name)
        rp.data_dir.mkdir(parents=True, exist_ok=True)
        data_dir = ("--data-dir", str(rp.data_dir))
        log = open(rp.data_dir / "server.log", "ab")  # noqa: SIM115 - kept open for the process
        rp.proc = subprocess.Popen(
            [sys.executable, "-m", "fermion.cli", "serve", "--role", role, "--port", str(rp.port), *data_dir],
            env=self._run_env(),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self.processes[name] = rp
        if wait:
            self.wait_ready(rp)
        return rp

    def wait_ready(self, rp: RoleProcess, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert rp.proc is not None
            if rp.proc.poll() is not None:
                raise RuntimeError(f"{rp.name} exited: {(rp.data_dir / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{rp.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{rp.name} was not ready in {timeout_s} s")

    def kill(self, name: str) -> None:
        """SIGKILL: a crash."""
        rp = self.processes[name]
        if rp.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rp.proc.pid, signal.SIGKILL)
            rp.proc.wait(timeout=30)
            rp.proc = None

    def stop(self, name: str, timeout_s: float = 30) -> int | None:
        """SIGTERM and wait: a graceful shutdown. Returns the exit code."""
        rp = self.processes[name]
        code = None
        if rp.proc is not None and rp.proc.poll() is None:
            rp.proc.send_signal(signal.SIGTERM)
            try:
                code = rp.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill(name)
        rp.proc = None
        return code

    def restart(self, name: str) -> None:
        rp = self.processes[name]
        self.stop(name)
        self.start(name, rp.role, rp.port)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def input_creds(self) -> tuple[str, str]:
        inp = next(i for i in self.info["inputs"] if i["platform"] == "custom")
        return inp["key"], inp["secret"]

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info['admin_token']}"}
