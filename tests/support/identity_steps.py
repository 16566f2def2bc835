"""Table-driven identity flows: run (request, identities) steps and check which profile each names."""

from __future__ import annotations

from dataclasses import dataclass, field

from fermion.identity.resolve import RequestKind
from fermion.services.identity import IdentityService

CURRENT = "current"  # previous_mpid: the MPID the previous step returned


@dataclass(frozen=True)
class Step:
    kind: RequestKind
    identities: dict[str, str]
    expect: str  # "new X" (a new MPID, remembered as X) or "X" (X's MPID again)
    logged_in: bool
    previous: str | None = field(default=CURRENT)


def run_steps(service: IdentityService, workspace_id: int, steps: list[Step]) -> dict[str, int]:
    names: dict[str, int] = {}
    current: int | None = None
    for n, step in enumerate(steps, 1):
        previous = current if step.previous == CURRENT else None
        decision = service.resolve(workspace_id, step.kind, list(step.identities.items()), previous)
        where = f"step {n} ({step.kind.value} {step.identities})"
        assert decision.mpid is not None, where
        ex = decision.explanation
        why = f"{where}: {ex.rule if ex else ''} {ex.message if ex else ''}"
        if step.expect.startswith("new "):
            name = step.expect[4:]
            assert decision.created, why
            assert decision.mpid not in names.values(), why
            names[name] = decision.mpid
        else:
            assert not decision.created, why
            assert decision.mpid == names[step.expect], f"{why}: got {decision.mpid}, names {names}"
        assert decision.is_logged_in is step.logged_in, why
        current = decision.mpid
    return names
