"""The identity phase's shortcuts give what the full path gives: sole_match() against resolve(), the
phase with and without it, the quiet screen() against the explained one, batch_identities() against
reading every field."""

from __future__ import annotations

import itertools
from contextlib import nullcontext
from typing import Any
from unittest import mock

import msgspec
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fermion.identity.batch import _DEVICE_FIELDS, batch_identities
from fermion.identity.explain import Explanation
from fermion.identity.records import LinkRow
from fermion.identity.resolve import RequestKind, ResolveRequest, keys_to_load, resolve, screen, sole_match
from fermion.identity.settings import IdentitySettings, Rules, Strategy, defaults_for
from fermion.identity.view import IdentityView
from fermion.model.batch import Batch, DeviceInfo, UserIdentities
from fermion.model.records import InboundRecord
from fermion.model.tenancy import Workspace
from fermion.pipeline.normalize import normalize
from fermion.services.identity import IdentityService
from fermion.services.identity_phase import IdentityPhase
from fermion.services.processing import ProcessingReport, Processor, PureStages, WorkItem
from support.identity_memory import MemoryIdentityStore

ORG, WS = 3, 7
T0 = 1_700_000_000_000
TYPES = ("customer_id", "email", "ios_idfv", "device_application_stamp")
VALUES = ("a", "b", "c")
MPIDS = (11, 12, 13)

all_rules = st.builds(
    lambda strategy, immutable, cap: Rules.of(
        msgspec.structs.replace(
            defaults_for(strategy),
            immutable_identities=("customer_id",)
            if immutable and strategy is not Strategy.BEST_MATCH
            else (),
            max_identities_per_type=cap,
        )
    ),
    st.sampled_from(list(Strategy)),
    st.booleans(),
    st.integers(1, 3),
)
links = st.lists(
    st.builds(
        LinkRow,
        st.sampled_from(TYPES),
        st.sampled_from(VALUES),
        st.sampled_from(MPIDS),
        st.integers(T0, T0 + 5),
        st.none() | st.integers(1, 3),
    ),
    max_size=10,
    unique_by=lambda r: (r.key, r.mpid),
)
request_identities = st.lists(
    st.tuples(
        st.sampled_from([*TYPES, "customerid", "Bad Name", "other_id_2"]),
        st.none() | st.sampled_from([*VALUES, "", " ", "0", "null", "x" * 600]),
    ),
    max_size=4,
)


def _store_with(rows: list[LinkRow]) -> MemoryIdentityStore:
    store = MemoryIdentityStore()
    for r in rows:
        store.links[(ORG, r.identity_type, r.value, r.mpid)] = r
    return store


@given(request_identities, all_rules)
def test_the_quiet_screen_keeps_what_the_explained_one_keeps(
    identities: list[tuple[str, str | None]], rules: Rules
) -> None:
    ex = Explanation(rules.strategy.value, "identify")
    assert screen(identities, rules) == screen(identities, rules, ex)
    assert len(ex.findings) == len(identities)


@given(links, request_identities, all_rules)
def test_sole_match_is_what_resolve_decides(
    rows: list[LinkRow], identities: list[tuple[str, str | None]], rules: Rules
) -> None:
    store = _store_with(rows)
    keys = keys_to_load(identities, rules)
    found = sole_match(screen(identities, rules), IdentityView(store.load(ORG, keys)), rules)
    if found is None:
        return
    mpid, links_found = found
    view = IdentityView(store.load(ORG, keys))
    assert links_found == [view.link_of(key, mpid) for key in keys]
    request = ResolveRequest(RequestKind.BATCH, identities, WS, created_by=1)

    def no_new_mpid() -> int:
        raise AssertionError("a matched batch creates no profile")

    decision = resolve(request, view, rules, no_new_mpid, T0 + 10)
    assert decision.explanation is not None and decision.explanation.rule == "matched"
    assert (decision.mpid, decision.created, decision.added) == (mpid, False, [])
    assert view.changes().empty


def test_sole_match_declines_what_it_cannot_shortcut() -> None:
    rules = Rules.of(IdentitySettings())
    store = _store_with(
        [
            LinkRow("customer_id", "a", 11, T0),
            LinkRow("ios_idfv", "d1", 11, T0),
            LinkRow("ios_idfv", "d2", 11, T0),
            LinkRow("ios_idfv", "d2", 12, T0 + 1),
        ]
    )

    def match(*identities: tuple[str, str]) -> int | None:
        keys = keys_to_load(identities, rules)
        found = sole_match(screen(identities, rules), IdentityView(store.load(ORG, keys)), rules)
        return None if found is None else found[0]

    assert match(("customerid", "a"), ("ios_idfv", "d1")) == 11
    assert match(("ios_idfv", "d1"), ("customerid", "a")) == 11
    assert match(("customerid", "a"), ("ios_idfv", "new")) is None  # something to add
    assert match(("ios_idfv", "d2")) is None  # two holders
    assert match(("ios_idfv", "d1")) is None  # a known profile, and the request has no login
    assert match(("customerid", "0")) is None  # nothing usable: a new profile
    assert match() is None


class _Config:
    def get_workspace(self, workspace_id: int) -> Workspace | None:
        if workspace_id != WS:
            return None
        return Workspace(id=workspace_id, account_id=1, org_id=ORG, name="ws", created_ms=0)


class _Capture:
    name = "capture"

    def __init__(self) -> None:
        self.items: list[WorkItem] = []

    def run(self, items: list[WorkItem], now_ms: int, report: ProcessingReport) -> list[WorkItem]:
        self.items = list(items)
        return items


def _phase_outcomes(groups: list[list[InboundRecord]], strategy: Strategy, fast: bool) -> list[Any]:
    store = MemoryIdentityStore()
    store.settings[WS] = defaults_for(strategy)
    counter = itertools.count(1001)
    service = IdentityService(store, _Config(), cache_ttl_s=600, new_mpid=lambda: next(counter))  # type: ignore[arg-type]
    capture = _Capture()
    processor = Processor(
        [PureStages([normalize]), IdentityPhase(service, store), capture], clock=lambda: T0 / 1000
    )
    out: list[Any] = []
    slow = mock.patch("fermion.services.identity_phase.sole_match", return_value=None)
    with nullcontext() if fast else slow:
        for group in groups:
            processor.process(group)
            out.append(
                [
                    (i.record.batch_id, orjson.dumps(msgspec.to_builtins(i.batch)), i.notes)
                    for i in capture.items
                ]
            )
    out.append(sorted(store.links.items()))
    return out


def _body(customer: str | None, email: str | None, idfv: str | None, mpid: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"events": [{"event_type": "custom_event", "data": {"event_name": "x"}}]}
    user = {k: v for k, v in (("customerid", customer), ("email", email)) if v is not None}
    if user:
        body["user_identities"] = user
    if idfv is not None:
        body["device_info"] = {"ios_idfv": idfv}
    if mpid is not None:
        body["mpid"] = str(mpid)
    return body


bodies = st.builds(
    _body,
    st.none() | st.sampled_from(["c1", "c2", "c3"]),
    st.none() | st.sampled_from(["e1", "e2"]),
    st.none() | st.sampled_from(["d1", "d2", "d3"]),
    st.none() | st.sampled_from([-5, 77]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(bodies, min_size=1, max_size=12), min_size=1, max_size=4),
    st.sampled_from(list(Strategy)),
)
# An email's profile takes a customer id mid-group: the next batch with only that email no longer
# matches it (the login guard), though the same identities matched it a moment earlier.
@example(
    [[_body(None, "e1", None, None)] * 2 + [_body("c1", "e1", None, None), _body(None, "e1", None, None)]],
    Strategy.PROFILE_CONVERSION,
)
def test_the_phase_gives_the_same_with_and_without_the_fast_path(
    group_bodies: list[list[dict[str, Any]]], strategy: Strategy
) -> None:
    batch_ids = itertools.count(1)
    groups = [
        [
            InboundRecord(
                batch_id=(batch_id := next(batch_ids)),
                workspace_id=WS,
                input_id=1,
                environment="production",
                received_ms=T0 + batch_id,
                source_ip="",
                request_id="r",
                historical=False,
                payload=orjson.dumps(body),
            )
            for body in bodies_of_group
        ]
        for bodies_of_group in group_bodies
    ]
    groups.append(groups[0])  # reprocessed: the batches' own links are found again
    assert _phase_outcomes(groups, strategy, fast=True) == _phase_outcomes(groups, strategy, fast=False)


def _identities_field_by_field(batch: Batch) -> list[tuple[str, str | None]]:
    """batch_identities() as it was: every field read one by one."""
    out: list[tuple[str, str | None]] = []
    ids = batch.user_identities
    if ids is not None:
        for name in UserIdentities.__struct_fields__:
            value = getattr(ids, name)
            if name != "extra" and isinstance(value, str):
                out.append(("customer_id" if name == "customerid" else name, value))
    if batch.mp_deviceid:
        out.append(("device_application_stamp", batch.mp_deviceid))
    info = batch.device_info
    if info is not None:
        for name, identity_type in _DEVICE_FIELDS:
            value = getattr(info, name)
            if isinstance(value, str):
                out.append((identity_type, value))
    return out


_strings = st.none() | st.sampled_from(["", "v", "0", "x y"])


@given(
    st.none()
    | st.builds(
        UserIdentities, **{f: _strings for f in ("customerid", "customer_id", "email", "other_id_2")}
    ),
    st.none()
    | st.builds(
        DeviceInfo,
        **{f: _strings for f in ("ios_idfv", "ios_advertising_id", "push_token", "android_uuid", "brand")},
        extra=st.dictionaries(st.sampled_from(["ios_idfv", "x"]), st.text(max_size=2), max_size=2),
    ),
    st.none() | st.sampled_from(["", "das"]),
)
def test_batch_identities_reads_every_identity_field(
    user: UserIdentities | None, device: DeviceInfo | None, das: str | None
) -> None:
    batch = Batch(user_identities=user, device_info=device, mp_deviceid=das)
    assert batch_identities(batch) == _identities_field_by_field(batch)


def test_the_view_counts_its_writes_and_an_unchanged_view_has_no_changes() -> None:
    store = _store_with([LinkRow("email", "a", 11, T0)])
    view = IdentityView(store.load(ORG, [("email", "a"), ("email", "b")]))
    assert view.writes == 0 and view.changes().empty
    view.link(("email", "a"), 11, T0 + 1, 5)  # already there: no write
    assert view.writes == 0
    view.link(("email", "b"), 11, T0 + 1, 5)
    view.unlink(("email", "b"), 11)  # a net nothing, though two writes
    assert view.writes == 2 and view.changes().empty
    view.unlink(("email", "a"), 11)
    assert view.writes == 3 and view.changes().remove_links == [("email", "a", 11)]
    assert view.first_linked_by(("email", "a")) is None  # the stored link's (an API call's)
