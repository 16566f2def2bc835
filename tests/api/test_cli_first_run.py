"""The first hour with the CLI: it finds the data directory the server uses, refuses to invent an empty
one, and the start banner names everything the quick start needs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fermion.settings import locate_data_dir
from support.fermion_proc import fermion_cmd


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FERMION_")}
    return subprocess.run(
        fermion_cmd(*args), cwd=cwd, capture_output=True, text=True, env={**clean, **env}, timeout=120
    )


def test_locate_data_dir_prefers_here_then_parents_then_beside_the_virtualenv(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".venv").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere" / "deep"
    elsewhere.mkdir(parents=True)
    assert locate_data_dir(elsewhere, checkout / ".venv") == Path(".fermion")
    (checkout / ".fermion").mkdir()
    assert locate_data_dir(elsewhere, checkout / ".venv") == checkout / ".fermion"
    (tmp_path / "elsewhere" / ".fermion").mkdir()
    assert locate_data_dir(elsewhere, checkout / ".venv") == tmp_path / "elsewhere" / ".fermion"
    (elsewhere / ".fermion").mkdir()
    assert locate_data_dir(elsewhere, checkout / ".venv") == Path(".fermion")


def test_commands_find_the_servers_data_dir_from_a_subfolder(tmp_path: Path) -> None:
    init = _run(tmp_path, "init")
    assert init.returncode == 0, init.stderr
    banner = init.stdout
    for part in ("Organization 1, account 1, workspace 1", "/userprofile/v1/1/1/1/{mpid}", "/docs"):
        assert part in banner, part
    assert "credentials create --workspace 1 --json" in banner
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    listed = _run(sub, "workspaces", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"Demo Workspace"' in listed.stdout
    assert not (sub / ".fermion").exists()


def test_a_folder_without_a_database_is_refused_not_created(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    got = _run(tmp_path, "inputs", "list", "--json", FERMION_DATA_DIR=str(empty))
    assert got.returncode == 2
    assert "no Fermion database" in got.stderr
    assert not empty.exists()
    named = _run(tmp_path, "workspaces", "list", "--data-dir", str(empty))
    assert named.returncode == 2
    assert not empty.exists()
