"""Work items for the worker's phases in tests: a batch body with the inbound record it came in
(production, input 1, no source address or request id)."""

from __future__ import annotations

from typing import Any

from fermion.model.codec import decode_batch_obj
from fermion.model.records import InboundRecord
from fermion.services.processing import WorkItem


def work_item(
    body: dict[str, Any], *, batch_id: int, received_ms: int, workspace_id: int = 1, historical: bool = False
) -> WorkItem:
    record = InboundRecord(
        batch_id=batch_id,
        workspace_id=workspace_id,
        input_id=1,
        environment="production",
        received_ms=received_ms,
        source_ip="",
        request_id="",
        historical=historical,
        payload=b"{}",
    )
    return WorkItem(record=record, batch=decode_batch_obj(body))
