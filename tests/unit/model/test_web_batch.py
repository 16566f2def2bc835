"""The Web SDK batch quirks (spec 2.4) converted into the Events API model."""

from __future__ import annotations

from typing import Any

from fermion.model.codec import decode_batch_obj
from fermion.model.web_batch import from_web_sdk


def promo(action: Any) -> dict[str, Any]:
    return {
        "event_type": "commerce_event",
        "data": {"promotion_action": {"action": action, "promotions": []}},
    }


def test_channel_is_javascript_unless_given() -> None:
    assert from_web_sdk({})["source_info"] == {"channel": "javascript"}
    assert from_web_sdk({"source_info": {"partner": "x"}})["source_info"] == {
        "partner": "x",
        "channel": "javascript",
    }
    assert from_web_sdk({"source_info": {"channel": "pixel"}})["source_info"] == {"channel": "pixel"}


def test_numeric_promotion_actions_become_names_and_the_result_decodes() -> None:
    batch = {"mpid": "-5", "events": [promo(1), promo(2), promo(0), {"event_type": "custom_event"}]}
    out = from_web_sdk(batch)
    assert [e["data"]["promotion_action"]["action"] for e in out["events"][:3]] == [
        "view",
        "click",
        "unknown",
    ]
    assert batch["events"][0]["data"]["promotion_action"]["action"] == 1  # input untouched
    decoded = decode_batch_obj(out)
    assert decoded.mpid == -5
    assert decoded.source_info is not None and decoded.source_info.channel == "javascript"


def test_unexpected_shapes_are_left_for_the_decoder() -> None:
    odd: dict[str, Any] = {
        "source_info": "x",
        "events": [1, promo(True), promo(7), {"event_type": "commerce_event"}],
    }
    assert from_web_sdk(odd) == odd
