"""Profiles' part of an applied alias: the destination takes the source's first-seen date (spec 1.8).

Seen-times merge by min, so the copy only moves the destination's first-seen earlier; that is the
case aliasing exists for (anonymous activity before a login) and keeps the write commutative.
"""

from __future__ import annotations

from fermion.ports import ProfileStore
from fermion.profiles.state import Header, ProfileWrite
from fermion.services.identity import AliasApplied


class CopyFirstSeen:
    def __init__(self, profiles: ProfileStore) -> None:
        self._profiles = profiles

    def __call__(self, applied: AliasApplied) -> None:
        req = applied.request
        source = self._profiles.get(applied.workspace_id, req.source_mpid)
        if source is None or source.header is None:
            return
        first = source.header.first_seen_ms
        # last_seen and last_stored are merged by max, so `first` leaves an existing profile's alone.
        header = Header(first_seen_ms=first, last_seen_ms=first, last_stored_ms=first)
        self._profiles.save(
            [ProfileWrite(workspace_id=applied.workspace_id, mpid=req.destination_mpid, header=header)]
        )
