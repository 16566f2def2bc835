"""HTTP client for the Events API: `EventsApi` posts batches with Basic auth, retries and backoff."""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from fermion.sdk.models import Batch

SDK_VERSION = "0.1.0"
USER_AGENT = f"fermion-python-sdk/{SDK_VERSION}"
DEFAULT_HOST = "http://127.0.0.1:8080/v2"
#: The most batches the Events API takes in one `/bulkevents` request.
MAX_BULK_BATCHES = 100

BatchLike = Batch | Mapping[str, Any]


@dataclass
class Configuration:
    """Credentials, base URL and retry policy; `max_retries` counts retries after the first attempt.

    A `Retry-After` longer than `max_retry_after_s` is not waited out: the call fails at once instead.
    """

    api_key: str
    api_secret: str
    host: str = DEFAULT_HOST
    timeout_s: float = 60
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30
    max_retry_after_s: float = 300

    def authorization(self) -> str:
        """The `Authorization` header value: Basic base64(utf8(key:secret))."""
        token = base64.b64encode(f"{self.api_key}:{self.api_secret}".encode()).decode("ascii")
        return f"Basic {token}"


@dataclass(frozen=True)
class ApiErrorDetail:
    code: str
    message: str


@dataclass(frozen=True)
class ApiResponse:
    """A successful (2xx) answer; the Events API normally replies 202 with an empty body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A failed upload: a non-2xx answer, or retries exhausted.

    `status` is None when no HTTP response came back (connection error or timeout). For bulk
    uploads split into several requests, `accepted_batches` counts the batches of the earlier,
    successful requests.
    """

    def __init__(
        self,
        status: int | None,
        body: str = "",
        errors: list[ApiErrorDetail] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        attempts: int = 1,
        reason: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.errors: list[ApiErrorDetail] = list(errors or [])
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.attempts = attempts
        self.reason = reason
        self.accepted_batches = 0
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        parts = [f"Events API request failed ({where}, {self.attempts} attempt(s))"]
        if self.reason:
            parts.append(self.reason)
        parts.extend(f"{e.code}: {e.message}" for e in self.errors)
        return "; ".join(parts)

    @classmethod
    def from_response(cls, response: httpx.Response, attempts: int = 1) -> ApiError:
        body = response.text
        return cls(
            response.status_code,
            body,
            parse_errors(body),
            headers=response.headers,
            attempts=attempts,
            reason=response.reason_phrase or None,
        )


def parse_errors(body: str) -> list[ApiErrorDetail]:
    """Read `{"errors": [{"code", "message"}]}`; anything else gives an empty list."""
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    items = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return []
    return [
        ApiErrorDetail(code=str(item.get("code", "")), message=str(item.get("message", "")))
        for item in items
        if isinstance(item, dict)
    ]


def parse_retry_after(value: str | None) -> int | None:
    """`Retry-After` as a non-negative integer of seconds; dates and fractions are ignored."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _is_retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


_RETRYABLE_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _payload(batch: BatchLike) -> dict[str, Any]:
    if isinstance(batch, Batch):
        payload = batch.to_dict()
    elif isinstance(batch, Mapping):
        payload = dict(batch)
    else:
        raise TypeError(f"expected a Batch or a mapping, got {type(batch).__name__}")
    # A retry after a lost response must not store the batch twice: the server dedupes on this id.
    payload.setdefault("source_request_id", str(uuid.uuid4()))
    return payload


class EventsApi:
    """Uploads batches to `{host}/events` and `{host}/bulkevents`.

    Pass `transport` (e.g. `httpx.MockTransport`) or a ready `client` for tests; `sleep` and `jitter`
    (a function returning a float in [0, 1)) replace `time.sleep` and `random.random`.
    """

    def __init__(
        self,
        configuration: Configuration,
        *,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if transport is not None and client is not None:
            raise ValueError("pass either transport or client, not both")
        self.configuration = configuration
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=configuration.timeout_s)
        self._sleep = sleep
        self._jitter = jitter

    def upload_events(self, batch: BatchLike) -> ApiResponse:
        """POST one batch to `/events`."""
        return self._post("/events", _payload(batch))

    def bulk_upload_events(self, batches: Iterable[BatchLike]) -> list[ApiResponse]:
        """POST batches to `/bulkevents`, at most 100 per request; returns one response per request."""
        payloads = [_payload(b) for b in batches]
        responses: list[ApiResponse] = []
        for start in range(0, len(payloads), MAX_BULK_BATCHES):
            try:
                responses.append(self._post("/bulkevents", payloads[start : start + MAX_BULK_BATCHES]))
            except ApiError as err:
                err.accepted_batches = start
                raise
        return responses

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> EventsApi:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def url(self, path: str) -> str:
        return self.configuration.host.rstrip("/") + path

    def _backoff(self, attempt: int) -> float:
        cfg = self.configuration
        cap = min(cfg.backoff_max_s, cfg.backoff_base_s * (2.0**attempt))
        return cap / 2 + self._jitter() * cap / 2

    def _post(self, path: str, payload: Any) -> ApiResponse:
        cfg = self.configuration
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        headers = {
            "Authorization": cfg.authorization(),
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        url = self.url(path)
        attempt = 0
        while True:
            try:
                response = self._client.post(url, content=body, headers=headers, timeout=cfg.timeout_s)
            except _RETRYABLE_TRANSPORT_ERRORS as exc:
                if attempt >= cfg.max_retries:
                    raise ApiError(None, attempts=attempt + 1, reason=repr(exc)) from exc
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                raise ApiError(None, attempts=attempt + 1, reason=repr(exc)) from exc
            status = response.status_code
            if 200 <= status <= 299:
                return ApiResponse(status, response.headers)
            if not _is_retryable_status(status) or attempt >= cfg.max_retries:
                raise ApiError.from_response(response, attempts=attempt + 1)
            delay = self._backoff(attempt)
            if status in (429, 503):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None:
                    if retry_after > cfg.max_retry_after_s:
                        raise ApiError.from_response(response, attempts=attempt + 1)
                    delay = float(retry_after)
            self._sleep(delay)
            attempt += 1
