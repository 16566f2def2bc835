"""Storage ports: the small interfaces the services use, implemented by every adapter.

One module per area (core.py: inbound log, config, events, archive; later identity, profiles,
delivery, ...), all re-exported here. Each port has one contract suite (tests/contract) that runs
against every adapter.
"""

from fermion.model.records import (
    BatchFilter,
    BatchRow,
    EventRow,
    InboundRecord,
    NewInput,
    ProcessedBatch,
    StoredEvent,
)
from fermion.ports.core import Archive, ConfigStore, EventStore, InboundLog

__all__ = [
    "Archive",
    "BatchFilter",
    "BatchRow",
    "ConfigStore",
    "EventRow",
    "EventStore",
    "InboundLog",
    "InboundRecord",
    "NewInput",
    "ProcessedBatch",
    "StoredEvent",
]
