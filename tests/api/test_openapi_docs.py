"""The served API documentation: /openapi.json covers every HTTP API once, and /docs works offline."""

from __future__ import annotations

import collections
import re

import httpx

from support.fermion_proc import FermionProcess


def test_openapi_covers_every_http_api_without_duplicate_operation_ids(fermion: FermionProcess) -> None:
    doc = httpx.get(f"{fermion.base_url}/openapi.json", timeout=60).json()
    paths = doc["paths"]
    for path in (
        "/v2/events",
        "/v2/bulkevents",
        "/v2/bulkevents/historical",
        "/v3/JS/{key}/events",
        "/JS/v2/{key}/config",
        "/v1/identify",
        "/v1/login",
        "/v1/logout",
        "/v1/search",
        "/v1/{mpid}/modify",
        "/v1/identity/{key}/Alias",
        "/healthz",
        "/readyz",
        "/metrics",
        "/oauth/token",
        "/userprofile/v1/{org_id}/{account_id}/{workspace_id}/{mpid}",
        "/api/v1/workspaces/{workspace_id}/outputs",
    ):
        assert path in paths, path
    ids = collections.Counter(op["operationId"] for ops in paths.values() for op in ops.values())
    assert [i for i, n in ids.items() if n > 1] == []
    # Every reference resolves to a component of the document.
    text = httpx.get(f"{fermion.base_url}/openapi.json", timeout=60).text
    schemas = doc["components"]["schemas"]
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert ref in schemas, ref
    batch = schemas["Wire.Batch"]
    assert "events" in batch["properties"]
    assert "__fermion_extra__" not in batch["properties"]


def test_docs_pages_load_their_assets_from_fermion(fermion: FermionProcess) -> None:
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{fermion.base_url}{page}", timeout=60).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, page
        for asset in assets:
            assert not asset.startswith(("http://", "https://", "//")), asset
            got = httpx.get(f"{fermion.base_url}{asset}", timeout=60)
            assert got.status_code == 200, asset
            assert len(got.content) > 100, asset
