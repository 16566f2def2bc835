"""JSON views of audiences, members and membership history, shared by the audience APIs and the CLI."""

from __future__ import annotations

from typing import Any

from fermion.audiences.records import Audience, HistoryEntry, Membership


def percent(a: Audience) -> float:
    """How far the calculation over history has come (100 once active)."""
    span = max(a.boundary_seq, 1)
    return 100.0 if a.status.value == "active" else round(100.0 * min(a.progress_seq, span) / span, 1)


def standing_json(a: Audience) -> dict[str, Any]:
    """The state that members and size answers carry: "calculating" (with how far) until the first
    calculation over history is done, when neither is known yet."""
    if a.first_calculation_pending:
        return {"status": "calculating", "percent": percent(a)}
    return {"status": a.status.value}


def audience_json(a: Audience) -> dict[str, Any]:
    return {
        "id": a.id,
        "workspace_id": a.workspace_id,
        "account_id": a.account_id,
        "name": a.name,
        "external_name": a.external_name,
        "kind": a.kind.value,
        "status": a.status.value,
        "draft_criteria": a.draft_criteria,
        "criteria": a.criteria,
        "created_ms": a.created_ms,
        "updated_ms": a.updated_ms,
        "calculated_ms": a.calculated_ms or None,
        "sent_ms": a.sent_ms or None,
        "calculation": {
            "boundary_seq": a.boundary_seq,
            "progress_seq": a.progress_seq,
            "percent": percent(a),
        },
    }


def member_json(m: Membership) -> dict[str, Any]:
    return {"mpid": str(m.mpid), "joined_ms": m.joined_ms, "identities": m.identities}


def history_json(h: HistoryEntry) -> dict[str, Any]:
    return {"mpid": str(h.mpid), "action": h.action, "changed_ms": h.changed_ms}
