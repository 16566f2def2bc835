"""The child processes of `serve --role all`: one worker per lane and the sender, each started again
if it dies (a crashed worker would otherwise leave its lane's batches waiting until the next restart).
A child that exits with status 0 was told to stop (Ctrl-C reaches the whole process group): not restarted."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from fermion.settings import Settings

log = logging.getLogger(__name__)
_CHECK_EVERY_S = 1.0
_STOP_WAIT_S = 30.0


@dataclass
class _Child:
    name: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes]


class Supervisor:
    """Starts the children, restarts any that exits while running, and stops them in order."""

    def __init__(self, settings: Settings, config: Path | None) -> None:
        env = {
            **os.environ,
            "FERMION_SUPERVISED": str(os.getpid()),
            "FERMION_DATA_DIR": str(settings.data_dir),
        }
        if config is not None:
            env["FERMION_CONFIG"] = str(config.resolve())
        if settings.database_url:
            env["FERMION_DATABASE_URL"] = settings.database_url
        env["FERMION_WORKERS"] = str(settings.workers)
        self._base_env = env
        self._children: list[_Child] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._settings = settings

    def start(self) -> None:
        settings, apart = self._settings, {"FERMION_DELIVERY_SENDER_IN_WORKER": "0"}
        if settings.delivery.sender_process:
            sender = self._spawn("sender", {})
            apart["FERMION_SENDER_PID"] = str(sender.proc.pid)
        for lane in range(settings.workers):
            # Without a sender process the first worker delivers too.
            extra = apart if settings.delivery.sender_process or lane else {}
            self._spawn("worker", {**extra, "FERMION_WORKER_LANE": str(lane)})
        # Workers first: each finishes its group before the sender stops.
        self._children.sort(key=lambda c: c.name != "worker")
        threading.Thread(target=self._watch, name="supervisor", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout=_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                child.proc.kill()

    def _spawn(self, role: str, extra: dict[str, str]) -> _Child:
        env = {**self._base_env, **extra}
        command = [sys.executable, "-m", "fermion.cli", "serve", "--role", role]
        # The sender ignores SIGUSR1 (inherited through exec) until its handler is in place: a worker
        # may wake it before then, and the default action would end it.
        previous = signal.signal(signal.SIGUSR1, signal.SIG_IGN) if role == "sender" else None
        try:
            child = _Child(role, extra, subprocess.Popen(command, env=env))
        finally:
            if previous is not None:
                signal.signal(signal.SIGUSR1, previous)
        with self._lock:
            self._children.append(child)
        return child

    def _watch(self) -> None:
        while not self._stopping.wait(_CHECK_EVERY_S):
            with self._lock:
                exited = [c for c in self._children if c.proc.poll() not in (None, 0)]
            for child in exited:
                if self._stopping.is_set():
                    return
                log.error(
                    "the %s process (pid %d) exited with %s; starting it again",
                    child.name,
                    child.proc.pid,
                    child.proc.returncode,
                )
                with self._lock:
                    self._children.remove(child)
                # A restarted sender has a new pid: workers then stop waking it (their sibling check
                # fails) and its lanes fall back to polling.
                replacement = self._spawn(child.name, child.env)
                with self._lock:
                    self._children.remove(replacement)
                    self._children.insert(0 if child.name == "worker" else len(self._children), replacement)
