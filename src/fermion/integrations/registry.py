"""The integrations Fermion knows: integration id -> its `Integration`.

Two sources, read once per process: the explicit list of the modules Fermion ships (`BUILT_IN`: adding
a partner here = its module defining `INTEGRATION`, its tests, and one line), and the entry-point group
`fermion.integrations`, through which a separately installed package adds an output:

    [project.entry-points."fermion.integrations"]
    acme = "acme_fermion.output:INTEGRATION"    # or just the module, "acme_fermion.output"

An id declared twice (built in or installed) is an error naming both declarations. Every integration
needs mapping snapshot tests over the shared fixtures (tests/integrations/snapshots/<id>/).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

from fermion.integrations.spec import Integration

ENTRY_POINT_GROUP = "fermion.integrations"

# One line per partner module Fermion ships (each defines INTEGRATION: Integration[...]).
BUILT_IN: tuple[str, ...] = (
    "fermion.integrations.webhook",
    "fermion.integrations.amazon_s3",
    "fermion.integrations.heap",
    "fermion.integrations.amazon_kinesis_firehose",
)

AnyIntegration = Integration[Any, Any]


@dataclass(frozen=True)
class Declared:
    """An integration and where it was declared (a module, or an entry point and its distribution)."""

    integration: AnyIntegration
    source: str


def _integration(found: object, source: str) -> AnyIntegration:
    """An entry point may name the Integration itself or its module (then its INTEGRATION)."""
    value = getattr(found, "INTEGRATION", None) if isinstance(found, ModuleType) else found
    if not isinstance(value, Integration):
        raise TypeError(f"{source} is not an Integration (nor a module defining INTEGRATION)")
    return value


def _entry_point_source(ep: EntryPoint) -> str:
    dist = f" of {ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
    return f"entry point {ep.name!r} = {ep.value!r}{dist} (group {ENTRY_POINT_GROUP})"


def load(
    modules: Iterable[str] = BUILT_IN, installed: Iterable[EntryPoint] | None = None
) -> dict[str, Declared]:
    """Every integration by id: the built-in modules, then the installed entry points (read from the
    environment when `installed` is None). Raises on a duplicate id, naming both declarations."""
    declared: list[Declared] = [
        Declared(_integration(importlib.import_module(name), name), name) for name in modules
    ]
    for ep in entry_points(group=ENTRY_POINT_GROUP) if installed is None else installed:
        source = _entry_point_source(ep)
        declared.append(Declared(_integration(ep.load(), source), source))
    found: dict[str, Declared] = {}
    for item in declared:
        first = found.get(item.integration.id)
        if first is not None:
            raise ValueError(
                f"integration id {item.integration.id!r} is declared twice: by {first.source} "
                f"and by {item.source}"
            )
        found[item.integration.id] = item
    return found


@cache
def _all() -> dict[str, AnyIntegration]:
    # Read once per process: installing a package that adds an output takes a restart.
    return {key: item.integration for key, item in load().items()}


def get(integration_id: str) -> AnyIntegration | None:
    return _all().get(integration_id)


def require(integration_id: str) -> AnyIntegration:
    integration = get(integration_id)
    if integration is None:
        raise LookupError(f"unknown integration {integration_id!r}")
    return integration


def all_integrations() -> list[AnyIntegration]:
    return sorted(_all().values(), key=lambda i: i.id)
