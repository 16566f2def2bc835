"""Settings validation, blocked values, the per-type cap, unique identities, search, modify, aliases."""

from __future__ import annotations

import pytest

from fermion.identity.alias import AliasRecord, AliasRefused, AliasRequest, check_alias
from fermion.identity.modify import IdentityChange, ModifyError
from fermion.identity.resolve import RequestKind
from fermion.identity.settings import IdentitySettings, Rules, SettingsError, Strategy, updated
from fermion.services.identity import IdentityService
from support.identity_memory import MemoryIdentityStore

WS = 7
ID, LOGIN, LOGOUT, SEARCH = RequestKind.IDENTIFY, RequestKind.LOGIN, RequestKind.LOGOUT, RequestKind.SEARCH
NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"strategy": "nope"}, "strategy"),
        ({"identity_priority": ["customer_id", "customerid"]}, "identity_priority[1]"),
        ({"identity_priority": ["Bad Name"]}, "identity_priority[0]"),
        ({"unique_identities": ["device_application_stamp"]}, "unique_identities"),
        ({"strategy": "best_match", "login_identities": ["email"]}, "login_identities"),
        ({"immutable_identities": ["email"]}, "immutable_identities"),
        ({"max_identities_per_type": 0}, "max_identities_per_type"),
        ({"max_identities_per_type": True}, "max_identities_per_type"),
        ({"blocked_values": [""]}, "blocked_values[0]"),
        ({"block_all_zeros": "yes"}, "block_all_zeros"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_settings_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError) as exc:
        updated(IdentitySettings(), changes)
    assert field in [f for f, _ in exc.value.errors]


def test_strategy_change_resets_its_identities_but_keeps_the_rest() -> None:
    base = updated(None, {"blocked_values": ["guest"], "max_identities_per_type": 3})
    link = updated(base, {"strategy": "link"})
    assert link.strategy is Strategy.PROFILE_LINK
    assert link.login_identities == ("customer_id", "email") == link.unique_identities
    assert link.blocked_values == ("guest",) and link.max_identities_per_type == 3
    best = updated(link, {"strategy": "best_match"})
    assert best.login_identities == () == best.unique_identities
    assert updated(None, {"strategy": "default"}) == IdentitySettings()
    custom = updated(
        None, {"login_identities": ["customerid", "email"], "immutable_identities": ["customer_id"]}
    )
    assert custom.login_identities == ("customer_id", "email")


@pytest.mark.parametrize(
    ("value", "blocked"),
    [("0", True), ("00000000-0000-0000-0000-000000000000", True), ("-1", True), ("NULL", True)],
)
def test_default_blocked_values(value: str, blocked: bool) -> None:
    assert (Rules.of(IdentitySettings()).blocked_reason(value) is not None) is blocked


def test_ordinary_values_are_not_blocked() -> None:
    rules = Rules.of(IdentitySettings())
    assert all(rules.blocked_reason(v) is None for v in ("100", "a0", "anon", "0x", "c-0"))
    assert Rules.of(updated(None, {"block_all_zeros": False})).blocked_reason("000") is None


def test_blocked_values_never_match_or_link(service: IdentityService, store: MemoryIdentityStore) -> None:
    first = service.resolve(WS, ID, [("customerid", "anonymous"), ("device_application_stamp", "d1")])
    second = service.resolve(WS, ID, [("customerid", "anonymous"), ("device_application_stamp", "d2")])
    assert first.mpid != second.mpid  # the shared placeholder did not join them
    assert store.find_mpid(3, "customer_id", "anonymous") is None
    assert first.explanation is not None
    finding = first.explanation.findings[0]
    assert finding.status == "blocked" and "blocked" in finding.reason
    service.update_settings(WS, {"blocked_values": ["guest"]})
    third = service.resolve(WS, ID, [("customerid", "anonymous"), ("device_application_stamp", "d3")])
    assert store.find_mpid(3, "customer_id", "anonymous") == third.mpid


def test_cap_on_identities_of_one_type(service: IdentityService, store: MemoryIdentityStore) -> None:
    service.update_settings(WS, {"strategy": "best_match", "max_identities_per_type": 2})
    mpid = service.resolve(WS, ID, [("ios_idfv", "kiosk")]).mpid
    for n in range(4):
        decision = service.resolve(WS, ID, [("email", f"u{n}@example.com"), ("ios_idfv", "kiosk")])
        assert decision.mpid == mpid
    assert decision.explanation is not None
    assert decision.explanation.skipped == [("email", "u3@example.com", "the profile already holds 2 values")]
    assert mpid is not None
    assert [v for t, v in store.identities_of(3, mpid) if t == "email"] == [
        "u0@example.com",
        "u1@example.com",
    ]


def test_unique_identity_moves_to_the_profile_that_claims_it(service: IdentityService) -> None:
    service.update_settings(WS, {"unique_identities": ["customer_id", "email"]})
    a = service.resolve(WS, LOGIN, [("customerid", "a"), ("email", "shared@example.com")]).mpid
    b = service.resolve(WS, LOGIN, [("customerid", "b")]).mpid
    assert a is not None and b is not None and a != b
    result = service.modify(WS, b, [IdentityChange("email", None, "shared@example.com")])
    assert result.moved == [("email", "shared@example.com", a)]
    assert service.find_mpid(WS, "email", "shared@example.com") == b
    assert service.identities(WS, a) == [("customer_id", "a")]


def test_modify_replaces_removes_and_validates(service: IdentityService) -> None:
    mpid = service.resolve(WS, LOGIN, [("customerid", "m"), ("email", "old@example.com")]).mpid
    assert mpid is not None
    service.modify(
        WS,
        mpid,
        [
            IdentityChange("email", "old@example.com", "new@example.com"),
            IdentityChange("customerid", "m", "m"),
        ],
    )
    assert sorted(service.identities(WS, mpid)) == [("customer_id", "m"), ("email", "new@example.com")]
    service.modify(WS, mpid, [IdentityChange("email", "new@example.com", None)])
    assert service.identities(WS, mpid) == [("customer_id", "m")]
    with pytest.raises(ModifyError) as exc:
        service.modify(WS, mpid, [IdentityChange("email", None, "-1"), IdentityChange("x y", None, "v")])
    assert [f for f, _ in exc.value.errors] == [
        "identity_changes[0].new_value",
        "identity_changes[1].identity_type",
    ]
    with pytest.raises(LookupError):
        service.modify(WS, 424242, [IdentityChange("email", None, "a@example.com")])


def test_immutable_identity_cannot_change(service: IdentityService) -> None:
    service.update_settings(WS, {"immutable_identities": ["customer_id"]})
    mpid = service.resolve(WS, LOGIN, [("customerid", "im")]).mpid
    assert mpid is not None
    with pytest.raises(ModifyError):
        service.modify(WS, mpid, [IdentityChange("customerid", "im", "other")])


def test_search_never_creates(service: IdentityService, store: MemoryIdentityStore) -> None:
    assert service.resolve(WS, SEARCH, [("email", "who@example.com")]).mpid is None
    assert not store.profiles
    mpid = service.resolve(WS, LOGIN, [("customerid", "s"), ("email", "who@example.com")]).mpid
    found = service.resolve(WS, SEARCH, [("email", "who@example.com")])
    assert found.mpid == mpid and found.matched == [("email", "who@example.com")]
    service.update_settings(WS, {"immutable_identities": ["customer_id"]})  # search matches only those
    assert service.resolve(WS, SEARCH, [("email", "who@example.com")]).mpid is None
    assert service.resolve(WS, SEARCH, [("customerid", "s")]).mpid == mpid


def test_read_only_resolution_writes_nothing(service: IdentityService, store: MemoryIdentityStore) -> None:
    decision = service.resolve(WS, ID, [("email", "ro@example.com")], read_only=True)
    assert decision.created and decision.mpid is not None
    assert not store.profiles and not store.links
    assert decision.explanation is not None and decision.explanation.rule == "no_match"


def test_identities_span_the_workspaces_of_an_organization(service: IdentityService) -> None:
    a = service.resolve(WS, LOGIN, [("customerid", "org-wide")]).mpid
    assert service.resolve(WS + 1, LOGIN, [("customerid", "org-wide")]).mpid == a


def test_logout_ignores_login_identities(service: IdentityService) -> None:
    decision = service.resolve(WS, LOGOUT, [("customerid", "c"), ("device_application_stamp", "d")])
    assert decision.created and not decision.is_logged_in
    assert decision.mpid is not None
    assert service.identities(WS, decision.mpid) == [("device_application_stamp", "d")]


def _alias(**kw: object) -> AliasRequest:
    base: dict[str, object] = {
        "source_mpid": 1,
        "destination_mpid": 2,
        "start_ms": NOW - 1000,
        "end_ms": NOW,
        "request_id": "r",
    }
    return AliasRequest(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "status", "field"),
    [
        (_alias(destination_mpid=1), 400, "data.source_mpid"),
        (_alias(start_ms=NOW + 1), 400, "data.start_unixtime_ms"),
        (_alias(end_ms=NOW + 3_600_000), 400, "data.end_unixtime_ms"),
        (_alias(start_ms=NOW - 91 * 86_400_000), 400, "data.start_unixtime_ms"),
        (_alias(destination_mpid=3), 400, "data.destination_mpid"),
    ],
)
def test_alias_refusals(request_: AliasRequest, status: int, field: str) -> None:
    with pytest.raises(AliasRefused) as exc:
        check_alias(request_, Rules.of(IdentitySettings()), NOW, frozenset({1, 2}), [])
    assert (exc.value.status, exc.value.field) == (status, field)


def test_alias_needs_a_strategy_that_allows_it() -> None:
    for strategy in ("profile_isolation", "best_match"):
        with pytest.raises(AliasRefused) as exc:
            check_alias(_alias(), Rules.of(updated(None, {"strategy": strategy})), NOW, frozenset({1, 2}), [])
        assert exc.value.status == 403


@pytest.mark.parametrize(
    ("history", "accepted"),
    [
        ([], True),
        ([AliasRecord(9, 1, 0, 1, "applied")], False),  # the source was a destination
        ([AliasRecord(2, 9, 0, 1, "applied")], False),  # the destination was a source
        ([AliasRecord(1, 8, NOW - 10, NOW + 10, "applied")], False),  # overlapping window
        ([AliasRecord(1, 8, 0, 10, "applied")], True),  # an earlier window
        ([AliasRecord(9, 1, 0, 1, "rejected")], True),  # failed requests do not count
    ],
)
def test_alias_silent_failures(history: list[AliasRecord], accepted: bool) -> None:
    verdict = check_alias(_alias(), Rules.of(IdentitySettings()), NOW, frozenset({1, 2}), history)
    assert verdict.accepted is accepted
