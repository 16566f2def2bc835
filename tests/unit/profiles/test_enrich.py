"""Profile enrichment of outgoing batches: identities, attributes and consent the batch lacks, consent
merged newest-timestamp-wins, and the batch itself back when the profile adds nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fermion.model.batch import Batch, Consent, ConsentState
from fermion.model.codec import decode_batch_obj, encode_batch
from fermion.profiles.enrich import enrich, merged_consent, missing_attributes, missing_identities
from fermion.profiles.state import Attribute, ConsentEntry, Profile


def batch(**body: Any) -> Batch:
    return decode_batch_obj({"events": [], **body})


def entry(regulation: str, purpose: str, consented: bool, ts: int, **extra: Any) -> ConsentEntry:
    return ConsentEntry(
        regulation=regulation, purpose=purpose, consented=consented, ts_ms=ts, batch_id=1, **extra
    )


def profile(
    attributes: dict[str, Any] | None = None,
    consent: Sequence[ConsentEntry] = (),
    deleted: Sequence[str] = (),
) -> Profile:
    attrs = {n: Attribute(value=v, ts_ms=1, batch_id=1) for n, v in (attributes or {}).items()}
    attrs.update({n: Attribute(value=None, ts_ms=2, batch_id=2, deleted=True) for n in deleted})
    return Profile(workspace_id=1, mpid=7, attributes=attrs, consent={e.key: e for e in consent})


IDS = {"customer_id": ["old", "cust-1"], "email": ["a@b.c"], "ios_idfv": ["idfv"], "loyalty": ["x"]}


def test_identities_newest_value_of_each_user_type_the_batch_lacks() -> None:
    assert missing_identities(None, IDS) == {"customer_id": "cust-1", "email": "a@b.c"}  # no device/custom
    own = batch(user_identities={"email": "mine@b.c"}).user_identities
    assert missing_identities(own, IDS) == {"customer_id": "cust-1"}
    sdk_spelling = batch(user_identities={"customerid": "c"}).user_identities
    assert missing_identities(sdk_spelling, IDS) == {"email": "a@b.c"}  # customerid is customer_id
    assert missing_identities(None, {"email": []}) is None


def test_attributes_the_batch_neither_sets_nor_deletes() -> None:
    p = profile({"hair": "brown", "age": 30, "tags": ["a"]}, deleted=["gone"])
    assert missing_attributes(batch(), p) == {"hair": "brown", "age": 30, "tags": ["a"]}
    own = batch(user_attributes={"hair": "red"}, deleted_user_attributes=["age"])
    assert missing_attributes(own, p) == {"tags": ["a"]}
    assert missing_attributes(batch(), profile()) is None


def test_consent_newest_timestamp_wins() -> None:
    stored = {
        e.key: e
        for e in (
            entry("ccpa", "data_sale_opt_out", True, 100, document="doc"),
            entry("gdpr", "marketing", True, 100),
            entry("gdpr", "location", False, 300),
        )
    }
    state = batch(
        consent_state={
            "gdpr": {
                "Marketing": {"consented": False, "timestamp_unixtime_ms": 200},  # newer: the batch's
                "location": {"consented": True, "timestamp_unixtime_ms": 250},  # older: the profile's
            }
        }
    ).consent_state
    merged = merged_consent(state, stored)
    assert merged is not None and merged.gdpr is not None and merged.ccpa is not None
    assert (
        merged.gdpr["Marketing"].consented is False and "marketing" not in merged.gdpr
    )  # matched without case
    assert merged.gdpr["location"] == Consent(consented=False, timestamp_unixtime_ms=300)
    assert merged.ccpa["data_sale_opt_out"] == Consent(
        consented=True, document="doc", timestamp_unixtime_ms=100
    )
    assert (
        state is not None and state.gdpr is not None and state.gdpr["location"].consented is True
    )  # not modified


def test_consent_ties_and_untimed_batch_consent_keep_the_batchs() -> None:
    stored = {("ccpa", "data_sale_opt_out"): entry("ccpa", "data_sale_opt_out", True, 100)}
    for given in ({"consented": False, "timestamp_unixtime_ms": 100}, {"consented": False}):
        state = batch(consent_state={"ccpa": {"data_sale_opt_out": given}}).consent_state
        assert merged_consent(state, stored) is state
    assert merged_consent(None, {}) is None
    only_stored = merged_consent(None, stored)
    assert only_stored == ConsentState(
        ccpa={"data_sale_opt_out": Consent(consented=True, timestamp_unixtime_ms=100)}
    )


def test_enrich_fills_in_and_keeps_the_batchs_own_values() -> None:
    p = profile({"hair": "brown", "plan": "gold"}, [entry("ccpa", "data_sale_opt_out", True, 100)])
    sent = batch(mpid=7, user_attributes={"plan": "free"}, user_identities={"other": "o"})
    out = enrich(sent, IDS, p)
    assert out.user_identities is not None
    assert (out.user_identities.customer_id, out.user_identities.email, out.user_identities.other) == (
        "cust-1",
        "a@b.c",
        "o",
    )
    assert out.user_attributes == {"hair": "brown", "plan": "free"}
    assert out.consent_state is not None and out.consent_state.ccpa is not None
    assert out.consent_state.ccpa["data_sale_opt_out"].consented is True
    assert sent.user_attributes == {"plan": "free"} and sent.consent_state is None  # the received batch stays
    assert b'"customer_id":"cust-1"' in encode_batch(out)


def test_enrich_returns_the_batch_itself_when_nothing_is_added() -> None:
    full = batch(
        mpid=7,
        user_identities={"customerid": "cust-1", "email": "a@b.c"},
        user_attributes={"hair": "brown"},
        consent_state={"ccpa": {"data_sale_opt_out": {"consented": False, "timestamp_unixtime_ms": 200}}},
    )
    p = profile({"hair": "black"}, [entry("ccpa", "data_sale_opt_out", True, 100)])
    assert enrich(full, IDS, p) is full
    assert enrich(full, None, None) is full
    empty = batch()
    assert enrich(empty, {}, profile()) is empty
