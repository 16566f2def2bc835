"""IdentityService: IDSync requests (identify, login, logout, search, modify), aliasing and the
per-workspace settings, around the pure core in `fermion.identity` and the IdentityStore port.

Every write follows load -> decide (pure) -> apply; when another writer got in first the store
raises IdentityConflict and the decision is redone on fresh data (see SqlIdentityStore).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fermion.identity.alias import AliasRefused, AliasRequest, check_alias
from fermion.identity.modify import IdentityChange, ModifyResult, change_keys, modify
from fermion.identity.resolve import Decision, RequestKind, ResolveRequest, keys_to_load, resolve
from fermion.identity.settings import IdentitySettings, Rules, updated
from fermion.identity.view import IdentityView
from fermion.model.ids import to_signed64
from fermion.ports import ConfigStore, EventReattribution, IdentityConflict, IdentityStore

MAX_ATTEMPTS = 8
T = TypeVar("T")


class IdentityBusy(Exception):
    """Writers kept conflicting; the caller may retry later (HTTP 503)."""


def random_mpid() -> int:
    while True:
        mpid = to_signed64(secrets.randbits(64))
        if mpid not in (0, -1):  # 0 means "no user yet" to the SDKs
            return mpid


@dataclass(frozen=True)
class AliasApplied:
    """Told to alias listeners (profiles: copy first-seen and attribution) after history moved."""

    org_id: int
    workspace_id: int
    request: AliasRequest
    moved_events: int


@dataclass(frozen=True)
class AliasOutcome:
    status: str  # applied | rejected (the reference's silent failures still answer 202)
    reason: str
    moved_events: int


@dataclass
class IdentityService:
    store: IdentityStore
    config: ConfigStore
    events: EventReattribution | None = None
    cache_ttl_s: float = 5.0
    clock: Callable[[], float] = time.time
    new_mpid: Callable[[], int] = random_mpid
    # Called after an alias moved event history (profiles subscribe to copy first-seen dates).
    alias_listeners: list[Callable[[AliasApplied], None]] = field(default_factory=list)
    _rules: dict[int, tuple[float, Rules]] = field(default_factory=dict)
    _orgs: dict[int, int] = field(default_factory=dict)

    # -- settings ------------------------------------------------------------------------------

    def org_of(self, workspace_id: int) -> int:
        org = self._orgs.get(workspace_id)
        if org is None:
            ws = self.config.get_workspace(workspace_id)
            if ws is None:
                raise LookupError(f"unknown workspace {workspace_id}")
            org = self._orgs[workspace_id] = ws.org_id
        return org

    def rules(self, workspace_id: int) -> Rules:
        """The workspace's compiled settings, re-read every cache_ttl_s (CLI changes take effect)."""
        now = time.monotonic()
        cached = self._rules.get(workspace_id)
        if cached is not None and now - cached[0] < self.cache_ttl_s:
            return cached[1]
        rules = Rules.of(self.store.get_settings(workspace_id) or IdentitySettings())
        self._rules[workspace_id] = (now, rules)
        return rules

    def get_settings(self, workspace_id: int) -> IdentitySettings:
        return self.store.get_settings(workspace_id) or IdentitySettings()

    def update_settings(
        self, workspace_id: int, changes: dict[str, Any], replace: bool = False
    ) -> IdentitySettings:
        """Apply changes (SettingsError lists bad fields); `replace` starts from the strategy defaults."""
        base = None if replace else self.store.get_settings(workspace_id) or IdentitySettings()
        settings = updated(base, changes)
        self.store.save_settings(workspace_id, settings)
        self._rules.pop(workspace_id, None)
        return settings

    # -- requests ------------------------------------------------------------------------------

    def _retrying(self, attempt: Callable[[int], T]) -> T:
        for n in range(MAX_ATTEMPTS):
            try:
                return attempt(n)
            except IdentityConflict:
                time.sleep(random.uniform(0, 0.002 * 2**n))  # jitter: conflicting writers spread out
        raise IdentityBusy("identity writes kept conflicting")

    def resolve(
        self,
        workspace_id: int,
        kind: RequestKind,
        identities: Sequence[tuple[str, str | None]],
        previous_mpid: int | None = None,
        read_only: bool = False,
    ) -> Decision:
        """Identify, login, logout or search; `read_only` decides without writing (explanations)."""
        org, rules = self.org_of(workspace_id), self.rules(workspace_id)
        keys = keys_to_load(identities, rules)
        request = ResolveRequest(kind, identities, workspace_id, previous_mpid)

        def attempt(_: int) -> Decision:
            view = IdentityView(self.store.load(org, keys, [previous_mpid] if previous_mpid else []))
            decision = resolve(request, view, rules, self.new_mpid, self._now_ms())
            if not read_only and kind is not RequestKind.SEARCH:
                self.store.apply(org, view.changes())
            return decision

        return self._retrying(attempt)

    def modify(self, workspace_id: int, mpid: int, changes: Sequence[IdentityChange]) -> ModifyResult:
        """LookupError for an MPID the organization does not know; ModifyError for bad changes."""
        org, rules = self.org_of(workspace_id), self.rules(workspace_id)
        keys = change_keys(changes)

        def attempt(_: int) -> ModifyResult:
            view = IdentityView(self.store.load(org, keys, [mpid]))
            if view.profile(mpid) is None:
                raise LookupError(mpid)
            result = modify(mpid, changes, view, rules, self._now_ms())
            self.store.apply(org, view.changes())
            return result

        return self._retrying(attempt)

    def identities(self, workspace_id: int, mpid: int) -> list[tuple[str, str]]:
        return self.store.identities_of(self.org_of(workspace_id), mpid)

    def find_mpid(self, workspace_id: int, identity_type: str, value: str) -> int | None:
        return self.store.find_mpid(self.org_of(workspace_id), identity_type, value)

    def alias(self, workspace_id: int, req: AliasRequest) -> AliasOutcome:
        """Check, apply and record an alias request; AliasRefused for 400/403 answers."""
        org, rules = self.org_of(workspace_id), self.rules(workspace_id)
        earlier = self.store.find_alias(org, req.request_id)
        if earlier is not None:
            return AliasOutcome(*earlier)
        pair = [req.source_mpid, req.destination_mpid]
        known = self.store.existing_mpids(org, pair)
        verdict = check_alias(req, rules, self._now_ms(), known, self.store.alias_history(org, pair))
        moved = 0
        if verdict.accepted and self.events is not None:
            # end is inclusive in the request; the store's window is half-open.
            moved = self.events.reassign_mpid(
                workspace_id, req.source_mpid, req.destination_mpid, req.start_ms, req.end_ms + 1
            )
        status = "applied" if verdict.accepted else "rejected"
        outcome = AliasOutcome(
            *self.store.record_alias(org, workspace_id, req, status, verdict.reason, moved)
        )
        if verdict.accepted and outcome.status == "applied":
            for listener in self.alias_listeners:
                listener(AliasApplied(org, workspace_id, req, moved))
        return outcome

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)


__all__ = [
    "AliasApplied",
    "AliasOutcome",
    "AliasRefused",
    "IdentityBusy",
    "IdentityService",
    "random_mpid",
]
