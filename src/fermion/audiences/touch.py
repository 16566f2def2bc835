"""What changed for a user since their last evaluation (Touch), and which audiences read it: the test
for one audience (`affected`) and an index over a workspace's audiences (AffectIndex) (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # evaluate imports this module
    from fermion.audiences.evaluate import CompiledAudience


@dataclass(slots=True)
class Touch:
    """What changed for a user since the last evaluation; audiences reading none of it keep their
    answer (time-based changes are the re-check's). `everything` evaluates every audience."""

    everything: bool = False
    keys: set[str] = field(default_factory=set)  # event criteria that counted new events
    attributes: set[str] = field(default_factory=set)  # user attributes that changed
    profile: bool = False  # consent or device changed
    calculated: bool = False  # any calculated attribute value may have changed
    calculated_names: set[str] = field(default_factory=set)  # these CAs' values may have changed
    identities: bool = False


def affected(c: CompiledAudience, touch: Touch | None, changed: set[int]) -> bool:
    if touch is None or touch.everything:
        return True
    compiled = c.compiled
    return bool(
        (compiled.references and compiled.references & changed)
        or (compiled.event_criteria and not touch.keys.isdisjoint(compiled.event_keys))
        or (compiled.attributes and not touch.attributes.isdisjoint(compiled.attributes))
        or (compiled.other_profile and touch.profile)
        or (compiled.uses_calculated and touch.calculated)
        or (compiled.calculated_names and not touch.calculated_names.isdisjoint(compiled.calculated_names))
        or (compiled.uses_identities and touch.identities)
    )


class AffectIndex:
    """Which of a list of audiences read what (by position), so a user's touch maps to the audiences
    to evaluate with a few lookups instead of a test per audience."""

    def __init__(self, audiences: Sequence[CompiledAudience]) -> None:
        self.by_key: dict[str, list[int]] = {}
        self.by_attribute: dict[str, list[int]] = {}
        self.profile: list[int] = []
        self.calculated: list[int] = []
        self.by_calculated: dict[str, list[int]] = {}
        self.identities: list[int] = []
        self.referencing: list[int] = []
        for pos, c in enumerate(audiences):
            compiled = c.compiled
            for key in compiled.event_keys:
                self.by_key.setdefault(key, []).append(pos)
            for name in compiled.attributes:
                self.by_attribute.setdefault(name, []).append(pos)
            if compiled.other_profile:
                self.profile.append(pos)
            if compiled.uses_calculated:
                self.calculated.append(pos)
            for name in compiled.calculated_names:
                self.by_calculated.setdefault(name, []).append(pos)
            if compiled.uses_identities:
                self.identities.append(pos)
            if compiled.references:
                self.referencing.append(pos)

    def positions(self, touch: Touch) -> set[int]:
        """The audiences the touch affects directly (referencing ones follow at evaluation)."""
        found: set[int] = set()
        for key in touch.keys:
            found.update(self.by_key.get(key, ()))
        for name in touch.attributes:
            found.update(self.by_attribute.get(name, ()))
        if touch.profile:
            found.update(self.profile)
        if touch.calculated:
            found.update(self.calculated)
        for name in touch.calculated_names:
            found.update(self.by_calculated.get(name, ()))
        if touch.identities:
            found.update(self.identities)
        return found
