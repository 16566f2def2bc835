"""Contract for the Archive port: durable appends per workspace and day, progress, torn-write repair."""

from __future__ import annotations

from pathlib import Path

from fermion.adapters.archive_fs import FileArchive


def test_append_read_and_progress(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    assert archive.progress() == {}
    archive.append(1, {"2026-11-21": [b'{"a":1}'], "2026-11-22": [b'{"b":2}', b'{"c":3}']}, last_seq=3)
    archive.append(2, {"2026-11-22": [b'{"d":4}']}, last_seq=9)
    archive.append(1, {"2026-11-22": [b'{"e":5}']}, last_seq=4)
    assert archive.progress() == {1: 4, 2: 9}
    assert archive.read_day(1, "2026-11-22") == [b'{"b":2}', b'{"c":3}', b'{"e":5}']
    assert archive.read_day(1, "2026-11-21") == [b'{"a":1}']
    assert archive.read_day(3, "2026-11-22") == []
    reopened = FileArchive(tmp_path)
    assert reopened.progress() == {1: 4, 2: 9}
    assert reopened.read_day(2, "2026-11-22") == [b'{"d":4}']


def test_a_torn_write_is_cut_back_on_reopen(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    archive.append(1, {"2026-11-22": [b'{"a":1}']}, last_seq=1)
    # A crash after writing lines but before recording progress leaves uncommitted bytes behind.
    with open(tmp_path / "1" / "2026-11-22.ndjson", "ab") as fh:
        fh.write(b'{"half":')
    reopened = FileArchive(tmp_path)
    assert reopened.progress() == {1: 1}
    assert (tmp_path / "1" / "2026-11-22.ndjson").read_bytes() == b'{"a":1}\n'
    reopened.append(1, {"2026-11-22": [b'{"b":2}']}, last_seq=2)
    assert reopened.read_day(1, "2026-11-22") == [b'{"a":1}', b'{"b":2}']
