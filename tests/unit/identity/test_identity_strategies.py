"""The reference's worked flows (spec 1.9) for every strategy, as identify/login/logout sequences.

Each step: (request, identities, expected profile, expected is_logged_in). Profiles are named by the
step that created them: "new A" means a new MPID, remembered as A; "A" means A's MPID again.
Requests pass the MPID of the previous step as previous_mpid, as the SDKs do.
"""

from __future__ import annotations

import pytest

from fermion.identity.resolve import RequestKind
from fermion.identity.settings import Strategy
from fermion.services.identity import IdentityService
from support.identity_steps import Step, run_steps

WORKSPACE = 7  # see conftest.py

IDFV = {"ios_idfv": "9876"}
DAS = {"device_application_stamp": "das-1"}
ABC = {"customerid": "ABC123"}
OTHER = {"customerid": "OTHER-9"}
EMAIL = {"email": "abc@example.com"}
ID, LI, LO = RequestKind.IDENTIFY, RequestKind.LOGIN, RequestKind.LOGOUT

FLOWS: dict[Strategy, list[Step]] = {
    Strategy.PROFILE_CONVERSION: [
        Step(ID, IDFV, "new A", False),
        Step(LI, {**ABC, **EMAIL, **IDFV}, "A", True),  # the login id converts the anonymous profile
        Step(LO, IDFV, "new B", False),  # logout: a new device-only profile
        Step(LI, {**ABC, **IDFV}, "A", True),
        Step(ID, {"roku_aid": "8765"}, "new C", False),  # a new device
        Step(LI, {**ABC, "roku_aid": "8765"}, "A", True),  # ... later logs in: the Roku id joins A
        Step(LO, IDFV, "new D", False),
        Step(LI, {**OTHER, **IDFV}, "D", True),  # another user converts the device's anonymous profile
        Step(ID, IDFV, "B", False),  # device only: A and D hold login ids it lacks; B is anonymous
    ],
    Strategy.PROFILE_LINK: [
        Step(ID, DAS, "new A", False),
        Step(LI, {**ABC, **DAS}, "new B", True),  # a new known profile
        Step(LO, DAS, "new C", False),  # always a new anonymous profile
        Step(LI, {**ABC, **DAS}, "B", True),
        Step(LO, DAS, "new D", False),
        Step(LI, {**OTHER, **DAS}, "new E", True),
        Step(ID, DAS, "D", False),  # E holds a login id the request lacks; D is the newest anonymous
    ],
    Strategy.PROFILE_ISOLATION: [
        Step(ID, DAS, "new A", False),
        Step(LI, {**ABC, **DAS}, "new B", True),
        Step(LO, DAS, "A", False),  # logout returns to the device's anonymous profile
        Step(LI, {**ABC, **DAS}, "B", True),
        Step(LO, DAS, "A", False),
        Step(LI, {**OTHER, **DAS}, "new C", True),
        Step(LO, DAS, "A", False),
    ],
    Strategy.BEST_MATCH: [
        Step(ID, IDFV, "new A", False),
        Step(ID, {**EMAIL, **IDFV}, "A", True),  # the email joins A
        Step(ID, {"email": "second@example.com", **IDFV}, "A", True),  # nothing is unique: a 2nd email
        Step(ID, {"android_uuid": "and-1"}, "new B", False, previous=None),  # a new device
        Step(ID, {"android_uuid": "and-1", "email": "second@example.com"}, "A", True),  # email outranks
    ],
}


@pytest.mark.parametrize("strategy", list(FLOWS), ids=lambda s: s.value)
def test_reference_flow(service: IdentityService, strategy: Strategy) -> None:
    service.update_settings(WORKSPACE, {"strategy": strategy.value})
    run_steps(service, WORKSPACE, FLOWS[strategy])


def test_link_identify_after_logout_resolves_to_the_newest_anonymous_profile(
    service: IdentityService,
) -> None:
    service.update_settings(WORKSPACE, {"strategy": "profile_link"})
    run_steps(
        service,
        WORKSPACE,
        [
            Step(ID, DAS, "new A", False),
            Step(LI, {**ABC, **DAS}, "new B", True),
            Step(LO, DAS, "new C", False),
            Step(ID, DAS, "C", False, previous=None),  # no previous_mpid: the newest anonymous wins
        ],
    )


def test_conversion_known_profile_is_never_returned_for_device_ids_alone(service: IdentityService) -> None:
    run_steps(
        service,
        WORKSPACE,
        [
            Step(LI, {**ABC, **IDFV}, "new A", True, previous=None),
            Step(ID, IDFV, "new B", False, previous=None),  # A holds a login id the request lacks
            Step(ID, IDFV, "B", False, previous=None),  # ... and B is the device's profile from now on
        ],
    )


def test_matched_identities_and_explanation(service: IdentityService) -> None:
    first = service.resolve(WORKSPACE, LI, list({**ABC, **DAS}.items()))
    again = service.resolve(WORKSPACE, ID, [("customerid", "ABC123"), ("email", "x@example.com")])
    assert again.mpid == first.mpid and not again.created
    assert again.matched == [("customerid", "ABC123")]
    ex = again.explanation
    assert ex is not None
    assert ex.rule == "matched" and ex.decided_by == "customer_id"
    assert ex.added == [("email", "x@example.com")]
    assert [f.status for f in ex.findings] == ["matched", "not_found"]
