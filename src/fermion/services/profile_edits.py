"""User Activity edits: attribute, consent and identity changes become a batch sent through an input
of the workspace, so they update the profile and reach that input's outputs like any other batch."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from fermion.model.identity_names import user_identity_name
from fermion.model.tenancy import Input, Workspace
from fermion.ports import ConfigStore, IdentityLookup, ProfileStore
from fermion.profiles.views import split_identities
from fermion.services.ingest import IngestService, Outcome
from fermion.services.tenancy import InvalidRequest


class ProfileEditor:
    def __init__(
        self,
        config: ConfigStore,
        profiles: ProfileStore,
        identities: IdentityLookup,
        ingest: IngestService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._profiles = profiles
        self._identities = identities
        self._ingest = ingest
        self._clock = clock

    def input_for(self, ws: Workspace, input_id: int) -> Input:
        """The chosen input, which must be an active input of the workspace."""
        inp = self._config.get_input(input_id)
        if inp is None or inp.workspace_id != ws.id:
            raise InvalidRequest("input_id", f"no input {input_id} in workspace {ws.id}")
        if not inp.active:
            raise InvalidRequest("input_id", f"input {input_id} is not active")
        return inp

    def _user_identities(self, ws: Workspace, mpid: int) -> dict[str, str]:
        users, _ = split_identities(self._identities.identities_of(ws.org_id, mpid))
        out: dict[str, str] = {}
        for id_type, value in users:
            out.setdefault(id_type, value)
        return out

    def _batch(self, ws: Workspace, mpid: int, environment: str, **parts: Any) -> dict[str, Any]:
        # The user's identities ride along so outputs of the input can match the user.
        return {
            "environment": environment,
            "mpid": str(mpid),
            "source_request_id": f"fermion-activity-{uuid.uuid4()}",
            "user_identities": self._user_identities(ws, mpid),
            **parts,
        }

    def attributes_batch(
        self, ws: Workspace, mpid: int, environment: str, values: Mapping[str, Any], deleted: Sequence[str]
    ) -> dict[str, Any]:
        return self._batch(
            ws, mpid, environment, user_attributes=dict(values), deleted_user_attributes=list(deleted)
        )

    def consent_batch(
        self, ws: Workspace, mpid: int, environment: str, gdpr: Mapping[str, bool], ccpa: Mapping[str, bool]
    ) -> dict[str, Any]:
        """New consented values, keeping each purpose's document, location and hardware id."""
        now_ms = int(self._clock() * 1000)
        profile = self._profiles.get(ws.id, mpid)
        state: dict[str, dict[str, Any]] = {}
        for regulation, values in (("gdpr", gdpr), ("ccpa", ccpa)):
            for purpose, consented in values.items():
                old = profile.consent.get((regulation, purpose)) if profile else None
                state.setdefault(regulation, {})[purpose] = {
                    "consented": consented,
                    "timestamp_unixtime_ms": now_ms,
                    "document": old.document if old else None,
                    "location": old.location if old else None,
                    "hardware_id": old.hardware_id if old else None,
                }
        return self._batch(ws, mpid, environment, consent_state=state)

    def identities_batch(
        self, ws: Workspace, mpid: int, environment: str, changes: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """The user's identities after `changes` (a None value removes the type), with one
        user_identity_change event per change."""
        now_ms = int(self._clock() * 1000)
        current = self._user_identities(ws, mpid)
        updated = dict(current)
        events = []
        for raw_type, value in changes.items():
            id_type = user_identity_name(raw_type)
            if id_type is None:
                raise InvalidRequest(f"identities.{raw_type}", "not a user identity type")
            old = current.get(id_type)
            if value == old:
                continue
            if value is None:
                updated.pop(id_type, None)
            else:
                updated[id_type] = value
            events.append(
                {
                    "event_type": "user_identity_change",
                    "data": {
                        "timestamp_unixtime_ms": now_ms,
                        "new": {
                            "identity_type": id_type,
                            "identity": value,
                            "timestamp_unixtime_ms": now_ms,
                            "created_this_batch": old is None,
                        },
                        "old": {"identity_type": id_type, "identity": old, "timestamp_unixtime_ms": now_ms},
                    },
                }
            )
        batch = self._batch(ws, mpid, environment, events=events)
        batch["user_identities"] = updated
        return batch

    async def submit(self, inp: Input, batch: dict[str, Any]) -> Outcome:
        """Send the batch through the input (validated, rate limited and logged like any upload)."""
        return await self._ingest.ingest_as(inp, orjson.dumps(batch), None, "")
