"""One Fermion server per test module: started in a fresh directory before the module's first test and
stopped after its last (in scale-out mode too: FermionProcess adds the cluster's settings)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from support.fermion_proc import FermionProcess


@contextmanager
def serving(proc: FermionProcess) -> Iterator[FermionProcess]:
    """`proc` initialised and started; stopped when the block ends, whatever happened in it."""
    proc.init()
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def module_server(
    name: str, env: Mapping[str, str] | None = None, *, more_env: Mapping[str, str] | None = None
) -> Any:
    """A module-scoped fixture (named after the variable it is assigned to) yielding a running Fermion in
    `tmp_path_factory.mktemp(name)`. `env` replaces FermionProcess's default environment (its short
    config cache TTL); `more_env` is added on top of the default."""

    @pytest.fixture(scope="module")
    def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FermionProcess]:
        directory = tmp_path_factory.mktemp(name)
        proc = FermionProcess(directory) if env is None else FermionProcess(directory, env=dict(env))
        if more_env:
            proc.env = {**proc.env, **more_env}
        with serving(proc):
            yield proc

    return running
