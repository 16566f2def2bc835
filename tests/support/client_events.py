"""Waiting for the events a client sent, leaving out the ones Fermion adds while processing
(`user_attribute_change` from profiles, `user_identity_change` from IDSync)."""

from __future__ import annotations

import time
from typing import Any

from support.fermion_proc import FermionProcess

FERMION_ADDED = frozenset({"user_attribute_change", "user_identity_change"})


def client_events(fermion: FermionProcess, **params: Any) -> list[dict[str, Any]]:
    return [e for e in fermion.events(**params) if e["event_type"] not in FERMION_ADDED]


def wait_for_client_events(
    fermion: FermionProcess, count: int, timeout_s: float = 30, **params: Any
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    events = client_events(fermion, **params)
    while len(events) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        events = client_events(fermion, **params)
    return events
