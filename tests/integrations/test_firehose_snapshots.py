"""Amazon Kinesis Firehose audience output: `map` snapshots over the shared fixtures. An audience output
maps membership changes, so each fixture's user (its MPID and the identities the batch carries, by
their canonical names as the audience phase keeps them) joins, changes identities, leaves an audience,
and the audience is deleted; the records are snapshotted as the sender hands them to Firehose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fermion.identity.batch import batch_identities
from fermion.identity.types import canonical_type
from fermion.integrations.amazon_kinesis_firehose import (
    INTEGRATION,
    FirehoseConnectionSettings,
    FirehoseSettings,
)
from fermion.integrations.spec import FirehoseRecord, OutgoingBatch
from fermion.model.audiences import ChangeAction, MembershipChange, change_id_of, encode_changes
from support.batches import all_fixture_names
from support.outgoing import RECEIVED_MS, check_snapshot, map_settings, outgoing

SNAPSHOTS = Path(__file__).parent / "snapshots" / INTEGRATION.id
AUDIENCE_ID = 123123


def changes_of(name: str) -> list[MembershipChange]:
    """The fixture's user joins, gets a new email, leaves; then the audience is deleted."""
    batch = outgoing(name).as_batch()
    identities: dict[str, str] = {}
    for key, value in batch_identities(batch):
        identity_type = canonical_type(key)
        if identity_type is not None and value:
            identities.setdefault(identity_type, value)
    if batch.mpid:
        identities["mpid"] = str(batch.mpid)
    newer = {**identities, "email": "new.address@example.com"}

    def change(
        action: ChangeAction, at: int, now: dict[str, str], before: dict[str, str]
    ) -> MembershipChange:
        mpid = 0 if action is ChangeAction.DELETE else batch.mpid or 0
        return MembershipChange(
            change_id=change_id_of(AUDIENCE_ID, mpid, action.value, RECEIVED_MS + at),
            workspace_id=1,
            audience_id=AUDIENCE_ID,
            audience_name="LowEngagement",
            action=action,
            mpid=mpid,
            changed_ms=RECEIVED_MS + at,
            identities=now,
            previous_identities=before,
        )

    return [
        change(ChangeAction.ADD, 0, identities, {}),
        change(ChangeAction.IDENTITY_CHANGE, 1000, newer, identities),
        change(ChangeAction.REMOVE, 2000, newer, {}),
        change(ChangeAction.DELETE, 3000, {}, {}),
    ]


def as_outgoing(c: MembershipChange) -> OutgoingBatch:
    return OutgoingBatch(
        batch_id=c.change_id,
        workspace_id=c.workspace_id,
        input_id=0,
        environment=c.environment,
        mpid=c.mpid,
        received_ms=c.changed_ms,
        payload=encode_changes(c),
    )


@pytest.mark.parametrize("name", all_fixture_names())
def test_snapshot(name: str) -> None:
    out = FirehoseSettings.model_validate({"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t"})
    conn = FirehoseConnectionSettings.model_validate(
        {"delivery_stream_name": "mPTravelAudiences", "send_anonymous_users": True}
    )
    changes = changes_of(name)
    records = INTEGRATION.map([as_outgoing(c) for c in changes], map_settings(out, conn, input_name=""))
    assert all(isinstance(r, FirehoseRecord) for r in records)
    check_snapshot(
        SNAPSHOTS / f"{name}.json",
        [
            {
                "stream": r.stream,
                "region": r.region,
                "data": json.loads(r.data),
                "dedupe_key": r.dedupe_key,
                "batch_ids": [changes.index(c) for c in changes if c.change_id in r.batch_ids],
            }
            for r in records
            if isinstance(r, FirehoseRecord)
        ],
    )
