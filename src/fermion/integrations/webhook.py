"""Webhook output: POSTs outgoing batches as JSON to a URL, optionally signed (HMAC-SHA256 over the body).

One batch per request by default (the body is the batch object, in the stored outgoing format);
with `batches_per_request` > 1 the body is a JSON array of batches. The extra `headers` are secrets
(they usually carry an API key): encrypted at rest, their values shown as `***`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from pydantic import Field, field_validator

from fermion.integrations.spec import (
    DeliveryOptions,
    HttpRequest,
    Integration,
    IntegrationKind,
    MapSettings,
    NoSettings,
    OutboundRequest,
    OutgoingBatch,
    Secret,
    SettingsModel,
)

DELIVERY_HEADER = "X-Fermion-Delivery-Id"
BATCH_IDS_HEADER = "X-Fermion-Batch-Ids"


class WebhookSettings(SettingsModel):
    url: str = Field(description="The URL every batch is POSTed to (http or https).", max_length=2000)
    signing_secret: Secret | None = Field(
        default=None,
        description="When set, each request carries an HMAC-SHA256 of its body, keyed with this secret.",
    )
    signature_header: str = Field(
        default="X-Fermion-Signature",
        description='Header holding the signature, as "sha256=<hex digest>".',
        min_length=1,
        max_length=100,
    )
    headers: dict[str, Secret] = Field(
        default_factory=dict,
        description="Extra headers sent with every request (e.g. an API key); their values are secrets, "
        "shown as ***. When updating, a value sent as *** keeps the stored one.",
        max_length=50,
    )
    batches_per_request: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="1: the body is one batch object. More: the body is a JSON array of up to this many.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, Secret]) -> dict[str, Secret]:
        for name, header_value in value.items():
            if not name or len(name) > 200 or any(c in name for c in " :\r\n"):
                raise ValueError(f"invalid header name {name!r}")
            if len(header_value.reveal()) > 8000 or any(c in header_value.reveal() for c in "\r\n"):
                raise ValueError(f"invalid value of header {name!r}")  # never the value itself
        return value


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def map_batches(
    batches: Sequence[OutgoingBatch], settings: MapSettings[WebhookSettings, NoSettings]
) -> list[OutboundRequest]:
    cfg = settings.output
    per_request = cfg.batches_per_request
    requests: list[OutboundRequest] = []
    for start in range(0, len(batches), per_request):
        chunk = batches[start : start + per_request]
        if per_request == 1:
            body = chunk[0].payload
            dedupe = f"{settings.connection_id}:{chunk[0].batch_id}"
        else:
            body = b"[" + b",".join(b.payload for b in chunk) + b"]"
            dedupe = f"{settings.connection_id}:{settings.group_key}:{start // per_request}"
        ids = tuple(b.batch_id for b in chunk)
        headers = {
            **{name: value.reveal() for name, value in cfg.headers.items()},
            "Content-Type": "application/json",
            DELIVERY_HEADER: dedupe,
            BATCH_IDS_HEADER: ",".join(str(i) for i in ids),
        }
        if cfg.signing_secret:
            headers[cfg.signature_header] = sign(cfg.signing_secret.reveal(), body)
        requests.append(
            HttpRequest(
                method="POST", url=cfg.url, headers=headers, body=body, dedupe_key=dedupe, batch_ids=ids
            )
        )
    return requests


INTEGRATION = Integration[WebhookSettings, NoSettings](
    id="webhook",
    name="Webhook",
    kind=IntegrationKind.EVENT,
    settings=WebhookSettings,
    connection_settings=NoSettings,
    map=map_batches,
    options=DeliveryOptions(batch_window_ms=0, max_batch_size=100, max_concurrency=16, timeout_s=10.0),
    description="POSTs every outgoing batch as JSON to your URL, optionally signed with HMAC-SHA256.",
)
