"""An in-memory IdentityStore (for unit tests of the identity core and services; not thread-safe)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fermion.identity.alias import AliasRecord, AliasRequest
from fermion.identity.records import IdentityChanges, IdentityConflict, LinkRow, ProfileRow, Snapshot
from fermion.identity.settings import IdentitySettings
from fermion.identity.types import Key, canonical_type


class MemoryIdentityStore:
    def __init__(self) -> None:
        self.links: dict[tuple[int, str, str, int], LinkRow] = {}
        self.keys: dict[tuple[int, str, str], int | None] = {}  # value -> the batch that first linked it
        self.profiles: dict[tuple[int, int], ProfileRow] = {}
        self.settings: dict[int, IdentitySettings] = {}
        self.aliases: dict[tuple[int, str], tuple[AliasRequest, str, str, int]] = {}

    def find_mpid(self, org_id: int, identity_type: str, value: str) -> int | None:
        t = canonical_type(identity_type) or identity_type
        found = [r for (o, tt, v, _), r in self.links.items() if (o, tt, v) == (org_id, t, value)]
        return max(found, key=lambda r: (r.created_ms, r.mpid)).mpid if found else None

    def identities_of(self, org_id: int, mpid: int) -> list[tuple[str, str]]:
        rows = [r for (o, _, _, m), r in self.links.items() if o == org_id and m == mpid]
        return [(r.identity_type, r.value) for r in sorted(rows, key=lambda r: r.created_ms)]

    def load(self, org_id: int, keys: Iterable[Key], mpids: Iterable[int] = ()) -> Snapshot:
        asked = frozenset(keys)
        asked_mpids = frozenset(mpids)
        links = {k: r for k, r in self.links.items() if k[0] == org_id and (k[1], k[2]) in asked}
        holders = {r.mpid for r in links.values()} | asked_mpids
        links.update({k: r for k, r in self.links.items() if k[0] == org_id and k[3] in holders})
        return Snapshot(
            asked,
            asked_mpids,
            list(links.values()),
            [r for (o, m), r in self.profiles.items() if o == org_id and m in asked_mpids],
        )

    def apply(self, org_id: int, changes: IdentityChanges) -> None:
        for (t, v), expected in changes.holders.items():
            held = {m for (o, tt, vv, m) in self.links if (o, tt, vv) == (org_id, t, v)}
            if held != expected:
                raise IdentityConflict(t)
        for mpid, identities in changes.identities.items():
            if {(t, v) for (o, t, v, m) in self.links if o == org_id and m == mpid} != identities:
                raise IdentityConflict(str(mpid))
        for p in changes.new_profiles:
            existing = self.profiles.get((org_id, p.mpid))
            if (
                existing is not None
                and p.fresh
                and (p.created_by is None or existing.created_by != p.created_by)
            ):
                raise IdentityConflict("taken")
        for (t, v), creator in changes.creators.items():
            self.keys.setdefault((org_id, t, v), creator)
        for p in changes.new_profiles:
            self.profiles.setdefault(
                (org_id, p.mpid), ProfileRow(p.mpid, p.created_ms, p.workspace_id, p.created_by)
            )
        for t, v, m in changes.remove_links:
            self.links.pop((org_id, t, v, m), None)
        for r in changes.add_links:
            self.links.setdefault((org_id, r.identity_type, r.value, r.mpid), r)

    def existing_mpids(self, org_id: int, mpids: Iterable[int]) -> frozenset[int]:
        return frozenset(m for m in mpids if (org_id, m) in self.profiles)

    def get_settings(self, workspace_id: int) -> IdentitySettings | None:
        return self.settings.get(workspace_id)

    def save_settings(self, workspace_id: int, settings: IdentitySettings) -> None:
        self.settings[workspace_id] = settings

    def alias_history(self, org_id: int, mpids: Sequence[int]) -> list[AliasRecord]:
        return [
            AliasRecord(r.source_mpid, r.destination_mpid, r.start_ms, r.end_ms, status)
            for (o, _), (r, status, _, _) in self.aliases.items()
            if o == org_id and (r.source_mpid in mpids or r.destination_mpid in mpids)
        ]

    def record_alias(
        self, org_id: int, workspace_id: int, req: AliasRequest, status: str, reason: str, moved_events: int
    ) -> tuple[str, str, int]:
        stored = self.aliases.setdefault((org_id, req.request_id), (req, status, reason, moved_events))
        return stored[1], stored[2], stored[3]

    def find_alias(self, org_id: int, request_id: str) -> tuple[str, str, int] | None:
        stored = self.aliases.get((org_id, request_id))
        return None if stored is None else (stored[1], stored[2], stored[3])
