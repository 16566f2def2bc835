"""OAuth client credentials: token issue, expiry, forgery, scopes, revocation; bearer auth over both
token kinds (admin tokens deletable)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from fermion.model.tenancy import Workspace
from fermion.services.admin_auth import AdminAuth
from fermion.services.bearer_auth import BearerAuth
from fermion.services.credential_directory import CredentialDirectory
from fermion.services.oauth import SIGNING_KEY, TOKEN_TTL_S, OAuthService
from fermion.services.tenancy import InvalidRequest


class FakeConfig:
    """Just the ConfigStore parts OAuth and bearer auth use."""

    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        self.workspaces = {
            1: Workspace(id=1, account_id=1, org_id=1, name="a", created_ms=0),
            2: Workspace(id=2, account_id=1, org_id=1, name="b", created_ms=0),
            3: Workspace(id=3, account_id=2, org_id=2, name="other org", created_ms=0),
        }

    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.meta[key] = value

    def delete_meta(self, key: str) -> None:
        self.meta.pop(key, None)

    def list_meta(self, prefix: str) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in self.meta.items() if k.startswith(prefix))

    def get_workspace(self, workspace_id: int) -> Workspace | None:
        return self.workspaces.get(workspace_id)


def directory(config: FakeConfig, ttl_s: float = 0.0) -> CredentialDirectory:
    return CredentialDirectory(config, cipher=None, ttl_s=ttl_s)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> tuple[FakeConfig, Clock, OAuthService]:
    config, clock = FakeConfig(), Clock()
    oauth = OAuthService(config, directory(config), clock)  # type: ignore[arg-type]
    oauth.ensure_signing_key()
    return config, clock, oauth


def test_issue_and_verify(setup: tuple[FakeConfig, Clock, OAuthService]) -> None:
    _, clock, oauth = setup
    created = oauth.create_client(1, [2])
    issued = oauth.issue_token(created.client.client_id, created.secret, "https://api.mparticle.com")
    assert issued is not None and issued.expires_in == TOKEN_TTL_S
    scope = oauth.verify(issued.access_token)
    assert scope is not None and scope.org_id == 1 and scope.workspace_ids == frozenset({2})
    clock.now += TOKEN_TTL_S - 1
    assert oauth.verify(issued.access_token) is not None
    clock.now += 1
    assert oauth.verify(issued.access_token) is None  # expired


def test_wrong_credentials_get_no_token(setup: tuple[FakeConfig, Clock, OAuthService]) -> None:
    config, _, oauth = setup
    created = oauth.create_client(1)
    assert oauth.issue_token(created.client.client_id, "wrong") is None
    assert oauth.issue_token("fc_unknown", created.secret) is None
    assert oauth.issue_token("admin_token:x", created.secret) is None
    assert created.secret not in str(config.meta)  # stored hashed


def test_forged_and_malformed_tokens(setup: tuple[FakeConfig, Clock, OAuthService]) -> None:
    _, clock, oauth = setup
    claims: dict[str, Any] = {"iss": "fermion", "sub": "fc_x", "org": 1, "ws": None, "iat": int(clock.now),
                              "exp": int(clock.now) + 60}  # fmt: skip
    assert oauth.verify(jwt.encode(claims, "not the key" * 8, algorithm="HS256")) is None
    assert oauth.verify(jwt.encode(claims, "k" * 64, algorithm="HS512")) is None
    assert oauth.verify("a.b.c") is None
    assert oauth.verify(jwt.encode({**claims, "org": "1"}, oauth._signing_key(), algorithm="HS256")) is None


def test_a_key_replaced_by_another_process_is_picked_up(
    setup: tuple[FakeConfig, Clock, OAuthService],
) -> None:
    config, _, oauth = setup
    other = OAuthService(config, directory(config), oauth._clock)  # type: ignore[arg-type]
    created = oauth.create_client(1)
    assert oauth.verify(oauth.issue_token(created.client.client_id, created.secret).access_token)  # type: ignore[union-attr]
    config.meta[SIGNING_KEY] = "rotated" * 8
    token = other.issue_token(created.client.client_id, created.secret)
    assert token is not None and oauth.verify(token.access_token) is not None


def test_clients_are_scoped_to_their_organization(setup: tuple[FakeConfig, Clock, OAuthService]) -> None:
    _, _, oauth = setup
    with pytest.raises(InvalidRequest):
        oauth.create_client(1, [3])
    with pytest.raises(InvalidRequest):
        oauth.create_client(1, [99])


def test_bearer_auth_takes_both_token_kinds(setup: tuple[FakeConfig, Clock, OAuthService]) -> None:
    config, _, oauth = setup
    admin = AdminAuth(config, directory(config))  # type: ignore[arg-type]
    auth = BearerAuth(admin, oauth, config)  # type: ignore[arg-type]
    admin_token = admin.issue_token(1)
    created = oauth.create_client(1, [2])
    token = oauth.issue_token(created.client.client_id, created.secret)
    assert token is not None
    assert auth.workspace_for(admin_token, 1) is not None and auth.workspace_for(admin_token, 3) is None
    assert auth.workspace_for(token.access_token, 2) is not None
    assert auth.workspace_for(token.access_token, 1) is None  # another workspace of the same org
    assert auth.org_of(token.access_token) == 1 and auth.org_of("nope") is None


def test_revoked_clients_and_deleted_tokens_stop_working(
    setup: tuple[FakeConfig, Clock, OAuthService],
) -> None:
    config, _, oauth = setup
    admin = AdminAuth(config, directory(config))  # type: ignore[arg-type]
    admin_token = admin.issue_token(1)
    created = oauth.create_client(1)
    token = oauth.issue_token(created.client.client_id, created.secret)
    assert token is not None and oauth.verify(token.access_token) is not None
    assert [c.client_id for c in oauth.list_clients(1)] == [
        created.client.client_id
    ] and not oauth.list_clients(2)
    assert not oauth.revoke_client(created.client.client_id, org_id=2)  # another organization's
    assert oauth.revoke_client(created.client.client_id)
    assert oauth.verify(token.access_token) is None
    assert oauth.issue_token(created.client.client_id, created.secret) is None
    assert [t.token_id for t in admin.list_tokens(1)] == [admin.token_id(admin_token)]
    assert admin.revoke_token(admin.token_id(admin_token)) and admin.org_of(admin_token) is None
    assert not admin.revoke_token(admin.token_id(admin_token))


def test_directory_entries_expire() -> None:
    config, now = FakeConfig(), [0.0]
    found = CredentialDirectory(config, cipher=None, ttl_s=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    admin = AdminAuth(config, directory(config))  # type: ignore[arg-type]
    token = admin.issue_token(1)
    assert found.admin_token_org(token) == 1
    admin.revoke_token(token)
    now[0] = 4.9
    assert found.admin_token_org(token) == 1  # still the entry read at 0
    now[0] = 5.0
    assert found.admin_token_org(token) is None
