"""The integrations Fermion ships: integration id -> its module's `INTEGRATION`.

Adding a partner = its module (defining `INTEGRATION`), its test module, and one line in _MODULES.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from fermion.integrations.spec import Integration

# One line per partner module (each defines INTEGRATION: Integration[...]).
_MODULES: tuple[str, ...] = (
    "fermion.integrations.webhook",
    "fermion.integrations.amazon_s3",
    "fermion.integrations.heap",
    "fermion.integrations.amazon_kinesis_firehose",
)

AnyIntegration = Integration[Any, Any]


@cache
def _all() -> dict[str, AnyIntegration]:
    found: dict[str, AnyIntegration] = {}
    for name in _MODULES:
        integration = importlib.import_module(name).INTEGRATION
        if not isinstance(integration, Integration):
            raise TypeError(f"{name}.INTEGRATION is not an Integration")
        if integration.id in found:
            raise ValueError(f"integration id {integration.id!r} is declared twice")
        found[integration.id] = integration
    return found


def get(integration_id: str) -> AnyIntegration | None:
    return _all().get(integration_id)


def require(integration_id: str) -> AnyIntegration:
    integration = get(integration_id)
    if integration is None:
        raise LookupError(f"unknown integration {integration_id!r}")
    return integration


def all_integrations() -> list[AnyIntegration]:
    return sorted(_all().values(), key=lambda i: i.id)
