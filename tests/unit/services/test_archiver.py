"""Archiver: stored batches land in their workspace's UTC-day files in seq order, once each."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fermion.adapters.archive_fs import FileArchive
from fermion.services import archive as archive_module
from fermion.services.archive import Archiver, lines_by_day

DAY = 86_400_000
MIDNIGHT = 1_763_769_600_000  # 2025-11-22T00:00:00Z


class FakeEvents:
    """archive_rows over (workspace, seq, received_ms, payload) tuples."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, bytes]] = []
        self.reads = 0

    def add(self, workspace_id: int, received_ms: int, payload: bytes) -> None:
        self.rows.append((workspace_id, len(self.rows) + 1, received_ms, payload))

    def archive_rows(self, workspace_id: int, after_seq: int, limit: int) -> list[tuple[int, int, bytes]]:
        self.reads += 1
        found = [(s, r, p) for ws, s, r, p in self.rows if ws == workspace_id and s > after_seq]
        return found[:limit]


def utc_day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d")


def archiver(tmp_path: Path, events: FakeEvents, workspaces: list[int]) -> Archiver:
    config: Any = SimpleNamespace(list_workspaces=lambda: [SimpleNamespace(id=w) for w in workspaces])
    return Archiver(config, events, FileArchive(tmp_path))  # type: ignore[arg-type]


def test_batches_go_to_their_day_in_seq_order_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_module, "_CHUNK", 3)
    events = FakeEvents()
    times = [MIDNIGHT - 1, MIDNIGHT, MIDNIGHT - 5, MIDNIGHT + DAY + 7, MIDNIGHT + 1, 0, MIDNIGHT + 2]
    for n, ms in enumerate(times):
        events.add(1 + n % 2, ms, b'{"n":%d}' % n)
    run = archiver(tmp_path, events, [1, 2, 3])
    assert run.run_once() == len(times)
    assert run.run_once() == 0
    expected: dict[tuple[int, str], list[bytes]] = {}
    for ws, _seq, ms, payload in events.rows:
        expected.setdefault((ws, utc_day(ms)), []).append(payload)
    written = {(int(path.parent.name), path.stem): path.read_bytes() for path in tmp_path.glob("*/*.ndjson")}
    assert written == {key: b"".join(line + b"\n" for line in lines) for key, lines in expected.items()}
    events.add(2, MIDNIGHT + 3, b'{"n":"late"}')
    reopened = archiver(tmp_path, events, [1, 2, 3])  # progress survives a restart
    assert reopened.run_once() == 1
    assert FileArchive(tmp_path).read_day(2, "2025-11-22")[-2:] == [b'{"n":1}', b'{"n":"late"}']


def test_lines_by_day_keeps_row_order_within_each_day() -> None:
    rows = [
        (1, MIDNIGHT, b"a"),
        (2, MIDNIGHT - 1, b"b"),
        (3, MIDNIGHT + 9, b"c"),
        (4, MIDNIGHT - DAY - 1, b"d"),
    ]
    assert lines_by_day(rows) == {"2025-11-22": [b"a", b"c"], "2025-11-21": [b"b"], "2025-11-20": [b"d"]}
    assert lines_by_day([]) == {}
