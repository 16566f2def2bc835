"""The outgoing ("raw") batch JSON that data-storage outputs receive (spec 2.1, output-only fields).

Stored batches keep `user_identities` as the inbound map; on output it becomes an array of
`{identity_type, identity}` objects, and the optional `unique_id` is added. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from fermion.model.identity_names import batch_user_type

__all__ = ["to_outgoing", "user_identities_array"]


def user_identities_array(identities: dict[str, Any]) -> list[dict[str, Any]]:
    """The inbound identity map as the outgoing array (the SDK spelling `customerid` is customer_id)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for identity_type, identity in identities.items():
        if identity is None or isinstance(identity, (dict, list)):
            continue
        kind = batch_user_type(identity_type)
        if kind in seen:
            continue
        seen.add(kind)
        out.append({"identity_type": kind, "identity": identity})
    return out


def to_outgoing(batch: dict[str, Any], unique_id: str | None = None) -> dict[str, Any]:
    """A stored batch (JSON object) in the outgoing format; `batch` is not modified."""
    out = dict(batch)
    identities = out.get("user_identities")
    if isinstance(identities, dict):
        out["user_identities"] = user_identities_array(identities)
    if unique_id:
        out["unique_id"] = unique_id
    return out
