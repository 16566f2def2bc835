"""Outgoing batches for integration tests: a canonical fixture run through the processing stages, as
the sender hands it to `map`; snapshot files compared (or rewritten with FERMION_UPDATE_SNAPSHOTS=1)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fermion.integrations.spec import MapSettings, OutgoingBatch, SettingsModel
from fermion.model.codec import decode_batch_obj, encode_batch
from fermion.model.records import InboundRecord
from fermion.pipeline.identity_stub import assign_mpid
from fermion.pipeline.normalize import normalize
from fermion.pipeline.stage import Drop, StageContext, run_chain
from support.batches import load_fixture

RECEIVED_MS = 1_705_312_900_000  # 2024-01-15T10:01:40Z, just after the fixtures' events
NOW_MS = 1_705_313_000_123
INPUT_NAME = "Higgs Shop iOS"  # the connected input's name (the fixtures' app is "Higgs Shop")


def outgoing(
    name_or_body: str | dict[str, Any], batch_id: int = 1001, received_ms: int = RECEIVED_MS
) -> OutgoingBatch:
    body = load_fixture(name_or_body) if isinstance(name_or_body, str) else name_or_body
    record = InboundRecord(
        batch_id=batch_id,
        workspace_id=1,
        input_id=2,
        environment=str(body.get("environment", "production")),
        received_ms=received_ms,
        source_ip="203.0.113.9",
        request_id="req",
        historical=False,
        payload=b"{}",
    )
    batch = run_chain([normalize, assign_mpid], decode_batch_obj(body), StageContext(record, received_ms))
    assert not isinstance(batch, Drop)
    return OutgoingBatch(
        batch_id=batch_id,
        workspace_id=1,
        input_id=2,
        environment=record.environment,
        mpid=batch.mpid or 0,
        received_ms=received_ms,
        payload=encode_batch(batch),
    )


def map_settings(
    output: SettingsModel, connection: SettingsModel, group_key: str = "g1", input_name: str = INPUT_NAME
) -> MapSettings[Any, Any]:
    return MapSettings(
        output=output,
        connection=connection,
        workspace_id=1,
        output_id=3,
        connection_id=4,
        now_ms=NOW_MS,
        group_key=group_key,
        input_name=input_name,
    )


def check_snapshot(path: Path, value: Any) -> None:
    """Compare `value` (JSON-able) with the stored snapshot; FERMION_UPDATE_SNAPSHOTS=1 rewrites it."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("FERMION_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if os.environ.get("FERMION_UPDATE_SNAPSHOTS") != "1":
            raise AssertionError(f"snapshot {path} was missing and has been written; review it and rerun")
        return
    assert json.loads(path.read_text()) == json.loads(text), f"differs from snapshot {path}"
