"""The data points catalog, connection data filters and consent rules over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from support.batches import load_fixture
from support.fermion_proc import FermionProcess
from support.outputs_api import admin, connect, data_points, input_id, ok, put_filter, send

WEBHOOK = {"url": "http://127.0.0.1:9/never"}


def fields(r: httpx.Response) -> list[str]:
    assert r.status_code == 400, r.text
    return [e.get("field", "") for e in r.json()["errors"]]


@pytest.fixture(scope="module")
def catalogued(fermion: FermionProcess) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    send(fermion, [load_fixture("custom_event"), load_fixture("python_sdk_full")])
    deadline = time.monotonic() + 30
    while True:
        points = {
            (p["type"], p["name"], p["event_type"] or "", p["attribute_name"] or ""): p
            for p in data_points(fermion)
        }
        if ("Event", "Hello World", "navigation", "") in points or time.monotonic() > deadline:
            return points
        time.sleep(0.1)


def test_data_points_need_a_valid_token(fermion: FermionProcess) -> None:
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/data-points"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    other = f"{fermion.base_url}/api/v1/workspaces/999/data-points"
    r = httpx.get(other, headers=fermion.admin_headers)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "workspace_id"


def test_catalog_lists_detected_points(
    fermion: FermionProcess, catalogued: dict[tuple[str, str, str, str], dict[str, Any]]
) -> None:
    assert catalogued[("MessageType", "custom_event", "", "")]["count"] == 4
    event = catalogued[("Event", "Add to Favorites", "user_preference", "")]
    assert event["count"] == 1 and event["first_seen_ms"] <= event["last_seen_ms"]
    assert ("EventAttribute", "Add to Favorites", "user_preference", "price") in catalogued
    assert ("ScreenView", "Home", "", "") in catalogued
    assert ("Commerce", "product_purchase", "product_purchase", "") in catalogued
    assert ("UserAttribute", "hair", "", "") in catalogued
    assert ("UserIdentity", "customer_id", "", "") in catalogued
    only = data_points(fermion, type="eventattribute")
    assert only and {p["type"] for p in only} == {"EventAttribute"}
    url = f"{fermion.base_url}/api/v1/workspaces/{fermion.workspace_id}/data-points"
    assert fields(httpx.get(url, params={"type": "bogus"}, headers=fermion.admin_headers)) == ["type"]


def test_filters_of_an_unknown_connection_are_404(fermion: FermionProcess) -> None:
    r = admin(fermion, "GET", "/connections/987654/filters")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "connection_id"


def test_filter_validation_names_each_field(fermion: FermionProcess) -> None:
    cid = connect(fermion, "webhook", WEBHOOK, {}, status="inactive")
    r = put_filter(
        fermion,
        cid,
        {
            "data_points": [
                {"type": "Nope", "name": "x", "enabled": False},
                {"type": "Event", "name": "x", "enabled": False},
                {"type": "EventAttribute", "name": "x", "event_type": "navigation", "enabled": False},
                {"type": "ScreenView", "name": "Home", "enabled": "no"},
                {"type": "UserAttribute", "name": "", "enabled": True},
                {"type": "UserIdentity", "name": "email", "enabled": True, "extra": 1},
                "not an object",
            ]
        },
    )
    assert fields(r) == [
        "data_points[0].type",
        "data_points[1].event_type",
        "data_points[2].attribute_name",
        "data_points[3].enabled",
        "data_points[4].name",
        "data_points[5].extra",
        "data_points[6]",
    ]
    assert fields(put_filter(fermion, cid, {"send_new_data_points_by_default": "maybe"})) == [
        "send_new_data_points_by_default"
    ]
    assert fields(put_filter(fermion, cid, {"data_points": [], "bogus": 1})) == ["bogus"]


def test_filters_cascade_and_send_new_by_default(
    fermion: FermionProcess, catalogued: dict[tuple[str, str, str, str], dict[str, Any]]
) -> None:
    cid = connect(fermion, "webhook", WEBHOOK, {}, status="inactive")
    got = ok(admin(fermion, "GET", f"/connections/{cid}/filters"))
    assert got["send_new_data_points_by_default"] is True
    assert all(p["enabled"] and p["effective"] and not p["explicit"] for p in got["data_points"])
    assert len(got["data_points"]) == len(catalogued)
    body = {"data_points": [{"type": "EventType", "name": "user_preference", "enabled": False}]}
    got = ok(put_filter(fermion, cid, body))
    points = {(p["type"], p["name"], p["attribute_name"]): p for p in got["data_points"]}
    event = points[("Event", "Add to Favorites", None)]
    assert event["enabled"] is True and event["effective"] is False  # the parent is off
    assert points[("EventAttribute", "Add to Favorites", "price")]["effective"] is False
    assert points[("Event", "Hello World", None)]["effective"] is True
    assert points[("EventType", "user_preference", None)]["explicit"] is True
    # Off by default for new points: every point known now stays as it is.
    got = ok(put_filter(fermion, cid, {"send_new_data_points_by_default": False}))
    assert got["send_new_data_points_by_default"] is False
    after = {(p["type"], p["name"], p["attribute_name"]): p for p in got["data_points"]}
    assert after[("Event", "Hello World", None)]["effective"] is True
    assert after[("EventType", "user_preference", None)]["enabled"] is False


def test_consent_rules_are_kept_with_the_connection(fermion: FermionProcess) -> None:
    out = ok(admin(fermion, "POST", "/outputs", {"integration": "webhook", "settings": WEBHOOK}))
    body: dict[str, Any] = {
        "input_id": input_id(fermion),
        "output_id": out["id"],
        "status": "inactive",
        "settings": {"consent_rules": [{"regulation": "gdpr"}, {"regulation": "ccpa", "purpose": "x"}]},
    }
    assert fields(admin(fermion, "POST", "/connections", body)) == [
        "settings.consent_rules[0].purpose",
        "settings.consent_rules[1].purpose",
    ]
    rules = [{"regulation": "gdpr", "purpose": "marketing"}, {"regulation": "ccpa"}]
    body["settings"] = {"consent_rules": rules}
    created = ok(admin(fermion, "POST", "/connections", body))
    assert created["consent_rules"] == rules
    assert ok(admin(fermion, "GET", f"/connections/{created['id']}"))["consent_rules"] == rules
