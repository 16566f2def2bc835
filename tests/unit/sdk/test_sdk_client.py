"""EventsApi against httpx.MockTransport and a real local HTTP server: auth, paths, splitting, retries."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from fermion.sdk import (
    ApiError,
    ApiErrorDetail,
    AppEvent,
    Batch,
    Configuration,
    EventsApi,
    UserIdentities,
)
from fermion.sdk.client import parse_errors, parse_retry_after

KEY, SECRET = "my-key", "my-secret"
EXPECTED_AUTH = "Basic bXkta2V5Om15LXNlY3JldA=="  # base64("my-key:my-secret"), as in spec 1.5
ERROR_BODY = json.dumps(
    {"errors": [{"code": "BAD_REQUEST", "message": 'Required event field "event_type" is missing'}]}
)


def without_request_id(payload: dict[str, Any]) -> dict[str, Any]:
    """The SDK stamps every batch with a UUID source_request_id; check it, then compare the rest."""
    uuid.UUID(payload.pop("source_request_id"))
    return payload


def make_batch(n: int = 0) -> Batch:
    batch = Batch(Batch.Environment.development, user_identities=UserIdentities(customerid=f"c{n}"))
    batch.add_event(AppEvent(AppEvent.CustomEventType.navigation, "Hello World", custom_attributes={"n": n}))
    return batch


class Sleeps(list[float]):
    """A fake sleep that records each requested wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --------------------------------------------------------------------------- MockTransport helpers


@dataclass
class Scripted:
    """A MockTransport handler that answers from a script (then 202) and records every request."""

    script: deque[httpx.Response | Exception] = field(default_factory=deque)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            item = self.script.popleft()
            if isinstance(item, Exception):
                raise item
            return item
        return httpx.Response(202)


def mock_api(
    *answers: httpx.Response | Exception, jitter: float = 0.5, **config: Any
) -> tuple[EventsApi, Scripted, Sleeps]:
    handler = Scripted(deque(answers))
    sleeps = Sleeps()
    cfg = Configuration(KEY, SECRET, **config)
    api = EventsApi(cfg, transport=httpx.MockTransport(handler), sleep=sleeps, jitter=lambda: jitter)
    return api, handler, sleeps


def test_upload_sends_basic_auth_json_and_path() -> None:
    api, handler, sleeps = mock_api(httpx.Response(202, headers={"X-mp-rate-limit-percentage-used": "7"}))
    response = api.upload_events(make_batch())
    assert response.status == 202
    assert response.headers["x-mp-rate-limit-percentage-used"] == "7"
    (request,) = handler.requests
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:8080/v2/events"
    assert request.headers["authorization"] == EXPECTED_AUTH
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("fermion-python-sdk/")
    assert without_request_id(json.loads(request.content)) == make_batch().to_dict()
    assert sleeps == []


def test_auth_header_encodes_utf8() -> None:
    cfg = Configuration("kéy", "sécret")
    assert cfg.authorization() == "Basic " + base64.b64encode("kéy:sécret".encode()).decode()


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("http://fermion.test/v2", "http://fermion.test/v2/events"),
        ("http://fermion.test/v2/", "http://fermion.test/v2/events"),
        ("http://fermion.test/v2//", "http://fermion.test/v2/events"),
        ("https://s2s.eu1.fermion.test/prefix/v2", "https://s2s.eu1.fermion.test/prefix/v2/events"),
    ],
)
def test_host_is_joined_without_double_slash(host: str, url: str) -> None:
    api, handler, _ = mock_api(host=host)
    api.upload_events(make_batch())
    assert str(handler.requests[0].url) == url


def test_raw_mapping_is_sent_as_is() -> None:
    api, handler, _ = mock_api()
    api.upload_events({"environment": "production", "events": [], "schema_version": 2})
    assert without_request_id(json.loads(handler.requests[0].content)) == {
        "environment": "production",
        "events": [],
        "schema_version": 2,
    }
    with pytest.raises(TypeError):
        api.upload_events([make_batch()])  # type: ignore[arg-type]


def test_bulk_splits_into_requests_of_at_most_100() -> None:
    api, handler, _ = mock_api()
    responses = api.bulk_upload_events([make_batch(i) for i in range(250)])
    assert [r.status for r in responses] == [202, 202, 202]
    bodies = [json.loads(r.content) for r in handler.requests]
    assert [len(b) for b in bodies] == [100, 100, 50]
    assert all(str(r.url) == "http://127.0.0.1:8080/v2/bulkevents" for r in handler.requests)
    sent_ids = [b["user_identities"]["customerid"] for body in bodies for b in body]
    assert sent_ids == [f"c{i}" for i in range(250)]


def test_bulk_of_exactly_100_is_one_request_and_empty_is_none() -> None:
    api, handler, _ = mock_api()
    api.bulk_upload_events(make_batch(i) for i in range(100))
    assert len(handler.requests) == 1
    assert api.bulk_upload_events([]) == []
    assert len(handler.requests) == 1


def test_bulk_failure_reports_batches_already_accepted() -> None:
    api, handler, _ = mock_api(httpx.Response(202), httpx.Response(400, text=ERROR_BODY))
    with pytest.raises(ApiError) as info:
        api.bulk_upload_events([make_batch(i) for i in range(250)])
    assert info.value.status == 400
    assert info.value.accepted_batches == 100
    assert len(handler.requests) == 2


def test_429_honours_integer_retry_after() -> None:
    api, handler, sleeps = mock_api(
        httpx.Response(429, headers={"Retry-After": "3", "X-mp-rate-limit-exceeded": "app"}),
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(202),
    )
    assert api.upload_events(make_batch()).status == 202
    assert sleeps == [3.0, 0.0]
    assert len(handler.requests) == 3


def test_503_honours_retry_after_but_500_does_not() -> None:
    api, _, sleeps = mock_api(
        httpx.Response(503, headers={"Retry-After": "7"}),
        httpx.Response(500, headers={"Retry-After": "7"}),
        jitter=0.0,
        backoff_base_s=1.0,
    )
    api.upload_events(make_batch())
    assert sleeps == [7.0, 1.0]  # attempt 1 backoff: cap 2.0, jitter 0 -> 1.0


@pytest.mark.parametrize("value", ["1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "soon"])
def test_unusable_retry_after_falls_back_to_backoff(value: str) -> None:
    api, _, sleeps = mock_api(httpx.Response(429, headers={"Retry-After": value}), jitter=1.0)
    api.upload_events(make_batch())
    assert sleeps == [0.5]


def test_retry_after_beyond_limit_fails_at_once() -> None:
    api, handler, sleeps = mock_api(
        httpx.Response(429, headers={"Retry-After": "3600"}), max_retry_after_s=60
    )
    with pytest.raises(ApiError) as info:
        api.upload_events(make_batch())
    assert info.value.status == 429
    assert info.value.headers["retry-after"] == "3600"
    assert sleeps == [] and len(handler.requests) == 1


def test_exponential_backoff_with_jitter_is_capped() -> None:
    api, _, sleeps = mock_api(
        *[httpx.Response(502)] * 6, jitter=1.0, backoff_base_s=0.5, backoff_max_s=4.0, max_retries=6
    )
    api.upload_events(make_batch())
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    api, _, sleeps = mock_api(*[httpx.Response(500)] * 3, jitter=0.0, backoff_base_s=0.5)
    api.upload_events(make_batch())
    assert sleeps == [0.25, 0.5, 1.0]


def test_jitter_spreads_waits_between_half_and_full_cap() -> None:
    handler = Scripted(deque([httpx.Response(500)] * 40))
    sleeps = Sleeps()
    api = EventsApi(
        Configuration(KEY, SECRET, max_retries=40, backoff_base_s=1.0, backoff_max_s=1.0),
        transport=httpx.MockTransport(handler),
        sleep=sleeps,
    )
    api.upload_events(make_batch())
    assert all(0.5 <= s <= 1.0 for s in sleeps)
    assert len(set(sleeps)) > 1


def test_retries_exhausted_raise_with_status_and_parsed_errors() -> None:
    api, handler, sleeps = mock_api(*[httpx.Response(500, text=ERROR_BODY)] * 10, max_retries=3)
    with pytest.raises(ApiError) as info:
        api.upload_events(make_batch())
    err = info.value
    assert err.status == 500
    assert err.attempts == 4
    assert err.body == ERROR_BODY
    assert err.errors == [ApiErrorDetail("BAD_REQUEST", 'Required event field "event_type" is missing')]
    assert "BAD_REQUEST" in str(err)
    assert len(handler.requests) == 4 and len(sleeps) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_client_errors_raise_at_once(status: int) -> None:
    api, handler, sleeps = mock_api(httpx.Response(status, text=ERROR_BODY))
    with pytest.raises(ApiError) as info:
        api.upload_events(make_batch())
    assert info.value.status == status
    assert info.value.errors[0].code == "BAD_REQUEST"
    assert len(handler.requests) == 1 and sleeps == []


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_success(status: int) -> None:
    api, _, _ = mock_api(httpx.Response(status))
    assert api.upload_events(make_batch()).status == status


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ReadError("reset"),
    ],
)
def test_transport_errors_are_retried(exc: Exception) -> None:
    api, handler, sleeps = mock_api(exc, exc, jitter=1.0)
    assert api.upload_events(make_batch()).status == 202
    assert sleeps == [0.5, 1.0] and len(handler.requests) == 3


def test_transport_errors_exhausted_raise_without_status() -> None:
    api, _, _ = mock_api(*[httpx.ConnectError("refused")] * 3, max_retries=2)
    with pytest.raises(ApiError) as info:
        api.upload_events(make_batch())
    assert info.value.status is None
    assert info.value.attempts == 3
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_non_retryable_transport_error_raises_at_once() -> None:
    api, handler, sleeps = mock_api(httpx.UnsupportedProtocol("ftp"))
    with pytest.raises(ApiError) as info:
        api.upload_events(make_batch())
    assert info.value.status is None and sleeps == [] and len(handler.requests) == 1


def test_unparseable_error_bodies_give_no_errors() -> None:
    assert parse_errors("") == []
    assert parse_errors("<html>oops</html>") == []
    assert parse_errors('["x"]') == []
    assert parse_errors('{"errors": "x"}') == []
    assert parse_errors('{"errors": [{"code": "X"}, 3]}') == [ApiErrorDetail("X", "")]
    assert parse_retry_after(" 12 ") == 12
    assert parse_retry_after(None) is None


def test_client_ownership_and_context_manager() -> None:
    with pytest.raises(ValueError):
        EventsApi(
            Configuration(KEY, SECRET), transport=httpx.MockTransport(Scripted()), client=httpx.Client()
        )
    external = httpx.Client(transport=httpx.MockTransport(Scripted()))
    with EventsApi(Configuration(KEY, SECRET), client=external) as api:
        api.upload_events(make_batch())
    assert not external.is_closed
    external.close()
    with EventsApi(Configuration(KEY, SECRET), transport=httpx.MockTransport(Scripted())) as api:
        owned = api._client
    assert owned.is_closed


# --------------------------------------------------------------------------- a real local HTTP server


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay_s: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out leaves a broken pipe behind; that is expected here


class CaptureServer:
    """A ThreadingHTTPServer on 127.0.0.1:0 that records requests and answers from a script, then 202."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.script: deque[Reply] = deque()
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                reply = capture._record(
                    Captured("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                time.sleep(reply.delay_s)
                payload = reply.body.encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def _record(self, captured: Captured) -> Reply:
        with self._lock:
            self.requests.append(captured)
            return self.script.popleft() if self.script else Reply()

    def answer(self, *replies: Reply) -> None:
        self.script.extend(replies)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"


@pytest.fixture
def server() -> Iterator[CaptureServer]:
    srv = CaptureServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


LiveApi = Callable[..., tuple[EventsApi, Sleeps]]


@pytest.fixture
def live_api(server: CaptureServer) -> Iterator[LiveApi]:
    apis: list[EventsApi] = []

    def make(host_suffix: str = "/v2", **config: Any) -> tuple[EventsApi, Sleeps]:
        sleeps = Sleeps()
        api = EventsApi(Configuration(KEY, SECRET, host=server.base + host_suffix, **config), sleep=sleeps)
        apis.append(api)
        return api, sleeps

    yield make
    for api in apis:
        api.close()


def test_live_upload(server: CaptureServer, live_api: LiveApi) -> None:
    api, sleeps = live_api()
    assert api.upload_events(make_batch()).status == 202
    (req,) = server.requests
    assert req.path == "/v2/events"
    assert req.headers["authorization"] == EXPECTED_AUTH
    assert req.headers["content-type"] == "application/json"
    assert without_request_id(req.json()) == make_batch().to_dict()
    assert sleeps == []


def test_live_trailing_slash_host(server: CaptureServer, live_api: LiveApi) -> None:
    api, _ = live_api("/v2/")
    api.upload_events(make_batch())
    api.bulk_upload_events([make_batch()])
    assert [r.path for r in server.requests] == ["/v2/events", "/v2/bulkevents"]


def test_live_bulk_split(server: CaptureServer, live_api: LiveApi) -> None:
    api, _ = live_api()
    responses = api.bulk_upload_events([make_batch(i) for i in range(250)])
    assert len(responses) == 3
    assert [r.path for r in server.requests] == ["/v2/bulkevents"] * 3
    assert [len(r.json()) for r in server.requests] == [100, 100, 50]
    assert all(r.headers["authorization"] == EXPECTED_AUTH for r in server.requests)


def test_live_429_retry_after(server: CaptureServer, live_api: LiveApi) -> None:
    server.answer(
        Reply(429, {"Retry-After": "2", "X-mp-rate-limit-exceeded": "app"}),
        Reply(503, {"Retry-After": "1"}),
    )
    api, sleeps = live_api()
    assert api.upload_events(make_batch()).status == 202
    assert sleeps == [2.0, 1.0]
    assert len(server.requests) == 3
    assert server.requests[0].body == server.requests[2].body


def test_live_500s_then_success(server: CaptureServer, live_api: LiveApi) -> None:
    server.answer(Reply(500), Reply(500), Reply(502))
    api, sleeps = live_api(backoff_base_s=0.5, backoff_max_s=30)
    assert api.upload_events(make_batch()).status == 202
    assert len(server.requests) == 4
    assert [0.25 <= sleeps[0] <= 0.5, 0.5 <= sleeps[1] <= 1.0, 1.0 <= sleeps[2] <= 2.0] == [True] * 3


def test_live_exhaustion(server: CaptureServer, live_api: LiveApi) -> None:
    server.answer(*[Reply(500, {"Content-Type": "application/json"}, ERROR_BODY)] * 5)
    api, sleeps = live_api(max_retries=2)
    with pytest.raises(ApiError) as info:
        api.upload_events(make_batch())
    assert info.value.status == 500
    assert [e.code for e in info.value.errors] == ["BAD_REQUEST"]
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_live_429_exhaustion(server: CaptureServer, live_api: LiveApi) -> None:
    server.answer(*[Reply(429, {"Retry-After": "1"})] * 5)
    api, sleeps = live_api(max_retries=3)
    with pytest.raises(ApiError) as info:
        api.upload_events(make_batch())
    assert info.value.status == 429
    assert sleeps == [1.0, 1.0, 1.0]
    assert len(server.requests) == 4


def test_live_400_no_retry(server: CaptureServer, live_api: LiveApi) -> None:
    server.answer(Reply(400, {"Content-Type": "application/json"}, ERROR_BODY))
    api, sleeps = live_api()
    with pytest.raises(ApiError) as info:
        api.bulk_upload_events([make_batch()])
    assert info.value.status == 400
    assert info.value.errors == [
        ApiErrorDetail("BAD_REQUEST", 'Required event field "event_type" is missing')
    ]
    assert len(server.requests) == 1 and sleeps == []


def test_live_timeout_is_retried(server: CaptureServer, live_api: LiveApi) -> None:
    server.answer(Reply(202, delay_s=1.0))
    api, sleeps = live_api(timeout_s=0.2)
    assert api.upload_events(make_batch()).status == 202
    assert len(sleeps) == 1
    assert len(server.requests) == 2


def test_live_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    cfg = Configuration(KEY, SECRET, host=f"http://127.0.0.1:{port}/v2", max_retries=2)
    with EventsApi(cfg, sleep=sleeps) as api, pytest.raises(ApiError) as info:
        api.upload_events(make_batch())
    assert info.value.status is None
    assert info.value.attempts == 3 and len(sleeps) == 2


def test_retries_resend_the_same_source_request_id() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["source_request_id"])
        return httpx.Response(503 if len(seen) < 3 else 202)

    api = EventsApi(Configuration(KEY, SECRET), transport=httpx.MockTransport(handler), sleep=lambda _: None)
    api.upload_events(make_batch())
    assert len(seen) == 3 and len(set(seen)) == 1
