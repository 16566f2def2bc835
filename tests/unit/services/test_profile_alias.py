"""An applied alias gives the destination profile the source's (earlier) first-seen date."""

from __future__ import annotations

from collections.abc import Sequence

from fermion.identity.alias import AliasRequest
from fermion.profiles.state import Header, Profile, ProfileWrite
from fermion.services.identity import AliasApplied
from fermion.services.profile_alias import CopyFirstSeen


class FakeStore:
    def __init__(self, profiles: dict[int, Profile]) -> None:
        self.profiles = profiles
        self.saved: list[ProfileWrite] = []

    def get(self, workspace_id: int, mpid: int) -> Profile | None:
        return self.profiles.get(mpid)

    def save(self, writes: Sequence[ProfileWrite]) -> None:
        self.saved.extend(writes)


def applied(source: int, destination: int) -> AliasApplied:
    return AliasApplied(3, 7, AliasRequest(source, destination, 0, 10, "req"), moved_events=2)


def test_copies_the_source_first_seen() -> None:
    store = FakeStore({1: Profile(workspace_id=7, mpid=1, header=Header(100, 500, 600))})
    CopyFirstSeen(store)(applied(1, 2))  # type: ignore[arg-type]
    (write,) = store.saved
    assert (write.workspace_id, write.mpid) == (7, 2)
    assert write.header == Header(100, 100, 100)  # last_seen/last_stored merge by max: unchanged


def test_nothing_to_copy_from_an_unknown_source() -> None:
    store = FakeStore({})
    CopyFirstSeen(store)(applied(1, 2))  # type: ignore[arg-type]
    assert store.saved == []
