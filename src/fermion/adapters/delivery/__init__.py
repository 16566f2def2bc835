"""Transports for outbound requests: aiohttp for HTTP, boto3 (in threads) for S3 and Firehose."""

from __future__ import annotations

from fermion.adapters.delivery.aws import AwsTransport
from fermion.adapters.delivery.http import HttpTransport
from fermion.integrations.spec import HttpRequest, OutboundRequest
from fermion.ports import SendResult


class RoutingTransport:
    """Sends HTTP requests with one transport and AWS requests (S3, Firehose) with another."""

    def __init__(self, http: HttpTransport, aws: AwsTransport) -> None:
        self._http = http
        self._aws = aws

    async def send(self, request: OutboundRequest, timeout_s: float) -> SendResult:
        if isinstance(request, HttpRequest):
            return await self._http.send(request, timeout_s)
        return await self._aws.send(request, timeout_s)

    async def close(self) -> None:
        await self._http.close()
        await self._aws.close()


__all__ = ["AwsTransport", "HttpTransport", "RoutingTransport"]
