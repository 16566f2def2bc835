"""Settings: the TOML file, FERMION_* variables and flags (in rising precedence), and the scale-out switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from fermion.settings import check, from_env


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "fermion.toml"
    config.write_text(
        'database_url = "postgresql+psycopg://u@db/fermion"\nnats_url = "nats://nats:4222"\n'
        'nats_stream = "FROM_FILE"\nport = 9000\ndata_dir = "/srv/fermion"\n'
    )
    monkeypatch.setenv("FERMION_NATS_STREAM", "FROM_ENV")
    monkeypatch.setenv("FERMION_NATS_ACK_WAIT_S", "7.5")
    settings = from_env(config, port=9100)
    assert settings.scale_out
    assert settings.database_url == "postgresql+psycopg://u@db/fermion"
    assert (settings.nats_stream, settings.nats_ack_wait_s, settings.port) == ("FROM_ENV", 7.5, 9100)
    assert settings.data_dir == Path("/srv/fermion")
    check(settings)


def test_config_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "fermion.toml"
    config.write_text("nats_max_deliver = 9\n")
    monkeypatch.setenv("FERMION_CONFIG", str(config))
    assert from_env().nats_max_deliver == 9


def test_embedded_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FERMION_CONFIG", "FERMION_NATS_URL", "FERMION_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = from_env()
    assert not settings.scale_out
    assert settings.effective_database_url.startswith("sqlite:///")


def test_unknown_keys_and_scale_out_without_postgresql_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "fermion.toml"
    config.write_text('nats_urll = "nats://x"\n')
    with pytest.raises(ValueError, match="nats_urll"):
        from_env(config)
    config.write_text('nats_url = "nats://x"\n')
    with pytest.raises(ValueError, match="PostgreSQL"):
        check(from_env(config))


def test_a_fermion_toml_in_the_data_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FERMION_CONFIG", "FERMION_NATS_URL", "FERMION_DATABASE_URL", "FERMION_NATS_STREAM"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "fermion.toml").write_text(
        'database_url = "postgresql+psycopg://u@db/f"\nnats_stream = "S"\n'
    )
    monkeypatch.setenv("FERMION_NATS_STREAM", "FROM_ENV")
    settings = from_env(data_dir=tmp_path)
    assert settings.database_url == "postgresql+psycopg://u@db/f" and settings.nats_stream == "FROM_ENV"
