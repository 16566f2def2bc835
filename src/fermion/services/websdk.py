"""Web SDK transport: inputs found by their key alone (the key is in the URL), batch uploads through
the Events API ingest path, forwarding statistics, and the SDK configuration body (spec 2.2-2.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from fermion.model.tenancy import Input, InputKind
from fermion.model.web_batch import from_web_sdk
from fermion.services.credential_directory import CredentialDirectory
from fermion.services.ingest import IngestService, Outcome

MAX_KEY_LENGTH: Final = 200
KEY_FIELD: Final = "apiKey"


@dataclass
class ConfigAnswer:
    status: int
    body: dict[str, Any]


class WebSdkService:
    def __init__(self, ingest: IngestService, keys: CredentialDirectory) -> None:
        self._ingest = ingest
        self._keys = keys

    async def check_key(self, key: str) -> Outcome | None:
        """None when `key` is an active platform input's key, else the error to answer.

        Only 401/403 here: the SDK drops a batch on any 4xx but 429 and retries a 400 forever (spec 2.3).
        """
        inp = await self._input(key)
        return inp if isinstance(inp, Outcome) else None

    async def upload(self, key: str, body: bytes, content_encoding: str | None, source_ip: str) -> Outcome:
        """One web batch (`POST /v3/JS/{key}/events`): 202 once it is in the inbound log."""
        inp = await self._input(key)
        if isinstance(inp, Outcome):
            return inp
        if content_encoding is None or content_encoding.strip().lower() in ("", "identity"):
            body = _convert(body)
        outcome = await self._ingest.ingest_as(inp, body, content_encoding, source_ip)
        if outcome.status == 400:
            # A 400 makes the SDK resend the same bad batch forever; 422 makes it drop the batch.
            outcome = Outcome(422, [{**e, "code": "UNPROCESSABLE_ENTITY"} for e in outcome.errors])
        return outcome

    async def config(self, key: str, params: dict[str, str]) -> ConfigAnswer:
        """`GET /JS/v2/{key}/config?env=0|1[&plan_id=&plan_version=]`.

        The SDK shallow-merges this body over its init config, so it holds only what Fermion knows:
        no kits and no pixels. `flags` and `workspaceToken` are left out on purpose, so the page's own
        values stand (a server-chosen workspaceToken would move the SDK's localStorage and its device id).
        """
        inp = await self._input(key)
        if isinstance(inp, Outcome):
            return ConfigAnswer(inp.status, {"errors": inp.errors})
        problem = _config_params_problem(params)
        if problem is not None:
            field, message = problem
            return ConfigAnswer(
                400, {"errors": [{"code": "BAD_REQUEST", "message": message, "field": field}]}
            )
        return ConfigAnswer(200, {"kitConfigs": [], "pixelConfigs": []})

    async def _input(self, key: str) -> Input | Outcome:
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return Outcome.error(401, "UNAUTHORIZED", "The API key in the path is not valid.", KEY_FIELD)
        inp = await self._keys.input_for_key(key)
        if inp is None:
            return Outcome.error(401, "UNAUTHORIZED", "Unknown API key.", KEY_FIELD)
        if not inp.active:
            return Outcome.error(403, "FORBIDDEN", "This input is deactivated.", KEY_FIELD)
        if inp.kind is not InputKind.PLATFORM:
            return Outcome.error(
                403, "FORBIDDEN", "Only platform inputs accept Web SDK (key-only) requests.", KEY_FIELD
            )
        return inp


def _convert(body: bytes) -> bytes:
    """The web quirks fixed (model.web_batch); a body that is not a JSON object passes unchanged, so
    the ingest decoder reports it with the usual field-naming errors."""
    # msgspec, as the ingest decoder: orjson would turn an integer above 2**64 into a float (accepted,
    # with its value changed) where ingest must see it and refuse it.
    try:
        obj = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return body
    if not isinstance(obj, dict):
        return body
    return msgspec.json.encode(from_web_sdk(obj))


def _config_params_problem(params: dict[str, str]) -> tuple[str, str] | None:
    env = params.get("env")
    if env is not None and env not in ("0", "1"):
        return "env", "env must be 0 (production) or 1 (development)."
    version = params.get("plan_version")
    if version is not None and not (version.isdigit() and len(version) <= 9):
        return "plan_version", "plan_version must be a non-negative integer."
    plan_id = params.get("plan_id")
    if plan_id is not None and not (0 < len(plan_id) <= 200):
        return "plan_id", "plan_id must be 1 to 200 characters."
    return None
