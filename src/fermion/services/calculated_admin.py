"""Managing CA definitions (Platform API v2 calculatedattributes): validate, store, activate, report.

Raises `CaProblem(status, [(field, message)])` for anything the caller can fix; the API renders it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fermion.calculated.definition import InvalidDefinition, parse_definition
from fermion.calculated.records import CaRecord
from fermion.ports.calculated import ActiveLimitReached, CalculatedStore, NameTaken

MAX_NAME = 255
DEFAULT_MAX_ACTIVE = 200


class CaProblem(Exception):
    def __init__(self, status: int, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(m for _, m in errors))
        self.status = status
        self.errors = errors


@dataclass(frozen=True)
class CalculatedSettings:
    max_active_per_workspace: int = DEFAULT_MAX_ACTIVE  # Settings.calculated_max_active


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _name(body: dict[str, Any], required: bool) -> str | None:
    name = body.get("name")
    if name is None:
        if required:
            raise CaProblem(400, [("name", "name is required.")])
        return None
    if not isinstance(name, str) or not name.strip():
        raise CaProblem(400, [("name", "name must be a non-empty string.")])
    if len(name) > MAX_NAME:
        raise CaProblem(400, [("name", f"name may have at most {MAX_NAME} characters.")])
    return name.strip()


def _description(body: dict[str, Any]) -> str | None:
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise CaProblem(400, [("description", "description must be a string.")])
    return description


def _draft(body: dict[str, Any], required: bool) -> dict[str, Any] | None:
    draft = body.get("draft_definition")
    if draft is None:
        if required:
            raise CaProblem(400, [("draft_definition", "draft_definition is required.")])
        return None
    try:
        parse_definition(draft)
    except InvalidDefinition as exc:
        raise CaProblem(400, exc.errors) from None
    assert isinstance(draft, dict)
    return draft


class CalculatedAdmin:
    def __init__(
        self,
        store: CalculatedStore,
        settings: CalculatedSettings | None = None,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._store = store
        self._settings = settings or CalculatedSettings()
        self._clock = clock

    def list(self, workspace_id: int, name: str | None = None) -> list[CaRecord]:
        return self._store.find(workspace_id, name)

    def get(self, workspace_id: int, ca_id: int) -> CaRecord:
        found = self._store.get(workspace_id, ca_id)
        if found is None:
            raise CaProblem(404, [("id", f"No calculated attribute {ca_id}.")])
        return found

    def create(self, workspace_id: int, body: Any) -> CaRecord:
        if not isinstance(body, dict):
            raise CaProblem(400, [("body", "The body must be a JSON object.")])
        name = _name(body, required=True)
        description = _description(body) or ""
        draft = _draft(body, required=True)
        assert name is not None and draft is not None
        try:
            return self._store.create(workspace_id, name, description, draft, self._clock())
        except NameTaken:
            raise CaProblem(
                400, [("name", f"A calculated attribute named {name!r} already exists.")]
            ) from None

    def update(self, workspace_id: int, ca_id: int, body: Any) -> None:
        if not isinstance(body, dict):
            raise CaProblem(400, [("body", "The body must be a JSON object.")])
        current = self.get(workspace_id, ca_id)
        name = _name(body, required=False)
        if name is not None and name != current.name and current.active is not None:
            raise CaProblem(400, [("name", "An activated calculated attribute cannot be renamed.")])
        description = _description(body)
        draft = _draft(body, required=False)
        try:
            updated = self._store.update_draft(
                workspace_id,
                ca_id,
                name or current.name,
                current.description if description is None else description,
                draft if draft is not None else current.draft,
                self._clock(),
            )
        except NameTaken:
            raise CaProblem(
                400, [("name", f"A calculated attribute named {name!r} already exists.")]
            ) from None
        if not updated:
            raise CaProblem(404, [("id", f"No calculated attribute {ca_id}.")])

    def delete(self, workspace_id: int, ca_id: int) -> None:
        if not self._store.delete(workspace_id, ca_id):
            raise CaProblem(404, [("id", f"No calculated attribute {ca_id}.")])

    def delete_draft(self, workspace_id: int, ca_id: int) -> None:
        current = self.get(workspace_id, ca_id)
        self._store.update_draft(workspace_id, ca_id, current.name, current.description, None, self._clock())

    def activate(self, workspace_id: int, ca_id: int, by: str) -> None:
        current = self.get(workspace_id, ca_id)
        if current.draft is None:
            raise CaProblem(400, [("draft_definition", "There is no draft definition to activate.")])
        try:
            parse_definition(current.draft)
        except InvalidDefinition as exc:
            raise CaProblem(400, exc.errors) from None
        limit = self._settings.max_active_per_workspace
        try:
            done = self._store.activate(workspace_id, ca_id, by, self._clock(), limit)
        except ActiveLimitReached:
            message = f"The workspace already has the maximum of {limit} active calculated attributes."
            raise CaProblem(400, [("activation", message)]) from None
        if not done:
            raise CaProblem(404, [("id", f"No calculated attribute {ca_id}.")])

    def calculation(self, record: CaRecord) -> dict[str, Any]:
        """The calculation status: progress (percent) and an estimated completion time."""
        if record.active is None:
            return {"status": "not_activated", "progress": 0, "estimated_completion": None}
        total, done = record.total_batches, min(record.done_batches, record.total_batches)
        if record.status == "completed":
            progress, eta = 100.0, record.calc_completed_ms
        else:
            progress = 100.0 * done / total if total else 0.0
            eta = None
            started = record.calc_started_ms
            if started is not None and done:
                elapsed = max(self._clock() - started, 1)
                eta = self._clock() + int(elapsed * (total - done) / done)
        return {
            "status": record.status,
            "progress": round(progress, 1),
            "processed_batches": done,
            "total_batches": total,
            "started_on": iso(record.calc_started_ms),
            "completed_on": iso(record.calc_completed_ms),
            "estimated_completion": iso(eta),
        }


def ca_json(record: CaRecord, calculation: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "workspace_id": record.workspace_id,
        "draft_definition": record.draft,
        "active_definition": record.active,
        "activation_status": activation_json(record),
        "calculation_status": calculation,
        "created_on": iso(record.created_ms),
        "last_modified_on": iso(record.updated_ms),
    }


def activation_json(record: CaRecord) -> dict[str, Any]:
    return {
        "is_activated": record.active is not None,
        "activated_on": iso(record.activated_ms),
        "activated_by": record.activated_by,
        "has_draft": record.draft is not None,
    }
