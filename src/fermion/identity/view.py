"""IdentityView: the working copy of a Snapshot that resolution reads and changes in memory.

Several decisions can run on one view (a group of batches), each seeing the earlier ones' writes;
`changes()` then gives the net writes and the state they rest on, for the store to check and apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter

from fermion.identity.records import IdentityChanges, LinkRow, NewProfile, Snapshot
from fermion.identity.types import Key

_AGE = attrgetter("created_ms", "mpid")  # links oldest first (ties by MPID)


@dataclass
class Profile:
    mpid: int
    created_ms: int
    identities: dict[str, list[str]] = field(default_factory=dict)  # type -> values, oldest first

    def values(self, identity_type: str) -> list[str]:
        return self.identities.get(identity_type, [])

    def holds(self, key: Key) -> bool:
        return key[1] in self.identities.get(key[0], ())

    def pairs(self) -> list[Key]:
        return [(t, v) for t, values in self.identities.items() for v in values]


class IdentityView:
    def __init__(self, snapshot: Snapshot) -> None:
        self._asked_keys = snapshot.asked_keys
        self._profiles: dict[int, Profile] = {
            p.mpid: Profile(p.mpid, p.created_ms) for p in snapshot.profiles
        }
        self._created: dict[int, NewProfile] = {}
        self._links: dict[tuple[Key, int], LinkRow] = {}
        self._holders: dict[Key, dict[int, LinkRow]] = {k: {} for k in snapshot.asked_keys}
        # Oldest first, so a profile known only through its links is dated by its first one.
        for link in sorted(snapshot.links, key=_AGE):
            self._add(link)
        self._original = dict(self._links)
        self._first_stored: dict[Key, LinkRow] | None = None  # built when first needed (rarely)
        self._first_creator: dict[Key, int | None] = {}  # values first linked in this view: by whom
        self.writes = 0  # changes made on the view: what was read from it holds while this stays put

    # -- reading -------------------------------------------------------------------------------

    def profile(self, mpid: int) -> Profile | None:
        return self._profiles.get(mpid)

    def holders(self, key: Key) -> list[LinkRow]:
        """Links of an asked key (newest first); asking about a key not loaded is a bug."""
        if key not in self._asked_keys:
            raise KeyError(f"identity {key[0]} was not loaded")
        return sorted(self._holders[key].values(), key=_AGE, reverse=True)

    def sole_holder(self, key: Key) -> LinkRow | None:
        """The link of an asked key held by exactly one profile (None: by none or by several)."""
        holders = self._holders.get(key)
        if holders is None:
            raise KeyError(f"identity {key[0]} was not loaded")
        if len(holders) != 1:
            return None
        return next(iter(holders.values()))

    def link_of(self, key: Key, mpid: int) -> LinkRow | None:
        return self._links.get((key, mpid))

    def first_linked_by(self, key: Key) -> int | None:
        """The batch that first linked the value in the organization, as far as its links still
        show (None: an API call, or unknown)."""
        if self._first_stored is None:  # the oldest stored link of each asked value
            self._first_stored = {}
            for (asked, _), link in self._original.items():
                if asked in self._asked_keys:
                    self._first_stored.setdefault(asked, link)
        stored = self._first_stored.get(key)
        return stored.created_by if stored is not None else self._first_creator.get(key)

    # -- writing -------------------------------------------------------------------------------

    def create_profile(self, new: NewProfile) -> Profile:
        profile = self._profiles.get(new.mpid)
        if profile is None:
            profile = self._profiles[new.mpid] = Profile(new.mpid, new.created_ms)
            self._created[new.mpid] = new
            self.writes += 1
        return profile

    def link(self, key: Key, mpid: int, created_ms: int, created_by: int | None) -> None:
        if (key, mpid) in self._links:
            return
        self._require(key, mpid)
        if not self._holders[key]:
            self._first_creator.setdefault(key, created_by)
        self._add(LinkRow(key[0], key[1], mpid, created_ms, created_by))
        self.writes += 1

    def unlink(self, key: Key, mpid: int) -> None:
        if (key, mpid) not in self._links:
            return
        self._require(key, mpid)
        del self._links[(key, mpid)]
        self._holders[key].pop(mpid, None)
        self._profiles[mpid].identities[key[0]].remove(key[1])
        self.writes += 1

    def _require(self, key: Key, mpid: int) -> None:
        if key not in self._asked_keys:
            raise KeyError(f"identity {key[0]} was not loaded")
        if mpid not in self._profiles:
            raise KeyError(f"profile {mpid} was not loaded")

    def _add(self, link: LinkRow) -> None:
        key = link.key
        self._links[(key, link.mpid)] = link
        if key in self._holders:
            self._holders[key][link.mpid] = link
        profile = self._profiles.get(link.mpid)
        if profile is None:  # a profile known through its links (its row was not asked for)
            profile = self._profiles[link.mpid] = Profile(link.mpid, link.created_ms)
        profile.identities.setdefault(key[0], []).append(key[1])

    def changes(self) -> IdentityChanges:
        """The net writes since the snapshot, with the loaded state they rest on."""
        if not self.writes:
            return IdentityChanges()
        add = [r for k, r in self._links.items() if k not in self._original]
        remove = [(k[0][0], k[0][1], k[1]) for k in self._original if k not in self._links]
        changed_keys = sorted({r.key for r in add} | {(t, v) for t, v, _ in remove})
        changed_profiles = sorted({r.mpid for r in add} | {m for _, _, m in remove})
        holders: dict[Key, set[int]] = {k: set() for k in changed_keys}
        identities: dict[int, set[Key]] = {m: set() for m in changed_profiles}
        for key, mpid in self._original:
            if key in holders:
                holders[key].add(mpid)
            if mpid in identities:
                identities[mpid].add(key)
        return IdentityChanges(
            new_profiles=list(self._created.values()),
            holders={k: frozenset(v) for k, v in holders.items()},
            identities={m: frozenset(v) for m, v in identities.items() if m not in self._created},
            creators={k: self.first_linked_by(k) for k in changed_keys},
            add_links=add,
            remove_links=remove,
        )
