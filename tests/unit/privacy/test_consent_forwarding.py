"""Unit tests of consent forwarding rules: GDPR "only forward if consented", CCPA "do not forward if the
data sale opt-out is present" (a missing or false opt-out lets data flow)."""

from __future__ import annotations

from typing import Any

import pytest

from fermion.model.batch import Batch
from fermion.model.codec import decode_batch_obj
from fermion.model.delivery import Connection, ConnectionStatus
from fermion.pipeline.stage import Drop
from fermion.privacy.forwarding import (
    CONSENT_RULES_KEY,
    ConsentRule,
    ConsentRulesLoader,
    blocked_by,
    consent_forwarding,
    decode_rules,
    rules_errors,
)

GDPR_MARKETING = ConsentRule(regulation="gdpr", purpose="marketing")
CCPA = ConsentRule(regulation="ccpa")


def batch(gdpr: dict[str, Any] | None = None, ccpa: dict[str, Any] | None = None) -> Batch:
    state: dict[str, Any] = {}
    if gdpr is not None:
        state["gdpr"] = gdpr
    if ccpa is not None:
        state["ccpa"] = ccpa
    body: dict[str, Any] = {"events": []}
    if state:
        body["consent_state"] = state
    return decode_batch_obj(body)


def consent(value: bool) -> dict[str, Any]:
    return {"consented": value, "timestamp_unixtime_ms": 1}


@pytest.mark.parametrize(
    ("state", "forwarded"),
    [
        ({"marketing": consent(True)}, True),
        ({"Marketing": consent(True)}, True),  # purposes compare without case
        ({"marketing": consent(False)}, False),
        ({"analytics": consent(True)}, False),
        (None, False),  # missing consent: only-forward-if blocks
    ],
)
def test_gdpr_only_forward_if_consented(state: dict[str, Any] | None, forwarded: bool) -> None:
    assert (blocked_by(batch(gdpr=state), [GDPR_MARKETING]) is None) is forwarded


@pytest.mark.parametrize(
    ("state", "forwarded"),
    [
        ({"data_sale_opt_out": consent(True)}, False),
        ({"data_sale_opt_out": consent(False)}, True),
        ({}, True),
        (None, True),  # missing opt-out lets data flow
    ],
)
def test_ccpa_do_not_forward_if_opted_out(state: dict[str, Any] | None, forwarded: bool) -> None:
    assert (blocked_by(batch(ccpa=state), [CCPA]) is None) is forwarded


def test_every_rule_must_pass() -> None:
    both = [GDPR_MARKETING, CCPA]
    ok = batch(gdpr={"marketing": consent(True)}, ccpa={"data_sale_opt_out": consent(False)})
    assert blocked_by(ok, both) is None
    opted_out = batch(gdpr={"marketing": consent(True)}, ccpa={"data_sale_opt_out": consent(True)})
    assert blocked_by(opted_out, both) == CCPA


def test_explicit_actions() -> None:
    do_not_if_declined = ConsentRule(
        regulation="gdpr", purpose="ads", action="do_not_forward_if", consented=False
    )
    assert blocked_by(batch(gdpr={"ads": consent(False)}), [do_not_if_declined]) == do_not_if_declined
    assert blocked_by(batch(gdpr={"ads": consent(True)}), [do_not_if_declined]) is None
    assert blocked_by(batch(), [do_not_if_declined]) is None


def test_rule_validation_names_fields() -> None:
    assert rules_errors([{"regulation": "gdpr", "purpose": "marketing"}, {"regulation": "ccpa"}]) == []
    errors = dict(
        rules_errors(
            [
                {"regulation": "hipaa"},
                {"regulation": "ccpa", "purpose": "other"},
                {"regulation": "gdpr", "purpose": " "},
                {"regulation": "gdpr", "purpose": "x", "bogus": 1},
                {"regulation": "gdpr"},
            ]
        )
    )
    assert set(errors) == {
        "consent_rules[0].regulation",
        "consent_rules[1].purpose",
        "consent_rules[2].purpose",
        "consent_rules[3].bogus",
        "consent_rules[4].purpose",
    }, errors
    assert rules_errors({"regulation": "gdpr"}) == [
        ("consent_rules", "must be a list of consent forwarding rules")
    ]


def connection(cid: int, rules: object) -> Connection:
    return Connection(
        id=cid, workspace_id=1, input_id=1, output_id=1, integration_id="webhook",
        settings={} if rules is None else {CONSENT_RULES_KEY: rules}, status=ConnectionStatus.ACTIVE,
        send_development=True, send_production=True, created_ms=0, updated_ms=0,
    )  # fmt: skip


class Ctx:
    def __init__(self, extras: dict[str, Any]) -> None:
        self.extras = extras


def test_loader_and_stage() -> None:
    loaded = ConsentRulesLoader().load(
        [connection(1, [{"regulation": "ccpa"}]), connection(2, None), connection(3, [{"regulation": 5}])]
    )
    assert loaded[1] == decode_rules([{"regulation": "ccpa"}])
    assert 2 not in loaded
    opted_out = batch(ccpa={"data_sale_opt_out": consent(True)})
    fine = batch()
    stage_ctx = Ctx({CONSENT_RULES_KEY: loaded[1]})
    assert consent_forwarding(opted_out, stage_ctx) == Drop("consent_rule")  # type: ignore[arg-type]
    assert consent_forwarding(fine, stage_ctx) is fine  # type: ignore[arg-type]
    assert consent_forwarding(opted_out, Ctx({})) is opted_out  # type: ignore[arg-type]
    # Stored rules that no longer decode fail closed.
    assert isinstance(consent_forwarding(fine, Ctx({CONSENT_RULES_KEY: loaded[3]})), Drop)  # type: ignore[arg-type]
