"""Files and directories Fermion creates are readable by their owner only (0600 / 0700): the
databases, the inbound log, archives and keys hold personal data and credentials. Existing files
made readable by others (by older versions) are tightened when opened."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents with mode 0700 (parents that exist are left alone)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            directory.mkdir(mode=DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists with mode 0600 before a library (SQLite) creates it with 0644; SQLite
    gives its -wal and -shm files the main file's mode."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            os.fchmod(fd, FILE_MODE)
    except PermissionError:  # not ours to change (e.g. a shared deployment set it up)
        pass
    finally:
        os.close(fd)
    return path


def open_private(path: Path, flags: int) -> int:
    """os.open that creates the file with mode 0600."""
    return os.open(path, flags, FILE_MODE)


def private_sqlite(path: Path) -> Path:
    """`private_file` for a SQLite database and the files next to it (-wal, -shm, -journal, the
    writers lock) it may already have."""
    for companion in ("-wal", "-shm", "-journal", "-writers.lock"):
        other = path.with_name(path.name + companion)
        if other.exists():
            with contextlib.suppress(PermissionError, FileNotFoundError):
                if other.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                    other.chmod(FILE_MODE)
    return private_file(path)
