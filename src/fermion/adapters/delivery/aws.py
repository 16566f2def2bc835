"""AwsTransport: S3 PutObject and Firehose PutRecord with boto3, in a bounded thread pool.

boto3 is imported on first use (it takes a second or more to import; most processes never need it).
boto3's own retries are off (Fermion's queue retries with backoff); `endpoint_url` points every
client at another endpoint (moto in tests, MinIO, LocalStack).
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fermion.integrations.spec import AwsCredentials, FirehoseRecord, OutboundRequest, S3Object
from fermion.ports import SendResult

# AWS error codes that mean "slow down" or "try again", whatever HTTP status carries them (throttling
# often comes as a 400): reported as 429 and 503 so the queue retries them with backoff.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
UNAVAILABLE_CODES = frozenset(
    {"ServiceUnavailableException", "ServiceUnavailable", "InternalFailure", "InternalError"}
)


def status_of(http_status: int, error_code: str) -> int:
    """The status Fermion's retry policy should see for an AWS error."""
    if error_code in THROTTLING_CODES:
        return 429
    if error_code in UNAVAILABLE_CODES and http_status < 500:
        return 503
    return http_status


class AwsTransport:
    def __init__(self, endpoint_url: str | None = None, max_threads: int = 16) -> None:
        self._endpoint_url = endpoint_url or None
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="fermion-aws")
        self._clients: dict[tuple[str, str, str, float, str | None], Any] = {}
        self._lock = threading.Lock()

    def _client(
        self,
        service: str,
        region: str,
        creds: AwsCredentials | None,
        timeout_s: float,
        endpoint_url: str | None = None,
    ) -> Any:
        # A request's own endpoint (an output setting) wins over the transport-wide one.
        endpoint = endpoint_url or self._endpoint_url
        key = (service, region, creds.access_key_id if creds else "", timeout_s, endpoint)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                import boto3
                from botocore.config import Config

                kwargs: dict[str, Any] = {
                    "region_name": region,
                    "endpoint_url": endpoint,
                    "config": Config(
                        connect_timeout=timeout_s,
                        read_timeout=timeout_s,
                        retries={"total_max_attempts": 1},
                        max_pool_connections=32,
                    ),
                }
                if creds is not None:
                    kwargs["aws_access_key_id"] = creds.access_key_id
                    kwargs["aws_secret_access_key"] = creds.secret_access_key
                client = self._clients[key] = boto3.session.Session().client(service, **kwargs)
            return client

    def _send_sync(self, request: OutboundRequest, timeout_s: float) -> SendResult:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            if isinstance(request, S3Object):
                params: dict[str, Any] = {
                    "Bucket": request.bucket,
                    "Key": request.key,
                    "Body": request.body,
                    "ContentType": request.content_type,
                }
                if request.content_encoding:
                    params["ContentEncoding"] = request.content_encoding
                if request.sse:
                    params["ServerSideEncryption"] = request.sse
                if request.sse_kms_key_id:
                    params["SSEKMSKeyId"] = request.sse_kms_key_id
                client = self._client(
                    "s3", request.region, request.credentials, timeout_s, request.endpoint_url
                )
                response = client.put_object(**params)
            elif isinstance(request, FirehoseRecord):
                client = self._client(
                    "firehose", request.region, request.credentials, timeout_s, request.endpoint_url
                )
                response = client.put_record(DeliveryStreamName=request.stream, Record={"Data": request.data})
            else:
                raise TypeError(f"AwsTransport cannot send {type(request).__name__}")
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200))
            return SendResult(status=status, latency_ms=elapsed())
        except ClientError as exc:
            meta = exc.response.get("ResponseMetadata", {})
            error = exc.response.get("Error", {})
            headers = meta.get("HTTPHeaders", {})
            retry_after = headers.get("retry-after")
            return SendResult(
                status=status_of(int(meta.get("HTTPStatusCode", 500)), str(error.get("Code", ""))),
                message=f"{error.get('Code', '')}: {error.get('Message', '')}".strip(": "),
                retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
                latency_ms=elapsed(),
            )
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            return SendResult(failure="timeout", message=str(exc), latency_ms=elapsed())
        except BotoCoreError as exc:
            return SendResult(failure="connection_error", message=str(exc), latency_ms=elapsed())

    async def send(self, request: OutboundRequest, timeout_s: float) -> SendResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._send_sync, request, timeout_s)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
