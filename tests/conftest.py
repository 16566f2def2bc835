"""Shared fixtures: a real Fermion server subprocess per test module, and the canonical batch fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.fermion_proc import FermionProcess


@pytest.fixture(scope="module")
def fermion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FermionProcess]:
    server = FermionProcess(tmp_path_factory.mktemp("fermion"))
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()
