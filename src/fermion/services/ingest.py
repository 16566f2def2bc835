"""Events API ingest: authenticate, decode and check limits, stamp, append durably, answer.

202 is returned only after the inbound log has committed every accepted batch of the request. A bulk
request keeps its valid batches: 202 with the invalid ones' errors, each field starting with the batch
index (`[3].mpid`); 400 (413 when every one is too large) when none is valid (spec 1.4).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from fermion.identity.lanes import lane_of
from fermion.model.batch import Batch
from fermion.model.codec import BatchError, FieldError, decode_batch_checked, decode_bulk
from fermion.model.ids import BatchIdGenerator
from fermion.model.records import InboundRecord
from fermion.model.tenancy import Input, Workspace
from fermion.ports import InboundLog
from fermion.services.credential_directory import CredentialDirectory
from fermion.services.rate_limit import RateLimiter
from fermion.settings import Limits


class Endpoint(Enum):
    EVENTS = "events"
    BULK = "bulkevents"
    HISTORICAL = "bulkevents/historical"


@dataclass
class Outcome:
    status: int
    errors: list[dict[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def error(status: int, code: str, message: str, field_name: str = "") -> Outcome:
        err = {"code": code, "message": message}
        if field_name:
            err["field"] = field_name
        return Outcome(status, [err])


class Rejected(Exception):
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class IngestService:
    def __init__(
        self,
        log: InboundLog,
        auth: CredentialDirectory,
        limiter: RateLimiter,
        limits: Limits,
        clock: Callable[[], float] = time.time,
        node_id: int = 0,
    ) -> None:
        self._log = log
        self._auth = auth
        self._limiter = limiter
        self._limits = limits
        self._clock = clock
        # Request ids: a random per-process prefix and a counter (unique, and cheaper than uuid4).
        self._request_prefix = secrets.token_hex(6)
        self._request_counter = itertools.count(1)
        self._batch_ids = BatchIdGenerator(node_id)

    async def ingest(
        self,
        endpoint: Endpoint,
        authorization: str | None,
        body: bytes,
        content_encoding: str | None,
        source_ip: str,
    ) -> Outcome:
        try:
            return await self._ingest(endpoint, authorization, body, content_encoding, source_ip)
        except Rejected as rejected:
            return rejected.outcome

    async def _ingest(
        self,
        endpoint: Endpoint,
        authorization: str | None,
        body: bytes,
        content_encoding: str | None,
        source_ip: str,
    ) -> Outcome:
        # No cache of verified headers here: the credential directory's entries expire, so a
        # deactivated input or rotated secret stops working within config_cache_ttl_s.
        key, secret = _basic_credentials(authorization)
        inp = await self._auth.authenticate(key, secret)
        if inp is None:
            raise Rejected(Outcome.error(403, "FORBIDDEN", "The API key or secret is not valid."))
        return await self._accept(endpoint, inp, body, content_encoding, source_ip)

    async def ingest_as(
        self, inp: Input, body: bytes, content_encoding: str | None, source_ip: str
    ) -> Outcome:
        """One batch for an input the caller already authenticated (the Web SDK's key-in-path upload)."""
        try:
            return await self._accept(Endpoint.EVENTS, inp, body, content_encoding, source_ip)
        except Rejected as rejected:
            return rejected.outcome

    def take_rate(self, workspace: Workspace, count: int, headers: dict[str, str]) -> Outcome | None:
        """Takes `count` batches from the workspace's rate limit (when it has one): the 429 outcome
        when over it, else None (and the percentage used goes on `headers`). Shared by every API that
        counts against the Events API rate limit."""
        if workspace.rate_limit_per_s <= 0:
            return None
        wait_s, used_pct = self._limiter.take(workspace.id, workspace.rate_limit_per_s, count, self._clock())
        if wait_s > 0:
            return Outcome(
                429,
                [{"code": "TOO_MANY_REQUESTS", "message": "Workspace rate limit exceeded."}],
                {"Retry-After": str(max(1, math.ceil(wait_s))), "X-mp-rate-limit-exceeded": "workspace"},
            )
        headers["X-mp-rate-limit-percentage-used"] = str(used_pct)
        return None

    async def _accept(
        self, endpoint: Endpoint, inp: Input, body: bytes, content_encoding: str | None, source_ip: str
    ) -> Outcome:
        body = self._decompress(body, content_encoding)
        now_ms = int(self._clock() * 1000)
        batches, failed = self._decode(endpoint, body, now_ms)
        if failed and not batches:
            raise Rejected(_failure(failed))
        fresh, workspace = self._auth.cached_workspace(inp.workspace_id)
        if not fresh:
            workspace = await self._auth.workspace(inp.workspace_id)
        headers: dict[str, str] = {}
        if workspace is not None:
            refused = self.take_rate(workspace, len(batches), headers)
            if refused is not None:
                return refused
        request_id = f"{self._request_prefix}-{next(self._request_counter):x}"
        records = [
            InboundRecord(
                batch_id=self._batch_ids.next(now_ms),
                workspace_id=inp.workspace_id,
                input_id=inp.id,
                environment="development" if batch.environment == "development" else "production",
                received_ms=now_ms,
                source_ip=source_ip,
                request_id=request_id,
                historical=endpoint is Endpoint.HISTORICAL,
                payload=raw,
                lane=lane_of(batch),
                plain=plain,
            )
            for raw, batch, plain in batches
        ]
        if records:
            await self._log.append(records)
        headers["X-Request-Id"] = request_id
        return Outcome(202, _failure(failed).errors if failed else [], headers)

    def _decompress(self, body: bytes, content_encoding: str | None) -> bytes:
        limit = self._limits.max_request_bytes
        if content_encoding is None:
            return body  # the API layer already capped the raw body at the limit
        encoding = (content_encoding or "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
            inflater = zlib.decompressobj(wbits)
            try:
                body = inflater.decompress(body, limit + 1)
            except zlib.error as exc:
                raise Rejected(
                    Outcome.error(400, "BAD_REQUEST", f"Body is not valid {encoding}: {exc}", "body")
                ) from None
        elif encoding != "identity":
            raise Rejected(
                Outcome.error(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    f"Content-Encoding {encoding!r} is not supported.",
                    "Content-Encoding",
                )
            )
        if len(body) > limit:
            raise Rejected(
                Outcome.error(413, "PAYLOAD_TOO_LARGE", f"The request exceeds {limit} bytes.", "body")
            )
        return body

    def _decode(
        self, endpoint: Endpoint, body: bytes, now_ms: int
    ) -> tuple[list[tuple[bytes, Batch, bool]], list[Outcome]]:
        """(the valid batches: raw, decoded, plain), (one outcome per invalid batch). One invalid batch of
        /v2/events, or a body that is no array of batches, rejects the request."""
        limits = self._limits
        if endpoint is Endpoint.EVENTS:
            raws = [body]
        else:
            try:
                raws = [bytes(r) for r in decode_bulk(body)]
            except BatchError as exc:
                raise Rejected(_bad_request(exc.errors)) from None
            if len(raws) > limits.max_batches_per_request:
                raise Rejected(
                    Outcome.error(
                        413,
                        "PAYLOAD_TOO_LARGE",
                        f"A request may hold at most {limits.max_batches_per_request} batches;"
                        f" got {len(raws)}.",
                        "body",
                    )
                )
        newest_historical_ms = now_ms - limits.historical_min_age_ms
        out: list[tuple[bytes, Batch, bool]] = []
        failed: list[Outcome] = []
        for index, raw in enumerate(raws):
            where = "" if endpoint is Endpoint.EVENTS else f"[{index}]"
            if len(raw) > limits.max_batch_bytes:
                message = f"A batch may be at most {limits.max_batch_bytes} bytes."
                failed.append(Outcome.error(413, "PAYLOAD_TOO_LARGE", message, where or "body"))
                continue
            try:
                batch, plain = decode_batch_checked(raw)
            except BatchError as exc:
                failed.append(_bad_request(exc.errors, where))
                continue
            problem = (
                _historical_problem(batch, where, newest_historical_ms)
                if endpoint is Endpoint.HISTORICAL
                else None
            )
            if problem is not None:
                failed.append(problem)
            else:
                out.append((raw, batch, plain))
        if failed and endpoint is Endpoint.EVENTS:
            raise Rejected(failed[0])
        return out, failed


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    missing = Outcome.error(
        401,
        "UNAUTHORIZED",
        "Basic authentication with the input key and secret is required.",
        "Authorization",
    )
    if not authorization:
        raise Rejected(missing)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise Rejected(missing)
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Rejected(missing) from None
    key, sep, secret = decoded.partition(":")
    if not sep or not key:
        raise Rejected(Outcome.error(403, "FORBIDDEN", "The API key or secret is not valid."))
    return key, secret


def _bad_request(errors: list[FieldError], prefix: str = "") -> Outcome:
    def name(f: str) -> str:
        if not prefix:
            return f
        if f == "body":
            return prefix
        return f"{prefix}{f}" if f.startswith("[") else f"{prefix}.{f}"

    return Outcome(
        400, [{"code": "BAD_REQUEST", "message": e.message, "field": name(e.field)} for e in errors]
    )


def _failure(failed: list[Outcome]) -> Outcome:
    """The invalid batches' errors in one outcome: 413 when every one is too large, else 400."""
    status = 413 if all(f.status == 413 for f in failed) else 400
    return Outcome(status, [e for f in failed for e in f.errors])


def _historical_problem(batch: Batch, where: str, newest_allowed_ms: int) -> Outcome | None:
    """Why a historical batch cannot be taken (spec 1.1: it needs events, each 72 hours old), or None."""
    if not batch.events:
        return Outcome.error(400, "BAD_REQUEST", "A historical batch must contain events.", f"{where}.events")
    for j, event in enumerate(batch.events):
        ts = event.data.timestamp_unixtime_ms
        field_name = f"{where}.events[{j}].data.timestamp_unixtime_ms"
        if ts is None:
            message = "Every historical event needs timestamp_unixtime_ms."
            return Outcome.error(400, "BAD_REQUEST", message, field_name)
        if ts > newest_allowed_ms:
            message = "Historical events must be at least 72 hours old."
            return Outcome.error(400, "BAD_REQUEST", message, field_name)
    return None
