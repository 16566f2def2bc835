"""IDSync HTTP API (spec 1): /v1/identify, /login, /logout, /search, /{mpid}/modify, also under the
`/identity/v1` prefix of a custom base URL; the SDK alias routes (`/v1/identity/{key}/Alias`, and
`/webevents/...` for the CNAME form). CORS on every answer (spec 2.6), errors as the SDKs read them.
"""

# No `from __future__ import annotations`: FastAPI inspects the route signatures at runtime.

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from fermion.api.cors import RESPONSE_HEADERS, preflight_headers
from fermion.api.identity_wire import (
    MAX_BODY_BYTES,
    AliasBody,
    IdentityBody,
    ModifyBody,
    WireError,
    alias_of,
    bad,
    body_bytes,
    changes_of,
    decode,
    environment,
    error_body,
    identities_of,
    json_response,
    mpid_of,
)
from fermion.identity.alias import AliasRefused
from fermion.identity.modify import ModifyError
from fermion.identity.resolve import RequestKind
from fermion.model.tenancy import Input
from fermion.services.identity import IdentityBusy, IdentityService
from fermion.services.identity_auth import IdentityAuth, IdentityAuthError

log = logging.getLogger(__name__)

PREFIXES = ("/v1", "/identity/v1")
ALIAS_PREFIXES = ("/v1/identity", "/webevents/v1/identity")
MAX_AGE_S = 3600  # x-mp-max-age: how long the Web SDK may cache an identify answer (cacheIdentity flag)
_CORS = {k.decode(): v.decode() for k, v in RESPONSE_HEADERS}
Handler = Callable[[Request, str], Awaitable[Response]]


def identity_router(service: IdentityService, auth: IdentityAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def caller(request: Request, raw: bytes, body: bytes, path_key: str | None = None) -> Input:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            return await auth.authenticate(
                headers, request.method, request.url.path, request.url.query, (body, raw), path_key
            )
        except IdentityAuthError as exc:
            raise WireError(exc.status, [(exc.field, exc.message)]) from None

    async def read(request: Request) -> tuple[bytes, bytes]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise WireError(413, [("body", f"at most {MAX_BODY_BYTES} bytes")])
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise WireError(413, [("body", f"at most {MAX_BODY_BYTES} bytes")])
        return raw, body_bytes(raw, request.headers.get("content-encoding"))

    def answering(handler: Handler) -> Callable[..., Awaitable[Response]]:
        """Wraps a handler: CORS headers on every answer, errors rendered as the SDKs expect."""

        async def endpoint(request: Request) -> Response:
            request_id = secrets.token_hex(8)
            try:
                response = await handler(request, request_id)
            except WireError as wire:
                response = Response(error_body(wire, request_id), wire.status, media_type="application/json")
            except IdentityBusy:
                busy = WireError(503, [("", "Identity writes are contended; retry shortly.")])
                response = Response(
                    error_body(busy, request_id), 503, {"Retry-After": "1"}, "application/json"
                )
            except Exception:
                log.exception("identity request failed")
                crash = WireError(
                    500, [("", "Internal error; the request was not processed.")], "INTERNAL_ERROR"
                )
                response = Response(error_body(crash, request_id), 500, media_type="application/json")
            response.headers.update(_CORS)
            return response

        return endpoint

    def resolver(kind: RequestKind) -> Handler:
        async def handle(request: Request, request_id: str) -> Response:
            raw, body = await read(request)
            inp = await caller(request, raw, body)
            parsed: IdentityBody = decode(body, IdentityBody)
            environment(parsed.environment)
            previous = None
            if kind is not RequestKind.SEARCH:
                previous = mpid_of(parsed.previous_mpid, "previous_mpid")
            identities = identities_of(parsed, required=kind is not RequestKind.LOGOUT)
            read_only = request.query_params.get("read_only", "").lower() == "true"
            decision = await asyncio.to_thread(
                service.resolve, inp.workspace_id, kind, identities, previous, read_only
            )
            if decision.mpid is None:
                raise WireError(404, [("known_identities", "user not found")], "NOT_FOUND_ERROR")
            answer = {
                "context": None,
                "mpid": str(decision.mpid),
                "is_logged_in": decision.is_logged_in,
                "matched_identities": {key: value for key, value in decision.matched},
                "is_ephemeral": False,
            }
            return json_response(answer, headers={"x-mp-max-age": str(MAX_AGE_S)})

        return handle

    async def modify(request: Request, request_id: str) -> Response:
        raw, body = await read(request)
        inp = await caller(request, raw, body)
        mpid = mpid_of(request.path_params["mpid"], "mpid")
        if mpid is None:
            raise bad("mpid", "must be a non-zero MPID")
        parsed: ModifyBody = decode(body, ModifyBody)
        environment(parsed.environment, required=False)
        changes = changes_of(parsed)
        try:
            result = await asyncio.to_thread(service.modify, inp.workspace_id, mpid, changes)
        except LookupError:
            raise WireError(404, [("mpid", f"MPID {mpid} does not exist")], "NOT_FOUND_ERROR") from None
        except ModifyError as exc:
            raise WireError(400, exc.errors) from None
        results = [{"identity_type": t, "modified_mpid": str(mpid)} for t in result.changed]
        return json_response({"change_results": results})

    async def alias(request: Request, request_id: str) -> Response:
        raw, body = await read(request)
        inp = await caller(request, raw, body, path_key=request.path_params["api_key"])
        req = alias_of(decode(body, AliasBody), request_id)
        try:
            outcome = await asyncio.to_thread(service.alias, inp.workspace_id, req)
        except AliasRefused as exc:
            raise WireError(exc.status, [(exc.field, exc.message)]) from None
        # The reference answers 202 even when its own checks later drop the request (spec 1.8).
        return json_response({"request_id": req.request_id, "status": outcome.status}, status=202)

    async def preflight(request: Request) -> Response:
        headers = {k.decode(): v.decode() for k, v in preflight_headers(dict(request.headers.raw))}
        return Response(status_code=204, headers={**headers, **_CORS})

    for prefix in PREFIXES:
        for kind in (RequestKind.IDENTIFY, RequestKind.LOGIN, RequestKind.LOGOUT, RequestKind.SEARCH):
            path = f"{prefix}/{kind.value}"
            router.add_api_route(path, answering(resolver(kind)), methods=["POST"])
            router.add_api_route(path, preflight, methods=["OPTIONS"])
        router.add_api_route(prefix + "/{mpid}/modify", answering(modify), methods=["POST"])
        router.add_api_route(prefix + "/{mpid}/modify", preflight, methods=["OPTIONS"])
    for prefix in ALIAS_PREFIXES:
        for word in ("Alias", "alias"):  # web sends "Alias", the mobile SDKs "alias"
            router.add_api_route(prefix + "/{api_key}/" + word, answering(alias), methods=["POST"])
            router.add_api_route(prefix + "/{api_key}/" + word, preflight, methods=["OPTIONS"])
    return router


__all__ = ["identity_router"]
