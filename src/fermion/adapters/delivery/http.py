"""HttpTransport: sends HttpRequests with one shared aiohttp session (keep-alive, bounded connections)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from fermion.integrations.spec import HttpRequest, OutboundRequest
from fermion.ports import SendResult

_ERROR_EXCERPT = 500


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_dt = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return max(0.0, (when - now_dt).total_seconds())


class HttpTransport:
    def __init__(self, max_connections: int = 512) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop (aiohttp sessions belong to one loop).
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def send(self, request: OutboundRequest, timeout_s: float) -> SendResult:
        if not isinstance(request, HttpRequest):
            raise TypeError(f"HttpTransport cannot send {type(request).__name__}")
        started = time.perf_counter()
        try:
            async with self._client().request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                ok = 200 <= resp.status < 300
                return SendResult(
                    status=resp.status,
                    message="" if ok else body[:_ERROR_EXCERPT].decode("utf-8", "replace"),
                    retry_after_s=parse_retry_after(resp.headers.get("Retry-After")),
                    latency_ms=int((time.perf_counter() - started) * 1000),
                )
        except TimeoutError:
            return SendResult(
                failure="timeout",
                message=f"no response within {timeout_s:g} s",
                latency_ms=int((time.perf_counter() - started) * 1000),
            )
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            return SendResult(
                failure="connection_error",
                message=f"{type(exc).__name__}: {exc}",
                latency_ms=int((time.perf_counter() - started) * 1000),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
