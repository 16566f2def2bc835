"""Stored CA records: a definition's draft and active versions plus its calculation status."""

from __future__ import annotations

from typing import Any

import msgspec


class CaRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    workspace_id: int
    name: str
    description: str
    draft: dict[str, Any] | None  # the draft definition's JSON, as accepted
    active: dict[str, Any] | None  # the active definition's JSON (None before activation)
    created_ms: int
    updated_ms: int
    activated_ms: int | None = None
    activated_by: str | None = None
    generation: int = 0  # bumped on each activation: states of older definitions are discarded
    status: str = "draft"  # draft | calculating | completed
    boundary_seq: int = 0  # the backfill covers stored batches with seq <= this; live ones come after
    progress_seq: int = 0  # the backfill has applied batches up to this seq
    total_batches: int = 0
    done_batches: int = 0
    calc_started_ms: int | None = None
    calc_completed_ms: int | None = None


class StateRow(msgspec.Struct, frozen=True, kw_only=True):
    """One user's stored CA states: the backfill's part, the live part and the seeds, each a document
    of every CA (see fermion.calculated.state.UserStates) written by its own writer."""

    mpid: int
    base: bytes | None = None
    live: bytes | None = None
    seeds: bytes | None = None


class StateWrite(msgspec.Struct, frozen=True, kw_only=True):
    """One user's new document for one part (UserStates JSON)."""

    mpid: int
    doc: bytes
