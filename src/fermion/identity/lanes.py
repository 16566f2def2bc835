"""Processing lanes: which of N embedded workers takes a batch. A stable hash of the batch's most
stable sender identity (the device first, then the MPID, then a user identity), so one device's or
user's batches always reach the same worker and keep their order."""

from __future__ import annotations

import zlib

from fermion.identity.batch import batch_identities
from fermion.identity.types import is_user_type
from fermion.model.batch import Batch


def lane_key(batch: Batch) -> str:
    """'' for a batch that names nobody (it can go anywhere)."""
    if batch.mp_deviceid:
        return f"das:{batch.mp_deviceid}"
    identities = batch_identities(batch)
    for identity_type, value in identities:
        if value and not is_user_type(identity_type):
            return f"{identity_type}:{value}"
    if batch.mpid:
        return f"mpid:{batch.mpid}"
    for identity_type, value in identities:
        if value:
            return f"{identity_type}:{value}"
    return ""


def lane_of(batch: Batch) -> int:
    """A 32-bit hash of `lane_key`, the same in every process and release (workers take hash % N)."""
    key = lane_key(batch)
    return zlib.crc32(key.encode()) if key else 0
