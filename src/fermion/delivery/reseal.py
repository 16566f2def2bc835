"""Seal secrets that older versions stored in plain text (the webhook's extra headers, before they
became secrets): done when an API process starts, so an upgraded install keeps no credential in
clear in its database. Idempotent; several processes doing it at once write equivalent rows."""

from __future__ import annotations

import logging
from typing import Any

from fermion.delivery.outputs import DeliveryError, OutputsService
from fermion.integrations import registry
from fermion.integrations.secrets import ENCRYPTED, secret_paths

log = logging.getLogger(__name__)


def _has_plain(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        return set(value) != {ENCRYPTED} and any(_has_plain(v) for v in value.values())
    return False


def seal_plain_secrets(outputs: OutputsService) -> int:
    """Re-store every output whose secret settings hold a plain value; how many were."""
    sealed = 0
    for out in outputs.store.list_outputs():
        integration = registry.get(out.integration_id)
        if integration is None:
            continue
        names = secret_paths(integration.settings)
        if not any(_has_plain(out.settings.get(name)) for name in names):
            continue
        try:
            model = outputs.open_settings(integration.settings, out.settings)
        except DeliveryError:
            log.warning("output %s: stored settings no longer valid; secrets left as stored", out.id)
            continue
        outputs.store.update_output(out.id, settings=outputs.seal(model))
        sealed += 1
    if sealed:
        log.info("sealed the plain-text secrets of %d output(s)", sealed)
    return sealed
