"""Interim MPID assignment until IDSync lands: honour a given mpid, else derive one from identities.

The derived MPID is stable for the same workspace and strongest identity, so repeated batches of one
user land on one profile id. IDSync (issue 3) replaces this stage with real resolution.
"""

from __future__ import annotations

from msgspec import structs

from fermion.model.batch import Batch
from fermion.model.ids import derived_id
from fermion.pipeline.stage import StageContext

# Strongest first: the first present identity decides.
_USER_KEYS = ("customer_id", "customerid", "email", "other", "mobile_number")
_DEVICE_KEYS = (
    "ios_idfv",
    "ios_advertising_id",
    "android_uuid",
    "android_advertising_id",
    "roku_advertising_id",
    "fire_advertising_id",
    "microsoft_advertising_id",
)


def device_ids_of(batch: Batch) -> list[str]:
    """Every device identifier the batch carries (for filtering and, later, identity)."""
    found: list[str] = []
    if batch.mp_deviceid:
        found.append(batch.mp_deviceid)
    info = batch.device_info
    if info is not None:
        for key in _DEVICE_KEYS:
            value = getattr(info, key, None)
            if isinstance(value, str) and value:
                found.append(value)
    return found


def assign_mpid(batch: Batch, ctx: StageContext) -> Batch:
    if batch.mpid is not None:
        return batch
    return structs.replace(batch, mpid=_derive_mpid(batch, ctx.record.workspace_id))


def _derive_mpid(batch: Batch, workspace_id: int) -> int:
    ids = batch.user_identities
    if ids is not None:
        for key in _USER_KEYS:
            value = getattr(ids, key, None)
            if isinstance(value, str) and value:
                kind = "customer_id" if key == "customerid" else key
                return derived_id("mpid", workspace_id, kind, value)
    devices = device_ids_of(batch)
    if devices:
        return derived_id("mpid", workspace_id, "device", devices[0])
    return derived_id("mpid", workspace_id, "anonymous-batch", batch.batch_id)
