"""Bounded memory whatever the client sends: every route caps its body while reading it, before
authentication and parsing (413 naming `body`); slow or idle connections and oversized headers are cut
off. Runs its own server with short header/body deadlines and the access log switched off."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.fermion_proc import FermionProcess

DEADLINE_S = 2  # the server's header and body deadlines in this module
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FermionProcess]:
    env = {
        "FERMION_CONFIG_CACHE_TTL_S": "0.3",
        "FERMION_HTTP_HEADER_TIMEOUT_S": str(DEADLINE_S),
        "FERMION_HTTP_BODY_TIMEOUT_S": str(DEADLINE_S),
    }
    proc = FermionProcess(tmp_path_factory.mktemp("limits"), env=env)
    proc.init()
    proc.start("--no-access-log")
    try:
        yield proc
    finally:
        proc.stop()


def connect(server: FermionProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one answer on `sock`, read until the server closes it (the
    timeout bounds a failing test only)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    assert data, "the connection was closed without an answer"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def assert_error(body: bytes, field: str) -> None:
    errors = json.loads(body)["errors"]
    assert errors[0]["field"] == field and errors[0]["code"] and errors[0]["message"], errors


def rss_kb(server: FermionProcess) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def still_answers(server: FermionProcess) -> None:
    assert httpx.get(server.base_url + "/healthz", timeout=30).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/workspaces/1/inputs",
        "/userprofile/v1/resolve/1/1/1",
        "/oauth/token",
        "/v1/identify",
        "/platform/v2/workspaces/1/calculatedattributes",
    ],
)
def test_declared_oversized_body_gets_413_before_auth(server: FermionProcess, path: str) -> None:
    sock = connect(server)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 * MIB}\r\n\r\n".encode()
    )
    status, headers, body = read_answer(sock)  # answered without sending a byte of the body
    assert status == 413
    assert headers["connection"] == "close"
    assert_error(body, "body")


def test_chunked_body_is_cut_off_at_the_cap(server: FermionProcess) -> None:
    sock = connect(server)
    sock.sendall(
        b"POST /api/v1/workspaces/1/inputs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    for _ in range(MIB // len(chunk) + 1):  # just over 1 MiB; the rest never comes
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    status, _, body = read_answer(sock)
    assert status == 413
    assert_error(body, "body")


def test_events_api_cap_is_the_reference_limit(server: FermionProcess) -> None:
    key, secret = server.input_creds()
    auth = base64.b64encode(f"{key}:{secret}".encode()).decode()
    r = httpx.post(
        server.base_url + "/v2/events",
        content=b" " * (300 * 1024),
        headers={"Authorization": f"Basic {auth}"},
        timeout=30,
    )
    assert r.status_code == 413
    assert_error(r.content, "body")


def test_body_under_the_cap_reaches_the_route(server: FermionProcess) -> None:
    r = httpx.post(
        server.base_url + "/api/v1/workspaces/1/inputs", content=b"{" + b" " * (512 * 1024), timeout=30
    )
    assert r.status_code == 401, r.text  # read whole, then refused for the missing token


def stream_50mb() -> Iterator[bytes]:
    block = b"a" * MIB
    for _ in range(50):
        yield block


def test_unauthenticated_50mb_bodies_leave_memory_flat(server: FermionProcess) -> None:
    paths = [
        "/api/v1/workspaces/1/inputs",
        "/userprofile/v1/resolve/1/1/1",
        "/api/v1/workspaces/1/outputs",
        "/userprofile/v1/1/1/1/42",
    ]

    def post(i: int) -> None:
        # Half declare their length (refused at once), half are chunked (refused while reading).
        headers = {"Content-Type": "application/json"}
        if i % 2:
            headers["Content-Length"] = str(50 * MIB)
        try:
            r = httpx.post(
                server.base_url + paths[i % len(paths)], content=stream_50mb(), headers=headers, timeout=60
            )
            assert 400 <= r.status_code < 500, r.text
        except httpx.TransportError:
            pass  # the server closed the connection while the client was still sending

    for i in range(4):  # warm-up: first-use allocations are not what is measured
        post(i)
    still_answers(server)
    before = rss_kb(server)
    for i in range(20):
        post(i)
    still_answers(server)
    grown_kb = rss_kb(server) - before
    assert grown_kb < 20 * 1024, f"API process grew {grown_kb} KB over 20 requests of 50 MB"


def test_slow_body_gets_408_and_is_closed(server: FermionProcess) -> None:
    sock = connect(server)
    sock.sendall(b"POST /api/v1/workspaces/1/inputs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    status, _, body = read_answer(sock)  # nothing more is sent
    assert status == 408
    assert_error(body, "body")
    still_answers(server)


def test_slow_headers_get_408_and_are_closed(server: FermionProcess) -> None:
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # a header line now and then, never the end of them
            sock.sendall(b"X-Slow: 1\r\n")
            time.sleep(0.2)
    except OSError:
        pass  # closed by the server
    assert time.monotonic() < deadline, "the server kept a trickling connection open"
    status, _, body = read_answer(sock)
    assert status == 408
    assert_error(body, "headers")


def test_idle_connection_is_closed(server: FermionProcess) -> None:
    sock = connect(server)
    assert sock.recv(100) == b""  # closed by the server (the socket timeout bounds a failing test)
    sock.close()


def test_oversized_headers_get_431(server: FermionProcess) -> None:
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    try:
        for i in range(100):
            sock.sendall(b"X-Big-%d: %s\r\n" % (i, b"a" * 4000))
        sock.sendall(b"\r\n")
    except OSError:
        pass  # closed by the server once over the cap
    status, _, body = read_answer(sock)
    assert status == 431
    assert_error(body, "headers")
    still_answers(server)


def test_access_log_off(server: FermionProcess) -> None:
    still_answers(server)
    httpx.get(server.base_url + "/api/v1/workspaces/1/inputs", timeout=30)
    time.sleep(1)  # the access log writes within 0.25 s: give it time to show what must not be there
    log = (server.data_dir / "server.log").read_text()
    assert '"log":"access"' not in log
