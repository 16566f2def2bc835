"""Audience definitions and per-user membership as stored (plain data)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class Kind(StrEnum):
    REAL_TIME = "real_time"  # kept current by processing and time-based re-evaluation
    STANDARD = "standard"  # computed once over the full history; members sent on request


class Status(StrEnum):
    DRAFT = "draft"  # editable, not evaluated
    CALCULATING = "calculating"  # activation over history in progress (a worker job)
    ACTIVE = "active"  # real-time: evaluated by processing; standard: calculated
    INACTIVE = "inactive"  # deactivated: no longer evaluated or sent; activating recalculates it
    DELETED = "deleted"


class Audience(msgspec.Struct, kw_only=True):
    id: int
    workspace_id: int
    account_id: int
    name: str
    external_name: str = ""
    kind: Kind = Kind.REAL_TIME
    status: Status = Status.DRAFT
    draft_criteria: Any = None  # what update (PUT) edits
    criteria: Any = None  # what is evaluated: the draft as of the last activation
    created_ms: int = 0
    updated_ms: int = 0
    # Activation over history: batches with seq <= boundary_seq are the job's, later ones the phase's.
    boundary_seq: int = 0
    progress_seq: int = 0  # the job has scanned up to here
    activated_ms: int = 0  # names this activation's criterion state (fresh counts on re-activation)
    calculated_ms: int = 0  # when the last calculation over history finished
    sent_ms: int = 0  # standard audiences: when members were last sent

    @property
    def display_name(self) -> str:
        return self.external_name or self.name

    @property
    def first_calculation_pending(self) -> bool:
        """Activated, but no calculation over history has finished yet: members and size are unknown."""
        return self.status == Status.CALCULATING and not self.calculated_ms

    @property
    def current(self) -> bool:
        """Whether its memberships are current: active, or recalculating after a finished calculation."""
        return self.status == Status.ACTIVE or (self.status == Status.CALCULATING and self.calculated_ms > 0)


class Membership(msgspec.Struct, kw_only=True):
    """A user's standing in one audience (a row exists once the user has joined)."""

    audience_id: int
    workspace_id: int
    mpid: int
    member: bool = False
    joined_ms: int = 0
    left_ms: int = 0
    identities: dict[str, str] = {}  # as last sent with an add or identity change


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    audience_id: int
    mpid: int
    action: str  # a ChangeAction value
    changed_ms: int


class UserState(msgspec.Struct, kw_only=True):
    """Per-user inputs of audience criteria that no other area keeps: event-criterion counts (criterion
    key -> time bucket -> count) and the newest device facts."""

    events: dict[str, dict[int, int]] = {}
    device: dict[str, str] = {}
    members: list[int] = []  # the audiences the user is a member of (mirrors audience_members)
    # The earliest time an audience's answer for the user may change with time alone (windows
    # expiring, dates ageing): the re-check job re-evaluates the user then.
    next_check_ms: int | None = None
    # The stored row's version (0: none yet). Saving writes version + 1 only over this version, so two
    # workers updating one user at once cannot lose an update: the later save fails and is retried.
    version: int = 0
