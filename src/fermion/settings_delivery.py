"""Delivery settings (retries, backoff, polling, AWS endpoint, the secrets key), from FERMION_DELIVERY_*
variables (FERMION_DELIVERY_MAX_ATTEMPTS, ..._BACKOFF_BASE_S, ...), FERMION_AWS_ENDPOINT_URL,
FERMION_SECRET_KEY, or a [delivery] table in the TOML settings file."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Variables whose names do not follow FERMION_DELIVERY_<FIELD>.
_ENV_NAMES = {"aws_endpoint_url": "FERMION_AWS_ENDPOINT_URL", "secret_key": "FERMION_SECRET_KEY"}


@dataclass(frozen=True)
class DeliverySettings:
    max_attempts: int = 10  # attempts before a batch becomes a dead letter (unless the integration says)
    backoff_base_s: float = 1.0  # first retry delay; doubles per attempt, with jitter
    backoff_max_s: float = 600.0
    max_retry_after_s: float = 3600.0  # cap on a partner's Retry-After
    poll_s: float = 0.05  # busy lanes look for new items this often (a notify wakes them sooner)
    idle_poll_s: float = 1.0
    max_batch_size: int = 0  # batches per map call for every integration; 0: each integration's own
    live_per_s: int = 20  # outbound Live Stream sample per connection and second
    done_retention_s: float = 3600.0  # how long delivered items are remembered to dedupe re-enqueues
    sender_in_worker: bool = True  # run the sender inside the worker process
    # `serve --role all`: the sender gets a process of its own (so delivery has a core of its own
    # while the worker processes); the worker wakes it with SIGUSR1 when it queued something.
    sender_process: bool = True
    aws_endpoint_url: str = ""  # S3/Firehose endpoint override (moto, MinIO, LocalStack)
    secret_key: str = ""  # Fernet key for secrets at rest; empty: <data dir>/secret.key (created)


def _parse(kind: Any, text: str) -> object:
    if kind in ("int", int):
        return int(text)
    if kind in ("float", float):
        return float(text)
    if kind in ("bool", bool):
        return text.strip().lower() in ("1", "true", "yes", "on")
    return text


def delivery_from_env(env: Mapping[str, str], base: object = None) -> DeliverySettings:
    """DeliverySettings from `base` (a [delivery] TOML table or DeliverySettings) overridden by env."""
    if isinstance(base, DeliverySettings):
        values: dict[str, object] = dataclasses.asdict(base)
    else:
        values = dict(base) if isinstance(base, Mapping) else {}
    fields = {f.name: f.type for f in dataclasses.fields(DeliverySettings)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown delivery settings {', '.join(unknown)}")
    for name, kind in fields.items():
        key = _ENV_NAMES.get(name, f"FERMION_DELIVERY_{name.upper()}")
        if key in env:
            values[name] = _parse(kind, env[key])
    return DeliverySettings(**values)  # type: ignore[arg-type]
