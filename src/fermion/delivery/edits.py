"""Editing and deleting outputs and connections (HTTP API and CLI share these).

Settings sent in an update replace the stored ones and are validated as on create, except secrets: a
secret setting left out or sent masked (`***`) keeps its stored value; `null` clears an optional one.
Consent forwarding rules stay unless the new connection settings name `consent_rules` (a privacy rule
is never dropped by an update that did not mention it).

A deleted connection's queued deliveries are dropped with it, or delivered first (`deliver`): the
connection then stays `deleting` (forwarding queues nothing more for it) until the sender has sent or
given up on every queued item, and goes then. Every reader of the configuration (forwarding phase,
sender) sees a change through the outputs/connections config stamp within a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fermion.delivery.outputs import DeliveryError, OutputsService, user_status
from fermion.integrations import registry
from fermion.integrations.secrets import keep_secrets
from fermion.integrations.spec import Integration, SettingError, SettingsModel
from fermion.model.delivery import Connection, ConnectionStatus, Output, OutputStatus
from fermion.ports import DeliveryQueue
from fermion.privacy.forwarding import CONSENT_RULES_KEY, rules_errors


class Queued(StrEnum):
    """What happens to a deleted connection's queued deliveries."""

    DELIVER = "deliver"  # sent first (retries and dead letters as usual); the connection goes after
    DROP = "drop"  # forgotten with the connection


@dataclass(frozen=True)
class ConnectionChanges:
    """A connection update: None leaves a field as it is. `settings` replaces the connection settings."""

    status: str | None = None
    send_development: bool | None = None
    send_production: bool | None = None
    settings: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Deletion:
    """Whether the deletion is done, or waits for queued deliveries (`waiting`: connection id -> items)."""

    done: bool
    waiting: dict[int, int] = field(default_factory=dict)


class ConfigEdits:
    def __init__(self, outputs: OutputsService, queue: DeliveryQueue) -> None:
        self._outputs = outputs
        self._store = outputs.store
        self._queue = queue

    # -- outputs -----------------------------------------------------------------------------

    def update_output(
        self, workspace_id: int, output_id: int, name: str | None, settings: Mapping[str, Any] | None
    ) -> tuple[Output, SettingsModel]:
        out, current = self._outputs.get_output(workspace_id, output_id)
        if out.status is OutputStatus.DELETING:
            raise DeliveryError.one("output_id", f"output {output_id} is being deleted", 409)
        stored = None
        if settings is not None:
            integration = registry.require(out.integration_id)
            validated = integration.validate_output_settings(
                keep_secrets(integration.settings, settings, current)
            )
            if isinstance(validated, list):
                raise DeliveryError(validated)
            current, stored = validated, self._outputs.seal(validated)
        return self._store.update_output(output_id, name=name or None, settings=stored), current

    def delete_output(
        self, workspace_id: int, output_id: int, force: bool = False, queued: Queued = Queued.DELIVER
    ) -> Deletion:
        """Refused (409) while connections use the output, unless `force`: they go too."""
        self._outputs.get_output(workspace_id, output_id)
        used = self._store.list_connections(output_id=output_id)
        if used and not force:
            ids = ", ".join(str(c.id) for c in used)
            raise DeliveryError.one(
                "output_id",
                f"output {output_id} is used by connection(s) {ids}: delete them first, or use force=true",
                409,
            )
        if queued is Queued.DROP or not used:
            self._store.delete_output(output_id)
            self._store.finish_deletions()
            return Deletion(done=True)
        self._store.update_output(output_id, status=OutputStatus.DELETING)
        for conn in used:
            self._store.update_connection(conn.id, ConnectionStatus.DELETING)
        self._store.finish_deletions()
        return self._left([c.id for c in used], self._store.get_output(output_id) is None)

    # -- connections -------------------------------------------------------------------------

    def update_connection(
        self, workspace_id: int, connection_id: int, changes: ConnectionChanges
    ) -> tuple[Connection, SettingsModel]:
        conn = self._outputs.get_connection(workspace_id, connection_id)
        return self._update(conn, changes)

    def update_audience_connection(
        self, workspace_id: int, audience_id: int, connection_id: int, changes: ConnectionChanges
    ) -> tuple[Connection, SettingsModel]:
        conn, _ = self._outputs.get_audience_connection(workspace_id, audience_id, connection_id)
        return self._update(conn, changes)

    def delete_connection(
        self, workspace_id: int, connection_id: int, queued: Queued = Queued.DELIVER
    ) -> Deletion:
        conn = self._outputs.get_connection(workspace_id, connection_id)
        return self._delete(conn, queued)

    def delete_audience_connection(
        self, workspace_id: int, audience_id: int, connection_id: int, queued: Queued = Queued.DELIVER
    ) -> Deletion:
        conn, _ = self._outputs.get_audience_connection(workspace_id, audience_id, connection_id)
        return self._delete(conn, queued)

    def _update(self, conn: Connection, changes: ConnectionChanges) -> tuple[Connection, SettingsModel]:
        if conn.status is ConnectionStatus.DELETING:
            raise DeliveryError.one("connection_id", f"connection {conn.id} is being deleted", 409)
        status = user_status(changes.status) if changes.status is not None else None
        integration = registry.require(conn.integration_id)
        current = self._outputs.open_settings(integration.connection_settings, conn.settings)
        stored = None
        if changes.settings is not None:
            current, stored = self._connection_settings(conn, integration, current, changes.settings)
        updated = self._store.update_connection(
            conn.id, status, changes.send_development, changes.send_production, settings=stored
        )
        return updated, current

    def _connection_settings(
        self,
        conn: Connection,
        integration: Integration[Any, Any],
        current: SettingsModel,
        settings: Mapping[str, Any],
    ) -> tuple[SettingsModel, dict[str, Any]]:
        """The validated new settings and their stored form (consent rules kept unless named)."""
        problems: list[tuple[str, str]] = []
        own = dict(settings)
        rules = conn.settings.get(CONSENT_RULES_KEY)
        if conn.input_id is not None and CONSENT_RULES_KEY in own:
            rules = own.pop(CONSENT_RULES_KEY)
            problems = rules_errors(rules, f"settings.{CONSENT_RULES_KEY}") if rules is not None else []
        model = integration.connection_settings
        validated = integration.validate_connection_settings(keep_secrets(model, own, current))
        if isinstance(validated, list) or problems:
            found = validated if isinstance(validated, list) else []
            raise DeliveryError([*(SettingError(f, m) for f, m in problems), *found])
        stored = self._outputs.seal(validated)
        if rules:
            stored[CONSENT_RULES_KEY] = rules
        return validated, stored

    def _delete(self, conn: Connection, queued: Queued) -> Deletion:
        if queued is Queued.DROP:
            self._store.delete_connection(conn.id)
            self._store.finish_deletions()  # its output, if that was waiting for this connection
            return Deletion(done=True)
        self._store.update_connection(conn.id, ConnectionStatus.DELETING)
        self._store.finish_deletions()
        return self._left([conn.id], False)

    def _left(self, connection_ids: list[int], done: bool) -> Deletion:
        waiting: dict[int, int] = {}
        for cid in connection_ids:
            if self._store.get_connection(cid) is None:
                continue
            counts = self._queue.count_by_status(cid)
            waiting[cid] = counts.get("pending", 0) + counts.get("inflight", 0)
        return Deletion(done=done or not waiting, waiting=waiting)
