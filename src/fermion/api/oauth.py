"""`POST /oauth/token`: OAuth 2 client credentials (form, JSON or Basic auth) -> bearer access token."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from fermion.services.oauth import OAuthService

MAX_BODY = 16 * 1024
GRANT = "client_credentials"


def oauth_error(status: int, error: str, message: str, field: str = "") -> Response:
    """RFC 6749 `error` fields for OAuth clients, plus Fermion's `errors` list naming the field."""
    item: dict[str, Any] = {"code": error.upper(), "message": message}
    if field:
        item["field"] = field
    body = {"error": error, "error_description": message, "errors": [item]}
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="fermion"'
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


class _BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _params(content_type: str, raw: bytes) -> dict[str, str]:
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json":
        try:
            parsed = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            raise _BadRequest(
                oauth_error(400, "invalid_request", "The body is not valid JSON.", "body")
            ) from None
        if not isinstance(parsed, dict):
            raise _BadRequest(oauth_error(400, "invalid_request", "The body must be a JSON object.", "body"))
        return {k: v for k, v in parsed.items() if isinstance(v, str)}
    if media in ("application/x-www-form-urlencoded", ""):
        try:
            form = parse_qs(raw.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise _BadRequest(oauth_error(400, "invalid_request", "The body is not UTF-8.", "body")) from None
        return {k: v[0] for k, v in form.items()}
    raise _BadRequest(
        oauth_error(415, "invalid_request", "Send application/x-www-form-urlencoded or JSON.", "Content-Type")
    )


def _basic(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    # RFC 6749 2.3.1: both parts are form-encoded before base64.
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


def oauth_router(oauth: OAuthService) -> APIRouter:
    router = APIRouter()

    @router.post("/oauth/token")
    async def token(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return oauth_error(413, "invalid_request", f"The body exceeds {MAX_BODY} bytes.", "body")
        try:
            params = _params(request.headers.get("content-type", ""), raw)
        except _BadRequest as bad:
            return bad.response
        basic = _basic(request.headers.get("authorization"))
        client_id, secret = basic or (params.get("client_id", ""), params.get("client_secret", ""))
        grant = params.get("grant_type", "")
        if not grant:
            return oauth_error(400, "invalid_request", "grant_type is required.", "grant_type")
        if grant != GRANT:
            return oauth_error(400, "unsupported_grant_type", f"Only {GRANT} is supported.", "grant_type")
        if not client_id:
            return oauth_error(400, "invalid_request", "client_id is required.", "client_id")
        if not secret:
            return oauth_error(400, "invalid_request", "client_secret is required.", "client_secret")
        issued = await asyncio.to_thread(oauth.issue_token, client_id, secret, params.get("audience"))
        if issued is None:
            return oauth_error(401, "invalid_client", "The client id or secret is not valid.", "client_id")
        body = {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in}
        return Response(
            orjson.dumps(body), 200, headers={"Cache-Control": "no-store"}, media_type="application/json"
        )

    return router
