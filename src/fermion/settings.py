"""Fermion's runtime settings, built once by the CLI from flags and FERMION_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Events API limits (spec 1.3): answered with 413 and an errors body when exceeded."""

    max_request_bytes: int = 256 * 1024
    max_batch_bytes: int = 128 * 1024
    max_batches_per_request: int = 100
    # /v2/bulkevents/historical only takes events at least this old (spec 1.1).
    historical_min_age_ms: int = 72 * 3600 * 1000


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".fermion")
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = ""  # empty: SQLite file in data_dir
    limits: Limits = field(default_factory=Limits)
    # How long the API trusts its cached copy of workspace settings (rate limits) before re-reading.
    config_cache_ttl_s: float = 5.0

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'fermion.db').resolve()}"

    @property
    def inbound_path(self) -> Path:
        return self.data_dir / "inbound.db"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def from_env(**overrides: object) -> Settings:
    """Settings from FERMION_* environment variables (DATA_DIR, HOST, PORT, DATABASE_URL, ...); flags win."""
    values: dict[str, object] = {}
    env = os.environ
    if "FERMION_DATA_DIR" in env:
        values["data_dir"] = Path(env["FERMION_DATA_DIR"])
    if "FERMION_HOST" in env:
        values["host"] = env["FERMION_HOST"]
    if "FERMION_PORT" in env:
        values["port"] = int(env["FERMION_PORT"])
    if "FERMION_DATABASE_URL" in env:
        values["database_url"] = env["FERMION_DATABASE_URL"]
    if "FERMION_CONFIG_CACHE_TTL_S" in env:
        values["config_cache_ttl_s"] = float(env["FERMION_CONFIG_CACHE_TTL_S"])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
