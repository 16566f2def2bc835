"""JSON views of outputs, connections and replay jobs, shared by the delivery HTTP API and the CLI
(kept apart from the web layer so that CLI commands do not import it)."""

from __future__ import annotations

from typing import Any

import msgspec

from fermion.delivery.edits import Deletion
from fermion.delivery.outputs import masked
from fermion.integrations.spec import SettingsModel
from fermion.model.delivery import Connection, Output, ReplayJob, ReplayProgress
from fermion.privacy.forwarding import CONSENT_RULES_KEY


def output_json(out: Output, settings: SettingsModel) -> dict[str, Any]:
    return {
        "id": out.id,
        "workspace_id": out.workspace_id,
        "integration": out.integration_id,
        "name": out.name,
        "settings": masked(settings),
        "status": out.status.value,  # active, or deleting (waiting for its connections' queues)
        "created_ms": out.created_ms,
        "updated_ms": out.updated_ms,
    }


def connection_json(conn: Connection, settings: SettingsModel | None = None) -> dict[str, Any]:
    return {
        "id": conn.id,
        "workspace_id": conn.workspace_id,
        "input_id": conn.input_id,
        "audience_id": conn.audience_id,  # set instead of input_id for an audience connection
        "output_id": conn.output_id,
        "integration": conn.integration_id,
        "settings": masked(settings) if settings is not None else None,
        "consent_rules": conn.settings.get(CONSENT_RULES_KEY, []),
        "status": conn.status.value,
        "send_development": conn.send_development,
        "send_production": conn.send_production,
        "created_ms": conn.created_ms,
        "updated_ms": conn.updated_ms,
    }


def job_json(job: ReplayJob) -> dict[str, Any]:
    return msgspec.to_builtins(job)  # type: ignore[no-any-return]


def progress_json(p: ReplayProgress) -> dict[str, Any]:
    finished = p.job.state == "enqueued" and p.pending == 0 and p.inflight == 0
    return {
        "job": job_json(p.job),
        "pending": p.pending,
        "inflight": p.inflight,
        "done": p.done,
        "dead": p.dead,
        "finished": finished,
    }


def audience_connection_json(conn: Connection, settings: SettingsModel) -> dict[str, Any]:
    return {
        "id": conn.id,
        "workspace_id": conn.workspace_id,
        "audience_id": conn.audience_id,
        "output_id": conn.output_id,
        "integration": conn.integration_id,
        "settings": masked(settings),
        "status": conn.status.value,
        "created_ms": conn.created_ms,
        "updated_ms": conn.updated_ms,
    }


def deletion_json(deletion: Deletion) -> dict[str, Any]:
    """`deleted`, or `deleting` with the connections still sending their queued deliveries."""
    waiting = [{"connection_id": c, "queued": n} for c, n in sorted(deletion.waiting.items())]
    return {"status": "deleted" if deletion.done else "deleting", "waiting": waiting}
