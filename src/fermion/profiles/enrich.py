"""Profile enrichment of outgoing batches: what forwarding adds to a batch from the user's profile.

mParticle sends every output the user's current identities, user attributes and consent state, not
only what the incoming batch carried. The batch's own values stay as sent; the profile fills in
what the batch lacks: the newest linked value of each user identity type, the live attributes the
batch neither sets nor deletes, and per consent purpose the newer (by timestamp) of the batch's and
the stored consent. Device information is the sending device's own and is not filled in. Pure: no
I/O; a batch the profile adds nothing to is returned as the same object (it is then queued by
reference to the stored batch, without a second copy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import structs

from fermion.model.batch import Batch, Consent, ConsentState, UserIdentities
from fermion.model.identity_names import USER_SET
from fermion.profiles.state import ConsentEntry, Profile

__all__ = ["enrich", "merged_consent", "missing_attributes", "missing_identities"]


def missing_identities(
    own: UserIdentities | None, identities: Mapping[str, Sequence[str]]
) -> dict[str, str] | None:
    """The user identities the profile holds and the batch does not carry (type -> newest value;
    `identities` lists each type's values oldest first, as IDSync keeps them), or None."""
    missing: dict[str, str] | None = None
    for identity_type, values in identities.items():
        if not values or identity_type not in USER_SET:
            continue
        if own is not None and (
            getattr(own, identity_type) is not None
            or (identity_type == "customer_id" and own.customerid is not None)
        ):
            continue
        if missing is None:
            missing = {}
        missing[identity_type] = values[-1]
    return missing


def missing_attributes(batch: Batch, profile: Profile) -> dict[str, Any] | None:
    """The profile's live attributes the batch neither sets nor deletes (name -> value), or None."""
    attributes = profile.attributes
    if not attributes:
        return None
    own = batch.user_attributes or {}
    deleted = batch.deleted_user_attributes or ()
    missing = {
        name: a.value
        for name, a in attributes.items()
        if not a.deleted and name not in own and name not in deleted
    }
    return missing or None


def _consent(entry: ConsentEntry) -> Consent:
    return Consent(
        consented=entry.consented,
        document=entry.document,
        timestamp_unixtime_ms=entry.ts_ms,
        location=entry.location,
        hardware_id=entry.hardware_id,
    )


def _own_key(purposes: Mapping[str, Consent] | None, purpose: str) -> str | None:
    """The batch's key for `purpose` (SDKs lowercase purpose names; compared without case)."""
    if not purposes:
        return None
    if purpose in purposes:
        return purpose
    wanted = purpose.casefold()
    return next((p for p in purposes if p.casefold() == wanted), None)


def merged_consent(
    state: ConsentState | None, stored: Mapping[tuple[str, str], ConsentEntry]
) -> ConsentState | None:
    """The batch's consent state merged with the user's stored consent: per regulation and purpose the
    newer by timestamp wins (a tie, or a batch consent without a timestamp, keeps the batch's: it is
    what the client says now). `state` itself when the stored consent changes nothing."""
    if not stored:
        return state
    merged: dict[str, dict[str, Consent]] = {}
    for (regulation, purpose), entry in stored.items():
        if regulation == "gdpr":
            purposes = state.gdpr if state is not None else None
        elif regulation == "ccpa":
            purposes = state.ccpa if state is not None else None
        else:
            continue
        key = _own_key(purposes, purpose)
        if key is not None:
            assert purposes is not None
            ts = purposes[key].timestamp_unixtime_ms
            if ts is None or ts >= entry.ts_ms:
                continue
        out = merged.get(regulation)
        if out is None:
            out = merged[regulation] = dict(purposes or {})
        out[key if key is not None else purpose] = _consent(entry)
    if not merged:
        return state
    if state is None:
        return ConsentState(gdpr=merged.get("gdpr"), ccpa=merged.get("ccpa"))
    return structs.replace(state, gdpr=merged.get("gdpr", state.gdpr), ccpa=merged.get("ccpa", state.ccpa))


def enrich(batch: Batch, identities: Mapping[str, Sequence[str]] | None, profile: Profile | None) -> Batch:
    """The batch with what the user's identities (IDSync: type -> values, oldest first) and profile add
    to it; the same object when they add nothing (the common case: checked without building anything)."""
    ids = missing_identities(batch.user_identities, identities) if identities else None
    attributes = missing_attributes(batch, profile) if profile is not None and profile.attributes else None
    state = batch.consent_state
    consent = merged_consent(state, profile.consent) if profile is not None and profile.consent else state
    if ids is None and attributes is None and consent is state:
        return batch
    return structs.replace(
        batch,
        user_identities=batch.user_identities
        if ids is None
        else structs.replace(batch.user_identities or UserIdentities(), **ids),
        user_attributes=batch.user_attributes
        if attributes is None
        else {**attributes, **(batch.user_attributes or {})},
        consent_state=consent,
    )
