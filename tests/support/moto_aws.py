"""A local moto server standing in for AWS, with a boto3 client of one service pointed at it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
from moto.server import ThreadedMotoServer


@contextlib.contextmanager
def moto_server(service: str, region: str = "us-east-1") -> Iterator[tuple[str, Any]]:
    """(the server's URL, a boto3 client of `service` on it); the server stops on exit."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    try:
        yield url, client
    finally:
        server.stop()


def create_http_stream(client: Any, name: str, endpoint_url: str) -> None:
    """A Direct PUT Firehose stream whose records moto posts to `endpoint_url` (e.g. a Recorder)."""
    client.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        HttpEndpointDestinationConfiguration={
            "EndpointConfiguration": {"Url": endpoint_url},
            "S3Configuration": {
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::firehose-backup",
            },
        },
    )
