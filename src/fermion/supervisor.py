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
        """Call from the main thread (it sets a signal disposition)."""
        settings, apart = self._settings, {"FERMION_DELIVERY_SENDER_IN_WORKER": "0"}
        # A sender ignores SIGUSR1 (inherited through exec) until its handler is in place: a worker
        # may wake it before then, and the default action would end it. Set once, here, for this
        # process's lifetime: a sender restarted later is started by the watcher thread, and only the
        # main thread may change a signal's disposition. This process has no use for SIGUSR1.
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        sender = None
        if settings.delivery.sender_process:
            sender = _Child("sender", {}, self._popen("sender", {}))
            apart["FERMION_SENDER_PID"] = str(sender.proc.pid)
        workers = []
        for lane in range(settings.workers):
            # Without a sender process the first worker delivers too.
            extra = {**(apart if sender is not None or lane else {}), "FERMION_WORKER_LANE": str(lane)}
            workers.append(_Child("worker", extra, self._popen("worker", extra)))
        # Workers first: each finishes its group before the sender stops.
        self._children = [*workers, *([sender] if sender is not None else [])]
        threading.Thread(target=self._watch, name="supervisor", daemon=True).start()

    def stop(self) -> None:
        with self._lock:  # no restart once this returns
            self._stopping.set()
        for child in self._children:
            child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout=_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                child.proc.kill()

    def _popen(self, role: str, extra: dict[str, str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "fermion.cli", "serve", "--role", role]
        return subprocess.Popen(command, env={**self._base_env, **extra})

    def _watch(self) -> None:
        while not self._stopping.wait(_CHECK_EVERY_S):
            for child in self._children:
                if child.proc.poll() in (None, 0):
                    continue
                with self._lock:
                    if self._stopping.is_set():
                        return
                    log.error(
                        "the %s process (pid %d) exited with %s; starting it again",
                        child.name,
                        child.proc.pid,
                        child.proc.returncode,
                    )
                    # A restarted sender has a new pid: workers then stop waking it (their sibling
                    # check fails) and its lanes fall back to polling.
                    try:
                        child.proc = self._popen(child.name, child.env)
                    except OSError:  # out of processes or memory for now: try again next round
                        log.exception("could not start the %s process", child.name)
