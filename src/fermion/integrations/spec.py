"""What an integration declares: identity, typed settings (JSON Schema), capabilities, delivery options,
and a pure `map(batches, settings) -> list[OutboundRequest]`. No I/O here or in any integration module.

Filtering, consent, commerce expansion, retries, batching windows, rate limits and secrets belong to
the platform (fermion.delivery); an integration only turns outgoing batches into requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Generic, TypeVar

import msgspec
from pydantic import BaseModel, ConfigDict, ValidationError

from fermion.integrations.secrets import MASK, Secret, secret_paths
from fermion.model.audiences import MembershipChange, decode_change
from fermion.model.batch import Batch
from fermion.model.codec import decode_batch
from fermion.model.enums import EVENT_TYPES
from fermion.model.tenancy import Platform

__all__ = [
    "ALL_EVENT_TYPES",
    "ALL_PLATFORMS",
    "LEVEL_KEY",
    "MASK",
    "AwsCredentials",
    "DeliveryOptions",
    "FirehoseRecord",
    "HttpRequest",
    "Integration",
    "IntegrationKind",
    "Level",
    "MapSettings",
    "NoSettings",
    "OutboundRequest",
    "OutgoingBatch",
    "S3Object",
    "Secret",
    "SettingError",
    "SettingsModel",
    "Skip",
    "secret_paths",
    "settings_schema",
    "validate_settings",
]

# ----------------------------------------------------------------------------------------- settings


class SettingsModel(BaseModel):
    """Base of every settings model: unknown keys are errors; give each field a `description` (help)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoSettings(SettingsModel):
    """For integrations without configuration or connection settings."""


S = TypeVar("S", bound=SettingsModel)
O = TypeVar("O", bound=SettingsModel)  # noqa: E741 - output settings
C = TypeVar("C", bound=SettingsModel)  # connection settings


@dataclass(frozen=True)
class SettingError:
    field: str  # e.g. "settings.bucket_name"
    message: str


class Level(StrEnum):
    """Where a setting is set: once on the output (shared by its connections), or on each connection."""

    OUTPUT = "output"
    CONNECTION = "connection"


LEVEL_KEY = "x-fermion-level"  # JSON Schema extension: the Level of the schema and of each property


def settings_schema(
    model: type[SettingsModel], level: Level | None = None, integration: str = ""
) -> dict[str, Any]:
    """The JSON Schema the API and dashboard render (secrets: `format: password`, `writeOnly`). With a
    level, the schema and each property carry it (`x-fermion-level`) and the description says it."""
    schema = model.model_json_schema()
    if level is None:
        return schema
    where = (
        "set once on the output (shared by all its connections)"
        if level is Level.OUTPUT
        else "set on each connection"
    )
    schema[LEVEL_KEY] = level.value
    schema["title"] = f"{integration} {level.value} settings".strip()
    schema["description"] = f"{level.value.capitalize()} settings: {where}."
    for prop in schema.get("properties", {}).values():
        prop[LEVEL_KEY] = level.value
    return schema


def validate_settings(
    model: type[S],
    raw: Mapping[str, Any],
    prefix: str = "settings",
    unknown: Callable[[str], str] | None = None,
) -> S | list[SettingError]:
    """The validated settings, or every problem, each naming its field (`settings.bucket_name`).
    `unknown(name)` words the error of a setting the model does not have (e.g. where it belongs)."""
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        errors: list[SettingError] = []
        for err in exc.errors():
            loc = err.get("loc", ())
            path = ".".join(str(p) for p in loc)
            message = str(err.get("msg", "invalid"))
            if unknown is not None and err.get("type") == "extra_forbidden" and len(loc) == 1:
                message = unknown(str(loc[0]))
            errors.append(SettingError(f"{prefix}.{path}" if path else prefix, message))
        return errors


# ----------------------------------------------------------------------------------- batches in


class OutgoingBatch(msgspec.Struct, frozen=True, kw_only=True):
    """One batch on its way to one connection, after the platform's connection stages (filters,
    consent, expansion). `payload` is the outgoing batch JSON (the stored format); for an audience
    connection it is one encoded MembershipChange (`as_change`; `batch_id` is its change_id)."""

    batch_id: int
    workspace_id: int
    input_id: int
    environment: str
    mpid: int
    received_ms: int
    payload: bytes

    def as_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = msgspec.json.decode(self.payload)
        return value

    def as_batch(self) -> Batch:
        return decode_batch(self.payload)

    def as_change(self) -> MembershipChange:
        return decode_change(self.payload)


@dataclass(frozen=True)
class MapSettings(Generic[O, C]):
    """What `map` may know besides the batches. `now_ms` and `group_key` are given (never read from a
    clock or a random source) so `map` stays pure and a retried group maps to the same requests."""

    output: O
    connection: C
    workspace_id: int
    output_id: int
    connection_id: int
    now_ms: int
    group_key: str  # stable for the same set of batches: use it for object names and dedupe keys
    # The name of the input the connection forwards (the app, in the reference's words); "" for an
    # audience connection. Fermion keeps an input's connections' copies current (config_cache_ttl_s).
    input_name: str = ""


# ---------------------------------------------------------------------------------- requests out


class AwsCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """User-based AWS credentials; omit them (None on the request) to use the sender's default chain."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"AwsCredentials(access_key_id={self.access_key_id!r}, secret_access_key={MASK!r})"


class HttpRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An HTTP call. 2xx is success; 429, 5xx and timeouts are retried (honouring Retry-After); any
    other status is a permanent error (dead letter). `dedupe_key` is stable across retries."""

    method: str
    url: str
    headers: dict[str, str] = {}
    body: bytes = b""
    dedupe_key: str = ""
    # The batches this request carries; empty means all of the group. Lets the platform finish the
    # batches whose requests succeeded and retry only the others.
    batch_ids: tuple[int, ...] = ()


class S3Object(msgspec.Struct, frozen=True, kw_only=True):
    """A PutObject. Keys should derive from MapSettings.group_key so retries overwrite, not duplicate."""

    bucket: str
    key: str
    body: bytes
    region: str = "us-east-1"
    content_type: str = "text/plain"
    content_encoding: str | None = None
    sse: str | None = None  # "AES256" or "aws:kms"
    sse_kms_key_id: str | None = None
    credentials: AwsCredentials | None = None
    batch_ids: tuple[int, ...] = ()
    # A custom S3 endpoint (S3-compatible stores, a local moto server in tests); None: AWS.
    endpoint_url: str | None = None

    @property
    def dedupe_key(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class FirehoseRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One Kinesis Data Firehose PutRecord. `data` is the raw record (base64 on the wire, by boto3)."""

    stream: str
    data: bytes
    region: str = "us-east-1"
    credentials: AwsCredentials | None = None
    dedupe_key: str = ""
    batch_ids: tuple[int, ...] = ()
    # A custom Firehose endpoint (LocalStack, a local moto server in tests); None: AWS.
    endpoint_url: str | None = None


OutboundRequest = HttpRequest | S3Object | FirehoseRecord


# ------------------------------------------------------------------------------------ integration


class IntegrationKind(StrEnum):
    EVENT = "event"
    AUDIENCE = "audience"
    DSR = "dsr"
    FEED = "feed"


ALL_EVENT_TYPES: frozenset[str] = EVENT_TYPES
# Platform inputs plus "feed" (batches from partner feed inputs).
ALL_PLATFORMS: frozenset[str] = frozenset(p.value for p in Platform) | {"feed"}


@dataclass(frozen=True)
class DeliveryOptions:
    """What the platform honours for this integration (each may be overridden platform-wide)."""

    # Expand commerce events (one event per product, ...) before map; the stage is a platform hook.
    wants_commerce_expansion: bool = False
    # Queued batches of one connection wait up to this long to be mapped together (0: send at once).
    batch_window_ms: int = 0
    # At most this many batches per map call (one group).
    max_batch_size: int = 100
    # Requests per second to the partner, per output configuration (0: unlimited).
    rate_limit_per_s: float = 0.0
    # Requests in flight at once per connection.
    max_concurrency: int = 8
    timeout_s: float = 10.0
    # Attempts before a batch becomes a dead letter (None: the platform default).
    max_attempts: int | None = None
    # Forward batches that carry no events (e.g. user attribute updates only).
    send_batches_without_events: bool = True


Mapper = Callable[[Sequence[OutgoingBatch], MapSettings[O, C]], list[OutboundRequest]]


@dataclass(frozen=True)
class Skip:
    """Why an output cannot take a batch under its settings (e.g. no identity to send it under).
    `reason` is a short code (System Alerts' alert type, at most 32 characters); `message` says why."""

    reason: str
    message: str


# (batch after the connection stages, output settings, connection settings) -> Skip or None.
Skipper = Callable[[Batch, O, C], Skip | None]


@dataclass(frozen=True)
class Integration(Generic[O, C]):
    """One partner. Register it in fermion.integrations.registry.

    `map` must be pure and deterministic: same batches and settings, same requests.
    `event_types`: which event types it accepts (events of other types are removed before map).
    `platforms`: which inputs it may be connected to (a platform value or "feed").
    """

    id: str
    name: str
    kind: IntegrationKind
    settings: type[O]
    connection_settings: type[C]
    map: Mapper[O, C]
    event_types: frozenset[str] = ALL_EVENT_TYPES
    platforms: frozenset[str] = ALL_PLATFORMS
    options: DeliveryOptions = field(default_factory=DeliveryOptions)
    description: str = ""
    # Options that depend on a connection's settings (e.g. S3 "Send as Batch" sets the batching
    # window); None: `options` for every connection.
    connection_options: Callable[[C], DeliveryOptions] | None = None
    # Options that depend on the output's settings (e.g. a bulk window and batch size per output);
    # applied by the platform through `for_output` before connection_options.
    output_options: Callable[[O], DeliveryOptions] | None = None
    # Batches the output cannot take (a missing identity, ...): the platform asks before queueing a
    # batch (after the connection stages, on the profile-enriched batch) and counts each one skipped
    # in the forwarding report and System Alerts instead of leaving `map` to drop it unseen.
    skip: Skipper[O, C] | None = None

    def for_output(self, output_settings: O) -> Integration[O, C]:
        """This integration with `options` as the output's settings make them."""
        if self.output_options is None:
            return self
        return replace(self, options=self.output_options(output_settings))

    def options_for(self, connection_settings: C) -> DeliveryOptions:
        if self.connection_options is None:
            return self.options
        return self.connection_options(connection_settings)

    def validate_output_settings(
        self, raw: Mapping[str, Any], prefix: str = "settings"
    ) -> O | list[SettingError]:
        """The output's settings validated; a connection setting given here says so."""
        return validate_settings(self.settings, raw, prefix, self._unknown(Level.OUTPUT))

    def validate_connection_settings(
        self, raw: Mapping[str, Any], prefix: str = "settings"
    ) -> C | list[SettingError]:
        """A connection's settings validated; an output setting given here says so."""
        return validate_settings(self.connection_settings, raw, prefix, self._unknown(Level.CONNECTION))

    def _unknown(self, level: Level) -> Callable[[str], str]:
        """Words the error of a setting that `level` does not have: the other level's, or unknown."""
        other = Level.CONNECTION if level is Level.OUTPUT else Level.OUTPUT
        there = self.connection_settings if other is Level.CONNECTION else self.settings

        def message(name: str) -> str:
            if name in there.model_fields:
                return (
                    f"{name} is a{'n' if other is Level.OUTPUT else ''} {other.value} setting of "
                    f"{self.name}; set it on the {other.value}, not the {level.value}"
                )
            return f"{name} is not a setting of {self.name} (neither of the output nor of a connection)"

        return message

    def describe(self) -> dict[str, Any]:
        """The integration as the API lists it (settings as JSON Schema)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "description": self.description,
            "event_types": sorted(self.event_types),
            "platforms": sorted(self.platforms),
            "settings_schema": settings_schema(self.settings, Level.OUTPUT, self.name),
            "connection_settings_schema": settings_schema(
                self.connection_settings, Level.CONNECTION, self.name
            ),
            "options": {
                "wants_commerce_expansion": self.options.wants_commerce_expansion,
                "batch_window_ms": self.options.batch_window_ms,
                "max_batch_size": self.options.max_batch_size,
                "rate_limit_per_s": self.options.rate_limit_per_s,
                "max_concurrency": self.options.max_concurrency,
                "timeout_s": self.options.timeout_s,
                "max_attempts": self.options.max_attempts,
                "send_batches_without_events": self.options.send_batches_without_events,
            },
        }
