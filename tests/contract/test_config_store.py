"""ConfigStore contract: tenancy and inputs, identical on every adapter."""

from __future__ import annotations

import time

import pytest

from fermion.adapters.sql import SqlConfigStore
from fermion.model.tenancy import Input, InputKind, Workspace
from fermion.ports import ConfigStore, NewInput


def _tenancy(store: ConfigStore, name: str = "acme") -> Workspace:
    org = store.create_organization(f"{name} org")
    account = store.create_account(org.id, f"{name} account")
    return store.create_workspace(account.id, f"{name} workspace")


def _new_input(workspace_id: int, key: str, kind: InputKind = InputKind.PLATFORM) -> NewInput:
    return NewInput(
        workspace_id=workspace_id,
        kind=kind,
        platform="ios" if kind is InputKind.PLATFORM else "braze",
        name=f"input {key}",
        key=key,
        secret_hash=f"hash-of-{key}",
    )


def test_store_satisfies_the_port(config_store: SqlConfigStore) -> None:
    store: ConfigStore = config_store
    assert store is config_store


def test_organization_account_workspace(config_store: SqlConfigStore) -> None:
    before = int(time.time() * 1000)
    org = config_store.create_organization("Acme")
    account = config_store.create_account(org.id, "Acme EU")
    ws = config_store.create_workspace(account.id, "Production app")
    after = int(time.time() * 1000)

    assert org.name == "Acme" and before <= org.created_ms <= after
    assert account.org_id == org.id and account.name == "Acme EU" and before <= account.created_ms <= after
    assert ws.account_id == account.id and ws.org_id == org.id and ws.name == "Production app"
    assert ws.rate_limit_per_s == 0 and before <= ws.created_ms <= after
    assert config_store.get_workspace(ws.id) == ws


def test_ids_are_distinct(config_store: SqlConfigStore) -> None:
    a, b = _tenancy(config_store, "a"), _tenancy(config_store, "b")
    assert a.id != b.id and a.account_id != b.account_id and a.org_id != b.org_id


def test_unknown_parents_raise_lookup_error(config_store: SqlConfigStore) -> None:
    with pytest.raises(LookupError):
        config_store.create_account(987654, "orphan")
    with pytest.raises(LookupError):
        config_store.create_workspace(987654, "orphan")
    with pytest.raises(LookupError):
        config_store.create_input(_new_input(987654, "orphan-key"))
    assert config_store.list_inputs() == []


def test_get_workspace_missing(config_store: SqlConfigStore) -> None:
    assert config_store.get_workspace(424242) is None


def test_list_workspaces(config_store: SqlConfigStore) -> None:
    assert config_store.list_workspaces() == []
    org = config_store.create_organization("Acme")
    account = config_store.create_account(org.id, "main")
    first = config_store.create_workspace(account.id, "one")
    second = config_store.create_workspace(account.id, "two")
    other = _tenancy(config_store, "other")
    assert config_store.list_workspaces() == [first, second, other]


def test_set_workspace_rate_limit(config_store: SqlConfigStore) -> None:
    ws = _tenancy(config_store)
    other = _tenancy(config_store, "other")
    config_store.set_workspace_rate_limit(ws.id, 250)
    got = config_store.get_workspace(ws.id)
    assert got is not None and got.rate_limit_per_s == 250
    assert config_store.get_workspace(other.id) == other
    config_store.set_workspace_rate_limit(ws.id, 0)
    got = config_store.get_workspace(ws.id)
    assert got is not None and got.rate_limit_per_s == 0
    assert [w.rate_limit_per_s for w in config_store.list_workspaces()] == [0, 0]


def test_set_rate_limit_of_unknown_workspace(config_store: SqlConfigStore) -> None:
    with pytest.raises(LookupError):
        config_store.set_workspace_rate_limit(424242, 10)


def test_create_and_get_input(config_store: SqlConfigStore) -> None:
    ws = _tenancy(config_store)
    before = int(time.time() * 1000)
    created = config_store.create_input(_new_input(ws.id, "us1-abc"))
    after = int(time.time() * 1000)
    assert created == Input(
        id=created.id,
        workspace_id=ws.id,
        kind=InputKind.PLATFORM,
        platform="ios",
        name="input us1-abc",
        key="us1-abc",
        secret_hash="hash-of-us1-abc",
        created_ms=created.created_ms,
        active=True,
    )
    assert before <= created.created_ms <= after
    assert config_store.get_input(created.id) == created
    assert config_store.get_input_by_key("us1-abc") == created
    fetched = config_store.get_input_by_key("us1-abc")
    assert fetched is not None and fetched.kind is InputKind.PLATFORM


def test_feed_input_kind_round_trips(config_store: SqlConfigStore) -> None:
    ws = _tenancy(config_store)
    feed = config_store.create_input(_new_input(ws.id, "feed-key", InputKind.FEED))
    got = config_store.get_input(feed.id)
    assert got == feed and got.kind is InputKind.FEED and got.platform == "braze"


def test_missing_inputs(config_store: SqlConfigStore) -> None:
    assert config_store.get_input(31337) is None
    assert config_store.get_input_by_key("nope") is None


def test_input_keys_are_unique(config_store: SqlConfigStore) -> None:
    ws, other = _tenancy(config_store), _tenancy(config_store, "other")
    config_store.create_input(_new_input(ws.id, "dup"))
    with pytest.raises(ValueError):
        config_store.create_input(_new_input(other.id, "dup"))
    assert len(config_store.list_inputs()) == 1


def test_input_key_lookup_is_exact(config_store: SqlConfigStore) -> None:
    ws = _tenancy(config_store)
    config_store.create_input(_new_input(ws.id, "Key_1"))
    assert config_store.get_input_by_key("key_1") is None
    assert config_store.get_input_by_key("Key%") is None


def test_list_inputs(config_store: SqlConfigStore) -> None:
    ws, other = _tenancy(config_store), _tenancy(config_store, "other")
    a = config_store.create_input(_new_input(ws.id, "a"))
    b = config_store.create_input(_new_input(other.id, "b"))
    c = config_store.create_input(_new_input(ws.id, "c", InputKind.FEED))
    assert config_store.list_inputs() == [a, b, c]
    assert config_store.list_inputs(ws.id) == [a, c]
    assert config_store.list_inputs(other.id) == [b]
    assert config_store.list_inputs(424242) == []


def test_meta_key_values(config_store: SqlConfigStore) -> None:
    assert config_store.get_meta("admin_token:x") is None
    config_store.set_meta("admin_token:x", "1")
    config_store.set_meta("other", "2")
    assert config_store.get_meta("admin_token:x") == "1"
    config_store.set_meta("admin_token:x", "3")
    assert config_store.get_meta("admin_token:x") == "3"
    config_store.delete_meta("admin_token:x")
    assert config_store.get_meta("admin_token:x") is None
    assert config_store.get_meta("other") == "2"
