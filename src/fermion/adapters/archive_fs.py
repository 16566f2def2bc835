"""The daily archive on the local filesystem: <root>/<workspace>/<YYYY-MM-DD>.ndjson.

Lines are appended and fsynced before the progress file (with each file's committed length) is
replaced atomically; on start, files are cut back to their committed length, so a crash between
the two never leaves a line twice or half-written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fermion.adapters.private_files import open_private, private_dir

_STATE = "_progress.json"


class FileArchive:
    def __init__(self, root: Path) -> None:
        self._root = root
        private_dir(root)
        self._state = self._load()
        self._repair()

    def progress(self) -> dict[int, int]:
        return {int(ws): int(seq) for ws, seq in self._state["last_seq"].items()}

    def append(self, workspace_id: int, lines_by_day: dict[str, list[bytes]], last_seq: int) -> None:
        offsets: dict[str, int] = self._state["offsets"]
        for day, lines in sorted(lines_by_day.items()):
            rel = f"{workspace_id}/{day}.ndjson"
            path = self._root / rel
            private_dir(path.parent)
            with os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab") as fh:
                fh.truncate(offsets.get(rel, 0))
                fh.seek(offsets.get(rel, 0))
                if lines:  # one write for the chunk's lines, not two per line
                    fh.write(b"\n".join(lines))
                    fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
                offsets[rel] = fh.tell()
        self._state["last_seq"][str(workspace_id)] = last_seq
        self._save()

    def read_day(self, workspace_id: int, day: str) -> list[bytes]:
        rel = f"{workspace_id}/{day}.ndjson"
        path = self._root / rel
        if not path.exists():
            return []
        with open(path, "rb") as fh:
            data = fh.read(self._state["offsets"].get(rel, 0))
        return [line for line in data.split(b"\n") if line]

    def _load(self) -> dict[str, dict[str, int]]:
        path = self._root / _STATE
        if not path.exists():
            return {"last_seq": {}, "offsets": {}}
        loaded: dict[str, dict[str, int]] = json.loads(path.read_text())
        return loaded

    def _save(self) -> None:
        tmp = self._root / (_STATE + ".tmp")
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as fh:
            json.dump(self._state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._root / _STATE)
        dir_fd = os.open(self._root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _repair(self) -> None:
        for rel, size in self._state["offsets"].items():
            path = self._root / rel
            if path.exists() and path.stat().st_size > size:
                with open(path, "r+b") as fh:
                    fh.truncate(size)
