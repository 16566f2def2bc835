"""Webhook output: one POST per batch (or an array), the stored outgoing format, HMAC signature, headers."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from fermion.integrations.spec import HttpRequest, NoSettings, validate_settings
from fermion.integrations.webhook import INTEGRATION, WebhookSettings, map_batches, sign
from support.outgoing import check_snapshot, map_settings, outgoing

SNAPSHOTS = Path(__file__).parent / "snapshots"


def settings(**values: object) -> WebhookSettings:
    result = validate_settings(WebhookSettings, {"url": "https://partner.example/hook", **values})
    assert isinstance(result, WebhookSettings), result
    return result


def test_one_request_per_batch_with_the_outgoing_batch_as_body() -> None:
    batches = [outgoing("custom_event", batch_id=11), outgoing("screen_view", batch_id=12)]
    requests = map_batches(batches, map_settings(settings(), NoSettings()))
    assert len(requests) == 2
    first = requests[0]
    assert isinstance(first, HttpRequest)
    assert (first.method, first.url, first.body, first.batch_ids) == (
        "POST",
        "https://partner.example/hook",
        batches[0].payload,
        (11,),
    )
    assert first.headers["Content-Type"] == "application/json"
    assert first.dedupe_key == first.headers["X-Fermion-Delivery-Id"] == "4:11"
    assert json.loads(first.body)["batch_id"] == 11
    assert "X-Fermion-Signature" not in first.headers


def test_signature_and_custom_headers() -> None:
    cfg = settings(signing_secret="shh", signature_header="X-Sig", headers={"Authorization": "Bearer abc"})
    [req] = map_batches([outgoing("custom_event")], map_settings(cfg, NoSettings()))
    assert isinstance(req, HttpRequest)
    expected = hmac.new(b"shh", req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Sig"] == f"sha256={expected}" == sign("shh", req.body)
    assert req.headers["Authorization"] == "Bearer abc"


def test_arrays_of_batches_and_stable_dedupe_keys() -> None:
    batches = [outgoing("custom_event", batch_id=i) for i in range(1, 6)]
    cfg = settings(batches_per_request=2)
    requests = map_batches(batches, map_settings(cfg, NoSettings(), group_key="abc"))
    assert [r.batch_ids for r in requests] == [(1, 2), (3, 4), (5,)]
    body = json.loads(requests[0].body)  # type: ignore[union-attr]
    assert [b["batch_id"] for b in body] == [1, 2]
    again = map_batches(batches, map_settings(cfg, NoSettings(), group_key="abc"))
    assert (
        [r.dedupe_key for r in requests] == [r.dedupe_key for r in again] == ["4:abc:0", "4:abc:1", "4:abc:2"]
    )


def test_settings_are_validated() -> None:
    errors = validate_settings(
        WebhookSettings, {"url": "ftp://x", "headers": {"Bad Name": "v"}, "batches_per_request": 0}
    )
    assert isinstance(errors, list)
    assert {e.field for e in errors} == {"settings.url", "settings.headers", "settings.batches_per_request"}
    missing = validate_settings(WebhookSettings, {})
    assert isinstance(missing, list) and [e.field for e in missing] == ["settings.url"]


def test_snapshot_over_the_fixtures() -> None:
    names = ["custom_event", "screen_view", "commerce_event_purchase", "session_start", "eventless"]
    batches = [outgoing(name, batch_id=100 + i) for i, name in enumerate(names)]
    cfg = settings(signing_secret="snapshot-secret", headers={"X-Api-Key": "k"})
    requests = map_batches(batches, map_settings(cfg, NoSettings()))
    check_snapshot(
        SNAPSHOTS / "webhook.json",
        [
            {
                "method": r.method,
                "url": r.url,
                "headers": r.headers,
                "body": json.loads(r.body),
                "dedupe_key": r.dedupe_key,
            }
            for r in requests
            if isinstance(r, HttpRequest)
        ],
    )
    assert INTEGRATION.map is map_batches
