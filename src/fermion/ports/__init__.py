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
from fermion.ports.audiences import AudienceStore as AudienceStore
from fermion.ports.audiences import MembershipSink as MembershipSink
from fermion.ports.calculated import CalculatedValues as CalculatedValues
from fermion.ports.catalog import CatalogStore, DataPointRow, FilterStore
from fermion.ports.core import Archive, ConfigStore, EventStore, InboundLog
from fermion.ports.delivery import (
    DeliveryLog,
    DeliveryQueue,
    OutputStore,
    SecretCipher,
    SendResult,
    Transport,
)
from fermion.ports.identity import EventReattribution, IdentityConflict, IdentityStore
from fermion.ports.inbound import (
    DeadLetterSummary,
    InboundDeadLetter,
    InboundDeadLetters,
    ProcessingFailure,
)
from fermion.ports.profiles import (
    EventTimeline,
    IdentityLookup,
    NoIdentities,
    ProfileStore,
    TimelineQuery,
)

__all__ = [
    "Archive",
    "BatchFilter",
    "BatchRow",
    "CatalogStore",
    "ConfigStore",
    "DataPointRow",
    "DeadLetterSummary",
    "DeliveryLog",
    "DeliveryQueue",
    "EventReattribution",
    "EventRow",
    "EventStore",
    "EventTimeline",
    "FilterStore",
    "IdentityConflict",
    "IdentityLookup",
    "IdentityStore",
    "InboundDeadLetter",
    "InboundDeadLetters",
    "InboundLog",
    "InboundRecord",
    "NewInput",
    "NoIdentities",
    "OutputStore",
    "ProcessedBatch",
    "ProcessingFailure",
    "ProfileStore",
    "SecretCipher",
    "SendResult",
    "StoredEvent",
    "TimelineQuery",
    "Transport",
]
