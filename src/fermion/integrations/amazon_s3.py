"""Amazon S3 output: outgoing batches as newline-delimited JSON files in your bucket.

Files are named `<App Name>_<UTC timestamp>_<5 digits>.txt` (`.txt.gz` when compressed), optionally
under a folder and a `YYYY-MM-DD` date folder; the app name is the connected input's name (the
batch's application_info.application_name when the input has none). Each line is one batch in the
outgoing format. The connection settings choose which events and fields are written (see
S3ConnectionSettings). Pure: the file names' digits derive from the group key, so a retried group
overwrites the same objects.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from pydantic import Field, field_validator, model_validator

from fermion.integrations.raw_batch import to_outgoing
from fermion.integrations.spec import (
    AwsCredentials,
    DeliveryOptions,
    Integration,
    IntegrationKind,
    MapSettings,
    OutboundRequest,
    OutgoingBatch,
    S3Object,
    Secret,
    SettingsModel,
)

__all__ = ["INTEGRATION", "FoldersByDate", "S3ConnectionSettings", "S3Settings", "map_batches"]

LIFECYCLE = frozenset({"session_start", "session_end", "application_state_transition", "first_run"})
PUSH = frozenset({"push_registration", "push_message", "push_reaction"})
METADATA = ("application_info", "device_info", "source_info")
# Friendly names of "Metadata Field Exclusion" (the reference names Device Name and IP Address).
EXCLUSION_ALIASES = {"ip address": "ip", "ip": "ip", "device name": "device_info.device"}
SEND_AS_BATCH_WINDOW_MS = 10 * 60 * 1000  # "(roughly) 10-minute batches per device"


class S3Settings(SettingsModel):
    """Configuration settings (per output)."""

    access_key_id: str | None = Field(
        default=None,
        max_length=128,
        description="IAM user's Access Key ID. Leave blank for the default chain.",
    )
    secret_access_key: Secret | None = Field(
        default=None, description="IAM user's Secret Access Key. Leave blank for the default chain."
    )
    region: str = Field(default="us-east-1", min_length=1, max_length=64, description="AWS Region Endpoint.")
    endpoint_url: str | None = Field(
        default=None,
        max_length=500,
        description="Custom S3 endpoint (an S3-compatible store, or a local test server). Blank: AWS.",
    )

    @model_validator(mode="after")
    def _both_keys(self) -> S3Settings:
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError("set both access_key_id and secret_access_key, or neither")
        return self


class FoldersByDate(StrEnum):
    UNSELECTED = "unselected"  # the reference default; treated as none
    NONE = "none"
    EVENT_TIME = "event_time"  # the first event's timestamp (no date folder for a batch without events)
    UPLOAD_TIME = "upload_time"  # when Fermion received the batch
    EVENT_TIME_OR_UPLOAD_TIME = "event_time_or_upload_time"


class Encryption(StrEnum):
    NONE = "None"
    AES256 = "AES256"
    KMS = "aws:kms"


class S3ConnectionSettings(SettingsModel):
    """Connection settings, as in the reference page (names in snake case)."""

    bucket_name: str = Field(min_length=3, max_length=63, description="The S3 bucket to write to.")
    folder_name: str = Field(default="", max_length=500, description="Optional folder within the bucket.")
    server_side_encryption: Encryption = Field(
        default=Encryption.NONE, description="Server side encryption method: None, AES256 or aws:kms."
    )
    kms_key_id: str | None = Field(default=None, max_length=2048, description="KMS key for aws:kms.")
    store_data_in_folders_by_date: FoldersByDate = Field(
        default=FoldersByDate.UNSELECTED, description="Sort files into YYYY-MM-DD folders by this time."
    )
    unique_id: str = Field(default="", max_length=200, description="Identifier added to every batch.")
    metadata_field_exclusion: list[str] = Field(
        default_factory=list,
        description='Metadata fields to leave out: "IP Address", "Device Name", or paths such as '
        '"device_info.http_header_user_agent".',
    )
    send_lifecycle_events: bool = Field(default=True, description="Session start/end, app state, first run.")
    send_screen_views: bool = Field(default=True, description="Screen view events.")
    send_crash_events: bool = Field(default=True, description="Crash reports.")
    send_network_performance_events: bool = Field(default=True, description="Network performance events.")
    send_custom_events: bool = Field(default=True, description="Custom app events.")
    send_push_registrations_and_receipts: bool = Field(default=True, description="Push events.")
    send_as_batch: bool = Field(
        default=True, description="Write batches gathered over ~10 minutes; off: one file per event."
    )
    batch_window_s: float = Field(
        default=SEND_AS_BATCH_WINDOW_MS / 1000,
        ge=0,
        le=3600,
        description="With Send as Batch: how long batches gather before a file is written (seconds).",
    )
    wait_for_complete_batch: bool = Field(
        default=False, description="Android: write only after the session ended (accepted; as Send as Batch)."
    )
    include_location_information: bool = Field(default=True, description="Keep event location data.")
    include_user_identities: bool = Field(default=True, description="Keep user_identities.")
    send_profile_change_events: bool = Field(default=True, description="Profile (login, logout...) events.")
    send_commerce_events: bool = Field(default=True, description="Commerce events.")
    use_compression: bool = Field(default=False, description="gzip each file (named .txt.gz).")
    include_consent_state: bool = Field(default=False, description="Keep consent_state.")
    include_metadata: bool = Field(
        default=True, description="Keep application_info, device_info, source_info."
    )
    include_user_attribute_change_events: bool = Field(default=False, description="User attribute changes.")
    include_user_identity_change_events: bool = Field(default=False, description="User identity changes.")
    send_batches_without_events: bool = Field(default=True, description="Write batches that have no events.")
    include_event_batch_location: bool = Field(
        default=False, description="Set context.location (from the first event with a location if missing)."
    )
    send_alias_requests: bool = Field(default=False, description="Write alias requests.")
    include_mp_deviceid: bool = Field(default=False, description="Keep mp_deviceid.")
    raw_data_feed: bool = Field(default=False, description="Write batches in the inbound format.")

    @field_validator("folder_name")
    @classmethod
    def _folder(cls, value: str) -> str:
        return value.strip().strip("/")

    @field_validator("metadata_field_exclusion")
    @classmethod
    def _exclusions(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for entry in value:
            path = EXCLUSION_ALIASES.get(entry.strip().lower(), entry.strip())
            head, _, tail = path.partition(".")
            if path != "ip" and (head not in METADATA or not tail or "." in tail):
                raise ValueError(
                    f"{entry!r}: use IP Address, Device Name, or application_info.<field>, "
                    "device_info.<field>, source_info.<field>"
                )
            out.append(path)
        return out


# ------------------------------------------------------------------------------------------- lines


def _event_allowed(event_type: str, cfg: S3ConnectionSettings) -> bool:
    if event_type in LIFECYCLE:
        return cfg.send_lifecycle_events
    if event_type in PUSH:
        return cfg.send_push_registrations_and_receipts
    allowed = {
        "screen_view": cfg.send_screen_views,
        "crash_report": cfg.send_crash_events,
        "network_performance": cfg.send_network_performance_events,
        "custom_event": cfg.send_custom_events,
        "commerce_event": cfg.send_commerce_events,
        "profile": cfg.send_profile_change_events,
        "user_attribute_change": cfg.include_user_attribute_change_events,
        "user_identity_change": cfg.include_user_identity_change_events,
    }
    return allowed.get(event_type, True)


def _has_location(data: Any) -> bool:
    loc = data.get("location") if isinstance(data, dict) else None
    return isinstance(loc, dict) and loc.get("latitude") is not None and loc.get("longitude") is not None


def _shape(batch: dict[str, Any], cfg: S3ConnectionSettings) -> dict[str, Any]:
    """Apply the connection's Send/Include settings to one stored batch (a copy)."""
    out = dict(batch)
    events = [e for e in out.get("events") or [] if _event_allowed(str(e.get("event_type")), cfg)]
    context = dict(out.get("context") or {})
    if cfg.include_event_batch_location:
        if "location" not in context:
            first = next((e["data"] for e in events if _has_location(e.get("data"))), None)
            if first is not None:
                context["location"] = first["location"]
    else:
        context.pop("location", None)
    if not cfg.include_location_information:
        events = [{**e, "data": {k: v for k, v in e["data"].items() if k != "location"}} for e in events]
    out["events"] = events
    if context:
        out["context"] = context
    else:
        out.pop("context", None)
    if not cfg.include_consent_state:
        out.pop("consent_state", None)
    if not cfg.include_mp_deviceid:
        out.pop("mp_deviceid", None)
    if not cfg.include_user_identities:
        out.pop("user_identities", None)
    if not cfg.include_metadata:
        for key in METADATA:
            out.pop(key, None)
    for path in cfg.metadata_field_exclusion:
        head, _, tail = path.partition(".")
        if not tail:
            out.pop(head, None)
        elif isinstance(out.get(head), dict):
            out[head] = {k: v for k, v in out[head].items() if k != tail}
    if cfg.raw_data_feed:
        return out
    return to_outgoing(out, cfg.unique_id or None)


def _is_alias_request(batch: dict[str, Any]) -> bool:
    return "source_mpid" in batch and "destination_mpid" in batch and not batch.get("events")


def _first_event_ms(batch: dict[str, Any]) -> int | None:
    for event in batch.get("events") or []:
        ts = (event.get("data") or {}).get("timestamp_unixtime_ms")
        if isinstance(ts, int):
            return ts
    return None


def _date_folder(batch: dict[str, Any], received_ms: int, mode: FoldersByDate) -> str:
    if mode in (FoldersByDate.UNSELECTED, FoldersByDate.NONE):
        return ""
    if mode == FoldersByDate.UPLOAD_TIME:
        ms: int | None = received_ms
    else:
        ms = _first_event_ms(batch)
        if ms is None and mode == FoldersByDate.EVENT_TIME_OR_UPLOAD_TIME:
            ms = received_ms
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _lines(
    batch: OutgoingBatch, cfg: S3ConnectionSettings, input_name: str
) -> tuple[str, list[dict[str, Any]]]:
    """The app name and the lines one batch becomes: itself, or one per event when not sent as batch."""
    raw = batch.as_dict()
    app = _app_name(input_name, raw)  # before the settings may leave application_info out
    if _is_alias_request(raw):
        return app, [raw] if cfg.send_alias_requests else []
    shaped = _shape(raw, cfg)
    events = shaped.get("events") or []
    if not events:
        return app, [shaped] if cfg.send_batches_without_events else []
    if cfg.send_as_batch or cfg.wait_for_complete_batch:
        return app, [shaped]
    return app, [{**shaped, "events": [event]} for event in events]


# -------------------------------------------------------------------------------------------- files

_ENCODER = msgspec.json.Encoder()


def _app_name(input_name: str, line: dict[str, Any]) -> str:
    """The input's name; without one, the batch's application name; without that, "fermion"."""
    name = input_name.strip()
    if not name:
        info = line.get("application_info")
        found = info.get("application_name") if isinstance(info, dict) else None
        name = found.strip() if isinstance(found, str) else ""
    # A slash would make folders (and a control character a key S3 tools choke on): one path segment.
    return "".join("_" if c in "/\\" or not c.isprintable() else c for c in name) or "fermion"


def _digits(group_key: str, index: int, count: int) -> str:
    digest = hashlib.sha256(f"{group_key}:{index}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**count).zfill(count)


def object_key(
    cfg: S3ConnectionSettings, date: str, app: str, now_ms: int, group_key: str, index: int
) -> str:
    """`<folder>/<YYYY-MM-DD>/<App Name>_<UTC timestamp>_<5 digits>.txt[.gz]`.

    The timestamp has microseconds (as in `mPTravel_20171017170911644493_34523.txt`); below the
    millisecond they come from the group key, which makes two groups mapped in the same millisecond
    even less likely to pick the same name.
    """
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y%m%d%H%M%S")
    fraction = f"{now_ms % 1000:03d}{_digits(group_key, -index - 1, 3)}"
    name = f"{app}_{stamp}{fraction}_{_digits(group_key, index, 5)}.txt"
    if cfg.use_compression:
        name += ".gz"
    return "/".join(part for part in (cfg.folder_name, date, name) if part)


def map_batches(
    batches: Sequence[OutgoingBatch], settings: MapSettings[S3Settings, S3ConnectionSettings]
) -> list[OutboundRequest]:
    cfg = settings.connection
    out_cfg = settings.output
    # One file per (date folder, app name) when sent as batch; one file per line otherwise.
    files: dict[tuple[str, str, int], list[tuple[dict[str, Any], int]]] = {}
    for position, batch in enumerate(batches):
        app, batch_lines = _lines(batch, cfg, settings.input_name)
        for line_no, line in enumerate(batch_lines):
            date = _date_folder(line, batch.received_ms, cfg.store_data_in_folders_by_date)
            split = 0 if cfg.send_as_batch or cfg.wait_for_complete_batch else position * 100_000 + line_no
            files.setdefault((date, app, split), []).append((line, batch.batch_id))
    credentials = None
    if out_cfg.access_key_id and out_cfg.secret_access_key:
        credentials = AwsCredentials(
            access_key_id=out_cfg.access_key_id, secret_access_key=out_cfg.secret_access_key.reveal()
        )
    sse = None if cfg.server_side_encryption == Encryption.NONE else cfg.server_side_encryption.value
    requests: list[OutboundRequest] = []
    for index, ((date, app, _split), lines) in enumerate(files.items()):
        body = b"".join(_ENCODER.encode(line) + b"\n" for line, _ in lines)
        if cfg.use_compression:
            body = gzip.compress(body, mtime=0)
        requests.append(
            S3Object(
                bucket=cfg.bucket_name,
                key=object_key(cfg, date, app, settings.now_ms, settings.group_key, index),
                body=body,
                region=out_cfg.region,
                content_type="application/gzip" if cfg.use_compression else "text/plain",
                sse=sse,
                sse_kms_key_id=cfg.kms_key_id if sse == Encryption.KMS else None,
                credentials=credentials,
                batch_ids=tuple(dict.fromkeys(batch_id for _, batch_id in lines)),
                endpoint_url=out_cfg.endpoint_url or None,
            )
        )
    return requests


OPTIONS = DeliveryOptions(batch_window_ms=SEND_AS_BATCH_WINDOW_MS, max_batch_size=1000, timeout_s=30.0)


def connection_options(cfg: S3ConnectionSettings) -> DeliveryOptions:
    """Send as Batch gathers batches for the window; otherwise each is written as it arrives."""
    batched = cfg.send_as_batch or cfg.wait_for_complete_batch
    return replace(OPTIONS, batch_window_ms=int(cfg.batch_window_s * 1000) if batched else 0)


INTEGRATION = Integration[S3Settings, S3ConnectionSettings](
    id="amazon_s3",
    name="Amazon S3",
    kind=IntegrationKind.EVENT,
    settings=S3Settings,
    connection_settings=S3ConnectionSettings,
    map=map_batches,
    options=OPTIONS,
    connection_options=connection_options,
    description="Newline-delimited JSON batch files in your S3 bucket.",
)
