"""An IdentityService over the in-memory store, with predictable MPIDs (1001, 1002, ...)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from fermion.model.tenancy import Workspace
from fermion.services.identity import IdentityService
from support.identity_memory import MemoryIdentityStore

WORKSPACE = 7
ORG = 3


@dataclass
class FakeConfig:
    def get_workspace(self, workspace_id: int) -> Workspace | None:
        if workspace_id not in (WORKSPACE, WORKSPACE + 1):
            return None
        return Workspace(id=workspace_id, account_id=1, org_id=ORG, name="ws", created_ms=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1  # every call a second later: creation order is unambiguous
        return self.now


@pytest.fixture
def store() -> MemoryIdentityStore:
    return MemoryIdentityStore()


@pytest.fixture
def service(store: MemoryIdentityStore) -> IdentityService:
    counter = itertools.count(1001)
    return IdentityService(
        store,
        FakeConfig(),  # type: ignore[arg-type]
        cache_ttl_s=0,
        clock=Clock(),
        new_mpid=lambda: next(counter),
    )
