"""Shared fixtures: a real Fermion server subprocess per test module, and the canonical batch fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.fermion_proc import FermionProcess

FIXTURES = Path(__file__).parent / "fixtures" / "batches"


def load_fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def all_fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.fixture(scope="module")
def fermion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FermionProcess]:
    server = FermionProcess(tmp_path_factory.mktemp("fermion"))
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()
