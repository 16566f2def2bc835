"""Consent forwarding rules: whether a connection may receive a user's data, from their consent state.

Two rule shapes, as in the data privacy controls guide: "only forward if GDPR consent for <purpose> is
true" and "do not forward if the CCPA data sale opt-out is present" (a missing or false opt-out lets data
flow). A connection may have several rules; every one must pass. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import msgspec

from fermion.model.batch import Batch, Consent, ConsentState
from fermion.model.delivery import Connection
from fermion.pipeline.connection_stage import ConnectionContext
from fermion.pipeline.stage import Drop

__all__ = [
    "CCPA_PURPOSE",
    "CONSENT_RULES_KEY",
    "ConsentRule",
    "ConsentRulesLoader",
    "blocked_by",
    "consent_forwarding",
    "decode_rules",
    "rules_errors",
]

CCPA_PURPOSE = "data_sale_opt_out"
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]*)`")

Regulation = Literal["gdpr", "ccpa"]
Action = Literal["forward_only_if", "do_not_forward_if"]


class ConsentRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`action` the data when the user's consent for (`regulation`, `purpose`) has `consented` = `consented`.

    forward_only_if: forward only when that consent exists with that value (missing consent blocks).
    do_not_forward_if: block when that consent exists with that value (missing consent lets data flow).
    Defaults make the two documented rules: {"regulation": "gdpr", "purpose": "marketing"} and
    {"regulation": "ccpa"} (purpose data_sale_opt_out, do_not_forward_if, consented true).
    """

    regulation: Regulation
    purpose: str = CCPA_PURPOSE
    action: Action | None = None  # None: forward_only_if for GDPR, do_not_forward_if for CCPA
    consented: bool = True

    @property
    def effective_action(self) -> Action:
        if self.action is not None:
            return self.action
        return "forward_only_if" if self.regulation == "gdpr" else "do_not_forward_if"

    def describe(self) -> str:
        verb = "only forward if" if self.effective_action == "forward_only_if" else "do not forward if"
        return f"{verb} {self.regulation} {self.purpose} consented={str(self.consented).lower()}"


def _find(state: ConsentState | None, regulation: Regulation, purpose: str) -> Consent | None:
    if state is None:
        return None
    purposes = state.gdpr if regulation == "gdpr" else state.ccpa
    if not purposes:
        return None
    found = purposes.get(purpose)
    if found is not None:
        return found
    # SDKs lowercase purpose names; rules are typed by people: compare without case.
    wanted = purpose.casefold()
    return next((c for p, c in purposes.items() if p.casefold() == wanted), None)


def blocked_by(batch: Batch, rules: Sequence[ConsentRule]) -> ConsentRule | None:
    """The first rule that stops this batch, or None when every rule lets it through.

    The consent state considered is the batch's `consent_state` (once profiles merge consent into
    batches, that is the user's stored state).
    """
    for rule in rules:
        consent = _find(batch.consent_state, rule.regulation, rule.purpose)
        matches = consent is not None and bool(consent.consented) == rule.consented
        if rule.effective_action == "forward_only_if" and not matches:
            return rule
        if rule.effective_action == "do_not_forward_if" and matches:
            return rule
    return None


def rules_errors(raw: object, field: str = "consent_rules") -> list[tuple[str, str]]:
    """Problems with a JSON list of rules, each as (field path, message); empty when valid."""
    if not isinstance(raw, list):
        return [(field, "must be a list of consent forwarding rules")]
    errors: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        path = f"{field}[{i}]"
        try:
            rule = msgspec.convert(item, ConsentRule)
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).partition(" - at `$")
            sub = where.rstrip("`").lstrip(".")
            unknown = _UNKNOWN.match(message)
            if unknown:  # name the unknown field itself
                sub = ".".join(p for p in (sub, unknown.group(1)) if p)
            errors.append((f"{path}.{sub}" if sub else path, message))
            continue
        if rule.regulation == "gdpr" and "purpose" not in item:
            errors.append((f"{path}.purpose", "is required for GDPR rules (the purpose to check)"))
        elif not rule.purpose.strip():
            errors.append((f"{path}.purpose", "must not be empty"))
        elif rule.regulation == "ccpa" and rule.purpose != CCPA_PURPOSE:
            errors.append((f"{path}.purpose", f"CCPA has one purpose, {CCPA_PURPOSE!r}"))
    return errors


def decode_rules(raw: object) -> list[ConsentRule]:
    """Rules from their JSON form (already validated by `rules_errors`)."""
    return msgspec.convert(raw, list[ConsentRule]) if raw else []


# ------------------------------------------------------------------------------- connection stage

CONSENT_RULES_KEY = "consent_rules"  # where rules live in a connection's stored settings
DROP_REASON = "consent_rule"

# Stored rules that no longer decode block everything: a privacy rule fails closed.
_FAIL_CLOSED = [ConsentRule(regulation="gdpr", purpose="\x00undecodable consent rules")]


class ConsentRulesLoader:
    """Decodes each connection's rules once per configuration change (a ConnectionLoader; no I/O)."""

    name = CONSENT_RULES_KEY

    def load(self, connections: Sequence[Connection]) -> dict[int, list[ConsentRule]]:
        loaded: dict[int, list[ConsentRule]] = {}
        for connection in connections:
            raw = connection.settings.get(CONSENT_RULES_KEY)
            if not raw:
                continue
            try:
                loaded[connection.id] = decode_rules(raw)
            except msgspec.ValidationError:
                loaded[connection.id] = _FAIL_CLOSED
        return loaded


def consent_forwarding(batch: Batch, ctx: ConnectionContext) -> Batch | Drop:
    """Connection stage: drops the batch when one of the connection's consent rules blocks it."""
    rules = ctx.extras.get(CONSENT_RULES_KEY)
    if not rules:
        return batch
    return batch if blocked_by(batch, rules) is None else Drop(DROP_REASON)
