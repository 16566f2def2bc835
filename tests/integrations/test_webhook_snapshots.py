"""Webhook output: `map` snapshots over every shared fixture (one batch each; the signature header, the
configured headers and the outgoing batch body), as the sender hands them to the partner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fermion.integrations.spec import HttpRequest, NoSettings
from fermion.integrations.webhook import INTEGRATION, WebhookSettings
from support.batches import all_fixture_names
from support.outgoing import check_snapshot, map_settings, outgoing

SNAPSHOTS = Path(__file__).parent / "snapshots" / INTEGRATION.id


@pytest.mark.parametrize("name", all_fixture_names())
def test_snapshot(name: str) -> None:
    cfg = WebhookSettings.model_validate(
        {
            "url": "https://partner.example/hook",
            "signing_secret": "snapshot-secret",
            "headers": {"X-Api-Key": "k"},
        }
    )
    requests = INTEGRATION.map([outgoing(name)], map_settings(cfg, NoSettings()))
    assert all(isinstance(r, HttpRequest) for r in requests)
    check_snapshot(
        SNAPSHOTS / f"{name}.json",
        [
            {
                "method": r.method,
                "url": r.url,
                "headers": r.headers,
                "body": json.loads(r.body),
                "dedupe_key": r.dedupe_key,
                "batch_ids": list(r.batch_ids),
            }
            for r in requests
            if isinstance(r, HttpRequest)
        ],
    )
