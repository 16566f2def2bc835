"""Why a request resolved to an MPID: per-identity findings, the deciding rule and the writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class IdentityFinding:
    """One submitted identity: what the store knew about it and what resolution did with it."""

    key: str  # as submitted (e.g. `customerid`)
    identity_type: str | None  # canonical, None when the key cannot name a type
    value: str | None
    status: str = "not_found"  # matched | not_found | ignored | blocked
    mpids: list[int] = field(default_factory=list)  # profiles holding the value
    excluded: dict[int, str] = field(default_factory=dict)  # holders set aside, with the reason
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "identity_type": self.identity_type, "value": self.value}
        out["status"] = self.status
        if self.mpids:
            out["mpids"] = [str(m) for m in self.mpids]
        if self.excluded:
            out["excluded"] = [{"mpid": str(m), "reason": r} for m, r in self.excluded.items()]
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class Explanation:
    strategy: str
    request_type: str
    findings: list[IdentityFinding] = field(default_factory=list)
    rule: str = ""  # machine-readable name of the deciding rule
    message: str = ""  # the same, for people
    decided_by: str | None = None  # the identity type whose lookup chose the profile
    narrowed_by: list[str] = field(default_factory=list)  # lower-priority types that broke ties
    tie_break: str | None = None
    created: bool = False
    added: list[tuple[str, str]] = field(default_factory=list)
    moved: list[tuple[str, str, int]] = field(default_factory=list)  # (type, value, from mpid)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (type, value, why)

    def decide(self, rule: str, message: str) -> None:
        self.rule, self.message = rule, message

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "request_type": self.request_type,
            "rule": self.rule,
            "message": self.message,
            "decided_by": self.decided_by,
            "narrowed_by": self.narrowed_by,
            "tie_break": self.tie_break,
            "created_profile": self.created,
            "identities": [f.to_json() for f in self.findings],
            "added": [{"identity_type": t, "value": v} for t, v in self.added],
            "moved": [{"identity_type": t, "value": v, "from_mpid": str(m)} for t, v, m in self.moved],
            "skipped": [{"identity_type": t, "value": v, "reason": r} for t, v, r in self.skipped],
        }
