"""Amazon Kinesis Firehose audience output: one PutRecord per membership change, into your stream.

Record Data (JSON; the transport base64-encodes it on the wire, as boto3 does):
  {"MembershipChangedTimestamp": "<unix seconds>", "AudienceId": 123, "AudienceName": "<external name,
   else name>", "IsMember": true|false, "UserIdentities": {"CustomerId": "...", ...}}
An audience deletion sends {"MembershipChangedTimestamp", "AudienceId", "AudienceName",
"IsDeleted": true} (no IsMember, no identities): handle it by dropping the audience downstream.

UserIdentities keys, by Fermion's canonical identity type (only these identities are sent):
  users:   customer_id CustomerId, email Email, other Other, other_id_2..other_id_10 Other2..Other10,
           facebook FacebookId, google GoogleId, microsoft MicrosoftId, twitter TwitterId,
           yahoo YahooId, mpid MPID (the mParticle ID, a decimal string)
  devices: android_aaid GoogleAdvertisingIdentifier, ios_idfa AppleAdvertisingIdentifier (IDFA),
           ios_idfv AppleVendorIdentifier (IDFV), android_uuid AndroidId, fire_aid
           FireAdvertisingIdentifier, microsoft_aid MicrosoftAdvertisingIdentifier, roku_aid
           RokuAdvertisingIdentifier, roku_publisher_id RokuPublisherIdentifier
"Identities to Exclude" takes either spelling (case-insensitive); a record left with no identity at all
is not sent. Anonymous users (none of these identities but the MPID) are sent only with Send Anonymous
Users, identified by their MPID. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator

from fermion.integrations.spec import (
    AwsCredentials,
    DeliveryOptions,
    FirehoseRecord,
    Integration,
    IntegrationKind,
    MapSettings,
    OutboundRequest,
    OutgoingBatch,
    Secret,
    SettingsModel,
)
from fermion.model.audiences import ChangeAction, MembershipChange

__all__ = [
    "IDENTITY_KEYS",
    "INTEGRATION",
    "FirehoseConnectionSettings",
    "FirehoseSettings",
    "change_records",
    "map_changes",
]

# Canonical identity type -> the UserIdentities key (see the module docstring), in output order.
IDENTITY_KEYS: dict[str, str] = {
    "customer_id": "CustomerId",
    "email": "Email",
    "other": "Other",
    **{f"other_id_{n}": f"Other{n}" for n in range(2, 11)},
    "facebook": "FacebookId",
    "google": "GoogleId",
    "microsoft": "MicrosoftId",
    "twitter": "TwitterId",
    "yahoo": "YahooId",
    "mpid": "MPID",
    "android_aaid": "GoogleAdvertisingIdentifier",
    "ios_idfa": "AppleAdvertisingIdentifier",
    "ios_idfv": "AppleVendorIdentifier",
    "android_uuid": "AndroidId",
    "fire_aid": "FireAdvertisingIdentifier",
    "microsoft_aid": "MicrosoftAdvertisingIdentifier",
    "roku_aid": "RokuAdvertisingIdentifier",
    "roku_publisher_id": "RokuPublisherIdentifier",
}
_BY_NAME: dict[str, str] = {
    **{k.lower(): k for k in IDENTITY_KEYS},
    **{v.lower(): k for k, v in IDENTITY_KEYS.items()},
    "idfa": "ios_idfa",
    "idfv": "ios_idfv",
    "gaid": "android_aaid",
}
# The per-identity forward switches of the connection settings.
_TOGGLES = {
    "email": "forward_email_addresses",
    "customer_id": "forward_customer_ids",
    "ios_idfa": "forward_idfas",
    "android_aaid": "forward_google_advertising_ids",
}


class FirehoseSettings(SettingsModel):
    """Configuration settings (per output)."""

    access_key_id: str = Field(min_length=1, max_length=128, description="IAM user's Access Key ID.")
    secret_access_key: Secret = Field(description="IAM user's Secret Access Key.")
    send_remove_on_identity_change: bool = Field(
        default=True,
        description="On an identity change, send IsMember=false with the old identities, then "
        "IsMember=true with the new ones; off: only the IsMember=true message.",
    )
    bulk_window_s: float = Field(
        default=0,
        ge=0,
        le=3600,
        description="Changes wait up to this long to be sent together (0: at once); a full batch goes "
        "at once.",
    )
    max_batch_size: int = Field(
        default=100, ge=1, le=500, description="At most this many changes are mapped and sent together."
    )
    endpoint_url: str | None = Field(
        default=None,
        max_length=500,
        description="Custom Firehose endpoint (e.g. LocalStack or a local test server). Blank: AWS.",
    )

    @field_validator("secret_access_key")
    @classmethod
    def _secret_given(cls, value: Secret) -> Secret:
        if not value:
            raise ValueError("must not be empty")
        return value


class FirehoseConnectionSettings(SettingsModel):
    """Connection settings, as in the reference page (names in snake case)."""

    delivery_stream_name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-zA-Z0-9_.-]+$",
        description="Your Kinesis Firehose Delivery Stream name.",
    )
    aws_region: str = Field(
        default="us-east-1", min_length=1, max_length=64, description="AWS Region Endpoint of the stream."
    )
    send_anonymous_users: bool = Field(
        default=True, description="Send users identified only by their mParticle ID."
    )
    forward_email_addresses: bool = Field(default=True, description="Send the user's email address.")
    forward_customer_ids: bool = Field(default=True, description="Send the user's Customer ID.")
    forward_idfas: bool = Field(default=True, description="Send the user's IDFA.")
    forward_google_advertising_ids: bool = Field(
        default=True, description="Send the user's Google Advertising ID."
    )
    identities_to_exclude: list[str] = Field(
        default_factory=list,
        description="User and device identities never sent, e.g. ['Other2', 'ios_idfv', 'MPID'].",
    )

    @field_validator("identities_to_exclude")
    @classmethod
    def _known_identities(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n.strip().lower() not in _BY_NAME]
        if unknown:
            known = ", ".join(IDENTITY_KEYS.values())
            raise ValueError(f"unknown identities {unknown} (known: {known})")
        return names

    def sent_types(self) -> frozenset[str]:
        """The canonical identity types this connection forwards."""
        excluded = {_BY_NAME[n.strip().lower()] for n in self.identities_to_exclude}
        excluded |= {t for t, setting in _TOGGLES.items() if not getattr(self, setting)}
        return frozenset(IDENTITY_KEYS) - excluded


def is_anonymous(identities: dict[str, str]) -> bool:
    """Known only by the MPID: none of the page's other identities (checked before any exclusion)."""
    return not any(value and t in IDENTITY_KEYS and t != "mpid" for t, value in identities.items())


def user_identities(identities: dict[str, str], mpid: int, sent: frozenset[str]) -> dict[str, str]:
    """The UserIdentities object: the identities this connection forwards, in IDENTITY_KEYS order."""
    values = {**identities, "mpid": identities.get("mpid") or (str(mpid) if mpid else "")}
    return {key: values[t] for t, key in IDENTITY_KEYS.items() if t in sent and values.get(t)}


def _data(change: MembershipChange, **fields: Any) -> bytes:
    body = {
        "MembershipChangedTimestamp": str(change.changed_ms // 1000),
        "AudienceId": change.audience_id,
        "AudienceName": change.audience_name,
        **fields,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def change_records(
    change: MembershipChange, output: FirehoseSettings, conn: FirehoseConnectionSettings
) -> list[bytes]:
    """The Data of each record one change sends, in order (none for a skipped anonymous user)."""
    if change.action is ChangeAction.DELETE:
        return [_data(change, IsDeleted=True)]
    sent = conn.sent_types()

    def member(identities: dict[str, str], is_member: bool) -> list[bytes]:
        if is_anonymous(identities) and not conn.send_anonymous_users:
            return []
        shown = user_identities(identities, change.mpid, sent)
        # Nothing left to identify the user by (every identity excluded): nothing to send.
        return [_data(change, IsMember=is_member, UserIdentities=shown)] if shown else []

    if change.action is ChangeAction.IDENTITY_CHANGE:
        removal = member(change.previous_identities, False) if output.send_remove_on_identity_change else []
        return [*removal, *member(change.identities, True)]
    return member(change.identities, change.action is ChangeAction.ADD)


def map_changes(
    batches: Sequence[OutgoingBatch],
    settings: MapSettings[FirehoseSettings, FirehoseConnectionSettings],
) -> list[OutboundRequest]:
    out, conn = settings.output, settings.connection
    credentials = AwsCredentials(
        access_key_id=out.access_key_id, secret_access_key=out.secret_access_key.reveal()
    )
    requests: list[OutboundRequest] = []
    for batch in batches:
        for n, data in enumerate(change_records(batch.as_change(), out, conn)):
            requests.append(
                FirehoseRecord(
                    stream=conn.delivery_stream_name,
                    data=data,
                    region=conn.aws_region,
                    credentials=credentials,
                    dedupe_key=f"{batch.batch_id}:{n}",
                    batch_ids=(batch.batch_id,),
                    endpoint_url=out.endpoint_url or None,
                )
            )
    return requests


# Requests go one at a time so a user's changes arrive in order (a removal before its re-add).
_OPTIONS = DeliveryOptions(max_concurrency=1, timeout_s=10.0, batch_window_ms=0, max_batch_size=100)


def _output_options(output: FirehoseSettings) -> DeliveryOptions:
    return DeliveryOptions(
        max_concurrency=_OPTIONS.max_concurrency,
        timeout_s=_OPTIONS.timeout_s,
        batch_window_ms=int(output.bulk_window_s * 1000),
        max_batch_size=output.max_batch_size,
    )


INTEGRATION: Integration[FirehoseSettings, FirehoseConnectionSettings] = Integration(
    id="amazon_kinesis_firehose",
    name="Amazon Kinesis Firehose",
    kind=IntegrationKind.AUDIENCE,
    settings=FirehoseSettings,
    connection_settings=FirehoseConnectionSettings,
    map=map_changes,
    event_types=frozenset(),
    options=_OPTIONS,
    output_options=_output_options,
    description="Audience membership changes as JSON records in a Kinesis Firehose delivery stream.",
)
