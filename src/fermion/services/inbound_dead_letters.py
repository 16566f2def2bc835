"""Inbound dead letters as the API, the CLI and System Alerts show them (JSON-ready values)."""

from __future__ import annotations

from typing import Any

from fermion.ports import DeadLetterSummary, InboundDeadLetter

MAX_LIST = 1_000  # dead letters listed at most per request
MAX_REPLAY_IDS = 10_000


def dead_letter_json(letter: InboundDeadLetter) -> dict[str, Any]:
    record = letter.record
    return {
        "id": letter.id,
        "batch_id": record.batch_id,
        "workspace_id": record.workspace_id,
        "input_id": record.input_id,
        "environment": record.environment,
        "received_ms": record.received_ms,
        "source_ip": record.source_ip,
        "request_id": record.request_id,
        "historical": record.historical,
        "attempts": letter.attempts,
        "reason": letter.reason,
        "dead_ms": letter.dead_ms,
        "payload": record.payload.decode("utf-8", "replace"),
    }


def summary_json(summary: DeadLetterSummary) -> dict[str, Any]:
    """System Alerts' inbound entry: batches that failed processing, waiting for a replay."""
    return {
        "type": "inbound_dead_letters",
        "volume": summary.count,
        "last_seen_ms": summary.last_seen_ms,
        "last_message": summary.last_reason,
    }
