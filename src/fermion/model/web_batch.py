"""The Web SDK's upload body (spec 2.4) brought into the Events API batch model: it already is an
Events API batch except for a few quirks, fixed here on the parsed JSON (pure, no I/O).
"""

from __future__ import annotations

from typing import Any, Final

JAVASCRIPT_CHANNEL: Final = "javascript"

# The web SDK sends promotion_action.action as its own enum number (websdk PromotionActionType).
_PROMOTION_ACTIONS: Final = {0: "unknown", 1: "view", 2: "click"}


def from_web_sdk(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch with its web quirks converted; `batch` itself is not modified.

    Sets `source_info.channel` to "javascript" unless the client set one (the Events API path stamps
    "server_to_server"), and turns numeric promotion actions into their Events API names.
    Anything unexpected is left as it is, for the batch decoder to report.
    """
    out = dict(batch)
    source = out.get("source_info")
    if source is None:
        out["source_info"] = {"channel": JAVASCRIPT_CHANNEL}
    elif isinstance(source, dict) and source.get("channel") is None:
        out["source_info"] = {**source, "channel": JAVASCRIPT_CHANNEL}
    events = out.get("events")
    if isinstance(events, list):
        out["events"] = [_event(e) for e in events]
    return out


def _event(event: Any) -> Any:
    if not isinstance(event, dict) or event.get("event_type") != "commerce_event":
        return event
    data = event.get("data")
    if not isinstance(data, dict):
        return event
    promotion = data.get("promotion_action")
    if not isinstance(promotion, dict):
        return event
    action = promotion.get("action")
    # bool is an int subclass; true/false are not web enum numbers, so leave them to the decoder.
    if type(action) is not int or action not in _PROMOTION_ACTIONS:
        return event
    promotion = {**promotion, "action": _PROMOTION_ACTIONS[action]}
    return {**event, "data": {**data, "promotion_action": promotion}}
