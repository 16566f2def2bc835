"""The OpenAPI description of the routes served outside FastAPI's generated schema: the Events API and
the Web SDK transport (bare ASGI handlers on the hot path), IDSync and Alias (one router registered
under several prefixes and hidden, so each operation is described once, here, under its default
path), health and metrics. `with_wire_routes` merges them into the app's generated document, so
`/openapi.json` (and `/docs`) covers every HTTP API Fermion serves.

Request bodies are described by the same msgspec structs that decode them."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI

from fermion.api.identity_wire import AliasBody, IdentityBody, ModifyBody
from fermion.model.batch import Batch
from fermion.model.events_common import EXTRA_KEY

_PREFIX = "Wire."  # component names of the wire structs, apart from the admin models' names
Operation = dict[str, Any]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{_PREFIX}{name}"}


def wire_components() -> dict[str, Any]:
    """JSON Schemas of the wire bodies, the catch-all `extra` field left out (unknown keys are kept
    by the decoder, which is what `additionalProperties` already says)."""
    _, components = msgspec.json.schema_components(
        [Batch, IdentityBody, ModifyBody, AliasBody], ref_template=f"#/components/schemas/{_PREFIX}{{name}}"
    )
    for schema in components.values():
        schema.get("properties", {}).pop(EXTRA_KEY, None)
        if EXTRA_KEY in schema.get("required", []):
            schema["required"] = [r for r in schema["required"] if r != EXTRA_KEY]
    components["ErrorBody"] = {
        "type": "object",
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {
                            "type": "string",
                            "description": "The offending field, e.g. `events[0].mpid`.",
                        },
                    },
                },
            }
        },
    }
    components["IdentityResponse"] = {
        "type": "object",
        "properties": {
            "context": {"type": ["string", "null"]},
            "mpid": {"type": "string", "description": "Signed 64-bit integer as a decimal string."},
            "is_logged_in": {"type": "boolean"},
            "is_ephemeral": {"type": "boolean"},
            "matched_identities": {"type": "object"},
        },
    }
    return {_PREFIX + name: schema for name, schema in components.items()}


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "Invalid input; `errors[].field` names the field.",
        401: "Missing or unknown credentials.",
        403: "Wrong secret, or a feed or inactive input.",
        404: "Not found.",
        405: "Method not allowed.",
        413: "The body exceeds the limit.",
        422: "Invalid batch (the Web SDK drops it rather than resending).",
        429: "Rate limited; `Retry-After` says when to retry.",
    }
    return {
        str(s): {"description": meaning[s], "content": {"application/json": {"schema": _ref("ErrorBody")}}}
        for s in statuses
    }


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _key_param() -> dict[str, Any]:
    return {"name": "key", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200}}


def _events_api() -> dict[str, dict[str, Operation]]:
    accepted = {"202": {"description": "Durably stored in the inbound log; processed asynchronously."}}
    common = {"tags": ["Events API"], "security": [{"inputBasic": []}]}
    bulk = {"type": "array", "items": _ref("Batch"), "maxItems": 100}
    return {
        "/v2/events": {
            "post": {
                **common,
                "operationId": "events_upload",
                "summary": "Upload one batch",
                "requestBody": _json_body(_ref("Batch")),
                "responses": {**accepted, **_errors(400, 401, 403, 413, 429)},
            }
        },
        "/v2/bulkevents": {
            "post": {
                **common,
                "operationId": "events_bulk_upload",
                "summary": "Upload up to 100 batches",
                "requestBody": _json_body(bulk),
                "responses": {**accepted, **_errors(400, 401, 403, 413, 429)},
            }
        },
        "/v2/bulkevents/historical": {
            "post": {
                **common,
                "operationId": "events_historical_upload",
                "summary": "Upload batches of events at least 72 hours old (stored, never forwarded)",
                "requestBody": _json_body(bulk),
                "responses": {**accepted, **_errors(400, 401, 403, 413, 429)},
            }
        },
    }


def _web_sdk() -> dict[str, dict[str, Operation]]:
    common = {"tags": ["Web SDK"], "parameters": [_key_param()]}
    return {
        "/v3/JS/{key}/events": {
            "post": {
                **common,
                "operationId": "websdk_events_upload",
                "summary": "The browser SDK's batch upload (also under /webevents)",
                "requestBody": _json_body(_ref("Batch")),
                "responses": {
                    "202": {"description": "Stored in the inbound log."},
                    **_errors(401, 403, 413, 422, 429),
                },
            }
        },
        "/JS/v2/{key}/config": {
            "get": {
                **common,
                "operationId": "websdk_config",
                "summary": "The browser SDK's config fetch (also under /tags)",
                "responses": {"200": {"description": "The SDK config document."}, **_errors(401, 403)},
            }
        },
        "/v2/JS/{key}/Forwarding": {
            "post": {
                **common,
                "operationId": "websdk_forwarding_stats",
                "summary": "Kit forwarding statistics (accepted and discarded; v1 too)",
                "responses": {"202": {"description": "Accepted."}, **_errors(401, 403, 413)},
            }
        },
    }


def _idsync() -> dict[str, dict[str, Operation]]:
    common = {
        "tags": ["IDSync"],
        "security": [{"mpKey": []}, {"mpKey": [], "mpSignature": []}, {"inputBasic": []}],
    }
    paths: dict[str, dict[str, Operation]] = {}
    for kind in ("identify", "login", "logout", "search"):
        answer = {"application/json": {"schema": _ref("IdentityResponse")}}
        responses = {"200": {"description": f"The {kind} answer.", "content": answer}}
        responses.update(_errors(400, 401, 403, 413, 429))
        if kind == "search":
            responses.update(_errors(404))
        paths[f"/v1/{kind}"] = {
            "post": {
                **common,
                "operationId": f"idsync_{kind}",
                "summary": f"IDSync {kind} (also under /identity/v1)",
                "requestBody": _json_body(_ref("IdentityBody")),
                "responses": responses,
            }
        }
    paths["/v1/{mpid}/modify"] = {
        "post": {
            **common,
            "operationId": "idsync_modify",
            "summary": "Change a user's identities (also under /identity/v1)",
            "parameters": [{"name": "mpid", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": _json_body(_ref("ModifyBody")),
            "responses": {
                "200": {"description": '`{"change_results": [...]}`'},
                **_errors(400, 401, 403, 404, 413),
            },
        }
    }
    paths["/v1/identity/{key}/Alias"] = {
        "post": {
            **common,
            "operationId": "idsync_alias",
            "summary": "Alias one MPID's events to another (also `alias`, and under /webevents)",
            "parameters": [_key_param()],
            "requestBody": _json_body(_ref("AliasBody")),
            "responses": {"202": {"description": "Accepted."}, **_errors(400, 401, 403, 413)},
        }
    }
    return paths


def _operations() -> dict[str, dict[str, Operation]]:
    def probe(operation_id: str, summary: str) -> dict[str, Operation]:
        return {"get": {"tags": ["Operations"], "operationId": operation_id, "summary": summary}}

    ops = {
        "/healthz": probe("healthz", "Liveness: the process answers"),
        "/readyz": probe("readyz", "Readiness: storage reachable; inbound backlog and dead letters"),
        "/metrics": probe("metrics", "Prometheus metrics"),
    }
    for path, op in ops.items():
        op["get"]["responses"] = {"200": {"description": "OK"}}
        if path == "/readyz":
            op["get"]["responses"]["503"] = {"description": "A dependency is unreachable."}
    return ops


SECURITY_SCHEMES: dict[str, Any] = {
    "inputBasic": {"type": "http", "scheme": "basic", "description": "An input's key and secret."},
    "mpKey": {"type": "apiKey", "in": "header", "name": "x-mp-key"},
    "mpSignature": {"type": "apiKey", "in": "header", "name": "x-mp-signature"},
}


def wire_paths() -> dict[str, dict[str, Operation]]:
    return {**_events_api(), **_web_sdk(), **_idsync(), **_operations()}


def with_wire_routes(app: FastAPI) -> None:
    """Make `app.openapi()` include the wire routes (built once, on the first request for it)."""
    generated = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generated()  # caches itself in app.openapi_schema; extended in place
        doc["paths"] = {**wire_paths(), **doc.get("paths", {})}
        components = doc.setdefault("components", {})
        components.setdefault("schemas", {}).update(wire_components())
        components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
