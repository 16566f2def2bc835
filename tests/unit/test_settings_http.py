"""HTTP settings from the environment: the access-log switch and the limits."""

from __future__ import annotations

import pytest

from fermion.settings import from_env
from fermion.settings_http import http_from_env


def test_access_log_is_on_unless_switched_off() -> None:
    assert http_from_env({}).access_log is True
    for off in ("0", "false", "off", "no"):
        assert http_from_env({"FERMION_ACCESS_LOG": off}).access_log is False
    assert http_from_env({"FERMION_ACCESS_LOG": "1"}).access_log is True


def test_limits_from_environment() -> None:
    found = http_from_env({"FERMION_HTTP_MAX_BODY_BYTES": "5", "FERMION_HTTP_BODY_TIMEOUT_S": "1.5"})
    assert found.max_body_bytes == 5 and found.body_timeout_s == 1.5


def test_settings_carry_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERMION_ACCESS_LOG", "0")
    assert from_env().http.access_log is False
