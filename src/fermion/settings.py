"""Fermion's runtime settings, built once by the CLI from flags, FERMION_* environment variables and an
optional TOML file (--config, else <data_dir>/fermion.toml; flags win over variables over the file)."""

from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fermion.settings_delivery import DeliverySettings, delivery_from_env
from fermion.settings_http import HttpSettings, http_from_env


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
    # Scale-out mode: set both (PostgreSQL for all state, NATS JetStream for the inbound log).
    nats_url: str = ""  # empty: the embedded SQLite inbound log in data_dir
    nats_stream: str = "FERMION_INBOUND"
    nats_ack_wait_s: float = 30.0
    nats_max_deliver: int = 5
    limits: Limits = field(default_factory=Limits)
    # How long the API trusts its cached copy of workspace settings (rate limits) before re-reading.
    config_cache_ttl_s: float = 5.0
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    # Processing worker processes that `serve --role all` starts. Embedded, they split the inbound log
    # into that many lanes by sender (fermion.identity.lanes); `worker_lane` is the one a worker takes.
    workers: int = 1
    worker_lane: int = 0
    # Profile API requests per second per workspace (spec 3: 15 by default; 0 turns the limit off).
    profile_api_requests_per_s: int = 15
    # Body caps, connection timeouts, the access log (FERMION_HTTP_*, FERMION_ACCESS_LOG).
    http: HttpSettings = field(default_factory=HttpSettings)
    # Active calculated attributes a workspace may have (FERMION_CALCULATED_MAX_ACTIVE).
    calculated_max_active: int = 200
    # Seconds between a worker's re-checks of expiring audience windows and calculations
    # (FERMION_AUDIENCE_RECHECK_S).
    audience_recheck_s: float = 30.0
    # Set by `serve --role all` for the worker and sender it starts (FERMION_SUPERVISED,
    # FERMION_SENDER_PID): the pid of the process whose exit stops them, and the sender's pid.
    supervisor_pid: int | None = None
    sender_pid: int | None = None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'fermion.db').resolve()}"

    @property
    def scale_out(self) -> bool:
        return bool(self.nats_url)

    @property
    def inbound_path(self) -> Path:
        return self.data_dir / "inbound.db"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


# FERMION_<NAME> variables and TOML keys for the scale-out settings (same names as the fields).
_SCALE_OUT_FIELDS = ("nats_url", "nats_stream", "nats_ack_wait_s", "nats_max_deliver")


CONFIG_FILE = "fermion.toml"
DATA_DIR_NAME = ".fermion"


def _from_file(path: Path) -> dict[str, object]:
    """Top-level keys of a TOML file named like the Settings fields (data_dir, database_url, nats_url...)."""
    with open(path, "rb") as fh:
        raw: dict[str, Any] = tomllib.load(fh)
    # Plain top-level values only (nested groups such as limits keep their own sources).
    fields = {
        f.name for f in dataclasses.fields(Settings) if f.type in ("str", "int", "float", "bool", "Path")
    }
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"{path}: unknown settings {', '.join(unknown)}")
    return {k: Path(v) if k == "data_dir" else v for k, v in raw.items()}


def check(settings: Settings) -> None:
    """Reject combinations that cannot work (raises ValueError with the reason)."""
    if settings.scale_out and not settings.database_url.startswith("postgresql"):
        raise ValueError(
            "scale-out mode (nats_url) needs a PostgreSQL database_url (postgresql+psycopg://...)"
        )
    if not 1 <= settings.workers <= 64:
        raise ValueError("workers must be between 1 and 64")
    if not 0 <= settings.worker_lane < settings.workers:
        raise ValueError(f"worker_lane must be between 0 and {settings.workers - 1}")


def locate_data_dir(cwd: Path, prefix: Path) -> Path:
    """The data directory a command means when none is named: `.fermion` in the current directory
    or the nearest parent holding one (as git finds its repository), else the one beside the
    virtualenv Fermion runs from (`scripts/start` serves `<checkout>/.fermion` from `<checkout>/.venv`),
    else `.fermion` here (which `init` and `serve` create)."""
    for folder in (cwd, *cwd.parents):
        if (folder / DATA_DIR_NAME).is_dir():
            return Path(DATA_DIR_NAME) if folder == cwd else folder / DATA_DIR_NAME
    beside_venv = prefix.parent / DATA_DIR_NAME
    return beside_venv if beside_venv.is_dir() else Path(DATA_DIR_NAME)


def _internal_from_env(env: Mapping[str, str]) -> dict[str, object]:
    """The settings only the environment sets: the CA limit (a value that is not a number keeps the
    default), the audience re-check interval and the pids `serve --role all` hands its children."""
    values: dict[str, object] = {}
    max_active = env.get("FERMION_CALCULATED_MAX_ACTIVE", "").strip()
    if max_active.isdigit():
        values["calculated_max_active"] = int(max_active)
    if "FERMION_AUDIENCE_RECHECK_S" in env:
        values["audience_recheck_s"] = float(env["FERMION_AUDIENCE_RECHECK_S"])
    supervisor = env.get("FERMION_SUPERVISED", "")
    if supervisor.isdigit() and int(supervisor) > 1:
        values["supervisor_pid"] = int(supervisor)
    sender = env.get("FERMION_SENDER_PID", "")
    if sender.isdigit():
        values["sender_pid"] = int(sender)
    return values


def from_env(config: Path | None = None, **overrides: object) -> Settings:
    """Settings from the TOML file (`config` or FERMION_CONFIG), then FERMION_* environment variables
    (DATA_DIR, HOST, PORT, DATABASE_URL, NATS_URL, ...), then flags."""
    env = os.environ
    config = config or (Path(env["FERMION_CONFIG"]) if env.get("FERMION_CONFIG") else None)
    values: dict[str, object] = _from_file(config) if config is not None else {}
    types = {f.name: f.type for f in dataclasses.fields(Settings)}
    for name in _SCALE_OUT_FIELDS:
        key = f"FERMION_{name.upper()}"
        if key in env:
            kind = types[name]
            values[name] = (
                float(env[key]) if kind == "float" else int(env[key]) if kind == "int" else env[key]
            )
    if "FERMION_DATA_DIR" in env:
        values["data_dir"] = Path(env["FERMION_DATA_DIR"])
    if "FERMION_HOST" in env:
        values["host"] = env["FERMION_HOST"]
    if "FERMION_PORT" in env:
        values["port"] = int(env["FERMION_PORT"])
    if "FERMION_DATABASE_URL" in env:
        values["database_url"] = env["FERMION_DATABASE_URL"]
    for name in ("workers", "worker_lane", "profile_api_requests_per_s"):
        if f"FERMION_{name.upper()}" in env:
            values[name] = int(env[f"FERMION_{name.upper()}"])
    if "FERMION_CONFIG_CACHE_TTL_S" in env:
        values["config_cache_ttl_s"] = float(env["FERMION_CONFIG_CACHE_TTL_S"])
    values.update(_internal_from_env(env))
    values["delivery"] = delivery_from_env(env, values.get("delivery"))
    values["http"] = http_from_env(env)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data_dir" not in values:
        values["data_dir"] = locate_data_dir(Path.cwd(), Path(sys.prefix))
    if config is None:
        # Without --config, a fermion.toml in the data directory is read (lowest precedence), so every
        # command given --data-dir reaches the same stores as the server using that directory.
        local = Path(str(values.get("data_dir", Settings.data_dir))) / CONFIG_FILE
        if local.is_file():
            values = {**{k: v for k, v in _from_file(local).items() if k != "data_dir"}, **values}
    return Settings(**values)  # type: ignore[arg-type]
