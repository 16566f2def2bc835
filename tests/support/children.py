"""The processes a running `fermion serve` started (its sender and workers), found in /proc by the
FERMION_SUPERVISED=<serve's pid> their supervisor puts in their environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from support.fermion_proc import FermionProcess


class Child(NamedTuple):
    pid: int
    cmdline: list[bytes]
    environ: list[bytes]
    state: bytes  # /proc/<pid>/stat's state: b"Z" for a zombie


def supervised_children(server: FermionProcess) -> Iterator[Child]:
    """The server's child processes; one that ends while it is being read is passed over."""
    assert server.proc is not None
    supervised = f"FERMION_SUPERVISED={server.proc.pid}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if supervised in environ:
            yield Child(int(proc.name), cmdline, environ, state)
