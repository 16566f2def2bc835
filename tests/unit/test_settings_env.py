"""Settings that only FERMION_* variables set (read by the settings object, nowhere else)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fermion.settings import from_env


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CALCULATED_MAX_ACTIVE", "AUDIENCE_RECHECK_S", "SUPERVISED", "SENDER_PID"):
        monkeypatch.delenv(f"FERMION_{name}", raising=False)
    settings = from_env(data_dir=tmp_path)
    assert (settings.calculated_max_active, settings.audience_recheck_s) == (200, 30.0)
    assert (settings.supervisor_pid, settings.sender_pid) == (None, None)


def test_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERMION_CALCULATED_MAX_ACTIVE", " 3 ")
    monkeypatch.setenv("FERMION_AUDIENCE_RECHECK_S", "0.5")
    monkeypatch.setenv("FERMION_SUPERVISED", "4242")
    monkeypatch.setenv("FERMION_SENDER_PID", "4343")
    settings = from_env(data_dir=tmp_path)
    assert (settings.calculated_max_active, settings.audience_recheck_s) == (3, 0.5)
    assert (settings.supervisor_pid, settings.sender_pid) == (4242, 4343)


@pytest.mark.parametrize(("max_active", "supervised"), [("many", "1"), ("", "x"), ("-1", "0")])
def test_values_that_are_not_numbers_keep_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_active: str, supervised: str
) -> None:
    monkeypatch.setenv("FERMION_CALCULATED_MAX_ACTIVE", max_active)
    monkeypatch.setenv("FERMION_SUPERVISED", supervised)  # 0 and 1 are no supervisor's pid
    settings = from_env(data_dir=tmp_path)
    assert (settings.calculated_max_active, settings.supervisor_pid) == (200, None)
