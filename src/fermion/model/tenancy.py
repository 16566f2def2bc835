"""Tenancy: organization → account → workspace, and the inputs that feed a workspace."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class InputKind(StrEnum):
    PLATFORM = "platform"
    FEED = "feed"


class Platform(StrEnum):
    """Platform inputs of the reference ("Setup > Inputs > Platforms"), plus Custom/server."""

    IOS = "ios"
    ANDROID = "android"
    WEB = "web"
    TVOS = "tvos"
    ROKU = "roku"
    ALEXA = "alexa"
    SMART_TV = "smart_tv"
    FIRE_TV = "fire_tv"
    XBOX = "xbox"
    CUSTOM = "custom"


class Organization(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    created_ms: int


class Account(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    org_id: int
    name: str
    created_ms: int


class Workspace(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    account_id: int
    org_id: int
    name: str
    created_ms: int
    # Batches per second accepted by the Events API for this workspace; 0 means unlimited.
    rate_limit_per_s: int = 0


class Input(msgspec.Struct, frozen=True, kw_only=True):
    """A platform or feed input. The secret itself is shown once at creation; only its hash is kept."""

    id: int
    workspace_id: int
    kind: InputKind
    platform: str  # a Platform value for platform inputs, the partner/feed name for feeds
    name: str
    key: str
    secret_hash: str
    created_ms: int
    active: bool = True
