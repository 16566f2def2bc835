"""Managing audiences: create, edit the draft, activate (calculation over history), delete, send a
standard audience, and read members, size, metrics and history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fermion.audiences.criteria import compile_criteria
from fermion.audiences.records import Audience, HistoryEntry, Kind, Membership, Status
from fermion.model.audiences import ChangeAction, MembershipChange, change_id_of
from fermion.ports.audiences import AudienceStore, MembershipSink
from fermion.services.audience_engine import AudienceEngine

Errors = list[tuple[str, str]]
DAY_MS = 86_400_000
SEND_CHUNK = 500


class InvalidAudience(Exception):
    def __init__(self, errors: Errors) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


class Conflict(Exception):
    """The audience is not in a state that allows the action (409)."""


@dataclass(frozen=True)
class Metrics:
    size: int
    adds_24h: int
    drops_24h: int

    @property
    def volatility(self) -> float:
        return (self.adds_24h + self.drops_24h) / self.size if self.size else 0.0


def _now_ms() -> int:
    return int(time.time() * 1000)


def _text(body: dict[str, Any], key: str, errors: Errors, required: bool) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > 200:
        errors.append(
            (key, "must be a non-empty string of at most 200 characters" if required else "must be a string")
        )
        return ""
    return value.strip()


class AudienceAdmin:
    def __init__(
        self,
        store: AudienceStore,
        engine: AudienceEngine,
        sink: MembershipSink,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._store = store
        self._engine = engine
        self._sink = sink
        self._clock = clock

    def _check(self, workspace_id: int, audience_id: int, criteria: Any, errors: Errors) -> None:
        compiled, problems = compile_criteria(audience_id, criteria)
        errors.extend(problems)
        if compiled is None or not compiled.references:
            return
        others = {a.id: a for a in self._store.list_audiences([workspace_id])}
        if any(
            (c := compile_criteria(a.id, a.draft_criteria)[0]) is not None and audience_id in c.references
            for a in others.values()
            if audience_id
        ):
            errors.append(("criteria", "another audience references this one: audiences do not nest"))
        for ref in sorted(compiled.references):
            target = others.get(ref)
            if target is None:
                errors.append(("criteria", f"audience {ref} does not exist in this workspace"))
                continue
            nested = compile_criteria(ref, target.draft_criteria)[0]
            if nested is not None and nested.references:
                errors.append(
                    ("criteria", f"audience {ref} references other audiences: audiences do not nest")
                )

    def create(self, workspace_id: int, account_id: int, body: dict[str, Any]) -> Audience:
        errors: Errors = []
        name = _text(body, "name", errors, required=True)
        external = _text(body, "external_name", errors, required=False)
        kind = body.get("kind", Kind.REAL_TIME.value)
        if kind not in (Kind.REAL_TIME.value, Kind.STANDARD.value):
            errors.append(("kind", "must be real_time or standard"))
        if "criteria" not in body:
            errors.append(("criteria", "is required"))
        else:
            self._check(workspace_id, 0, body["criteria"], errors)
        if errors:
            raise InvalidAudience(errors)
        now = self._clock()
        return self._store.create(
            Audience(
                id=0,
                workspace_id=workspace_id,
                account_id=account_id,
                name=name,
                external_name=external,
                kind=Kind(kind),
                draft_criteria=body["criteria"],
                created_ms=now,
                updated_ms=now,
            )
        )

    def get(self, workspace_id: int, audience_id: int) -> Audience | None:
        found = self._store.get(audience_id)
        return found if found is not None and found.workspace_id == workspace_id else None

    def find(self, audience_id: int) -> Audience | None:
        return self._store.get(audience_id)

    def list_audiences(self, workspace_ids: list[int]) -> list[Audience]:
        return self._store.list_audiences(workspace_ids)

    def update(self, audience: Audience, body: dict[str, Any]) -> Audience:
        """Edits the draft (and names); the active criteria change only on activation."""
        errors: Errors = []
        if "name" in body:
            audience.name = _text(body, "name", errors, required=True)
        if "external_name" in body:
            audience.external_name = _text(body, "external_name", errors, required=False)
        if "kind" in body and body["kind"] != audience.kind.value:
            errors.append(("kind", "cannot change after creation"))
        if "criteria" in body:
            self._check(audience.workspace_id, audience.id, body["criteria"], errors)
            audience.draft_criteria = body["criteria"]
        if errors:
            raise InvalidAudience(errors)
        audience.updated_ms = self._clock()
        self._store.update(audience)
        return audience

    def activate(self, audience: Audience) -> Audience:
        """Start the calculation over stored history (a worker job); real-time audiences are then kept
        current by processing, standard ones wait to be sent."""
        errors: Errors = []
        self._check(audience.workspace_id, audience.id, audience.draft_criteria, errors)
        if errors:
            raise InvalidAudience(errors)
        if audience.status == Status.CALCULATING:
            raise Conflict("the audience is already calculating")
        audience.criteria = audience.draft_criteria
        audience.updated_ms = audience.activated_ms = max(self._clock(), audience.activated_ms + 1)
        started = self._store.start_calculation(audience)
        self._engine.invalidate(audience.workspace_id)
        return started

    def deactivate(self, audience: Audience) -> Audience:
        """Stop evaluating and sending the audience (processing and the jobs skip it; a calculation in
        progress is abandoned). Definition and stored members stay; activating it again recalculates
        it over history."""
        if audience.status not in (Status.ACTIVE, Status.CALCULATING):
            raise Conflict(f"the audience is {audience.status.value}, not active")
        audience.status = Status.INACTIVE
        audience.updated_ms = self._clock()
        self._store.update(audience)
        self._engine.invalidate(audience.workspace_id)
        return audience

    def delete(self, audience: Audience) -> None:
        now = self._clock()
        audience.status = Status.DELETED
        audience.updated_ms = now
        self._store.update(audience)
        self._engine.invalidate(audience.workspace_id)
        change = MembershipChange(
            change_id=change_id_of(audience.id, 0, ChangeAction.DELETE.value, now),
            workspace_id=audience.workspace_id,
            audience_id=audience.id,
            audience_name=audience.display_name,
            action=ChangeAction.DELETE,
            mpid=0,
            changed_ms=now,
        )
        self._sink.publish([change], now)

    def send(self, audience: Audience) -> int:
        """Publish every member of a calculated standard audience once; returns how many."""
        if audience.kind != Kind.STANDARD:
            raise Conflict("only standard audiences are sent; real-time ones send changes as they happen")
        if audience.status != Status.ACTIVE:
            raise Conflict("calculate the audience first")
        now = self._clock()
        sent, after = 0, None
        while True:
            page = self._store.members(audience.id, after, SEND_CHUNK)
            if not page:
                break
            after = page[-1].mpid
            changes = [
                self._engine.change(
                    audience,
                    m.mpid,
                    ChangeAction.ADD,
                    now,
                    now,
                    m.identities or self._engine.identities_of(audience.workspace_id, m.mpid),
                    {},
                )
                for m in page
            ]
            self._sink.publish(changes, now)
            sent += len(changes)
        audience.sent_ms = now
        self._store.update(audience)
        return sent

    def members(self, audience: Audience, after_mpid: int | None, limit: int) -> list[Membership]:
        page = self._store.members(audience.id, after_mpid, limit)
        for m in page:
            if not m.identities:
                m.identities = self._engine.identities_of(audience.workspace_id, m.mpid)
        return page

    def metrics(self, audience: Audience) -> Metrics:
        adds, drops = self._store.change_counts(audience.id, self._clock() - DAY_MS)
        return Metrics(self._store.size(audience.id), adds, drops)

    def history(self, audience: Audience, mpid: int | None, limit: int) -> list[HistoryEntry]:
        return self._store.history(audience.id, mpid, limit)
