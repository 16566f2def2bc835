"""The NATS inbound log's dead letters: the `<stream>_DLQ` stream, read and replayed message by message.

A dead letter is the record as it was published, on subject `<stream>.dlq.<workspace id>` (plain
`<stream>.dlq`: undecodable, or moved by an older version), with headers saying why it was moved
(Fermion-Reason), after how many deliveries (Fermion-Attempts) and when (Fermion-Dead-Ms); its id is its
DLQ stream sequence. JetStream filters by subject, so a workspace's are counted and read without the
others'.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import msgspec
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from fermion.model.records import InboundRecord
from fermion.ports.inbound import DeadLetterSummary, InboundDeadLetter

log = logging.getLogger(__name__)

_decode = msgspec.msgpack.Decoder(InboundRecord).decode
_encode = msgspec.msgpack.Encoder().encode
MAX_SCAN = 100_000  # messages read per listing at most


def subject_of(base: str, workspace_id: int | None) -> str:
    """The subject filter of one workspace's dead letters, or of all."""
    return ">" if workspace_id is None else f"{base}.{workspace_id}"


def _int_header(msg: RawStreamMsg, name: str) -> int:
    try:
        return int((msg.headers or {}).get(name, "0"))
    except ValueError:
        return 0


async def _scan(js: JetStreamContext, stream: str, subject: str) -> AsyncIterator[InboundDeadLetter]:
    """Every readable dead letter on `subject`, oldest first (undecodable ones are logged and left out)."""
    seq = 1
    for _ in range(MAX_SCAN):
        try:
            msg = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return
        if msg.seq is None:
            return
        seq = msg.seq + 1
        try:
            record = _decode(msg.data or b"")
        except msgspec.DecodeError:
            log.warning("dead letter %s in %s does not decode; left out", msg.seq, stream)
            continue
        yield InboundDeadLetter(
            id=msg.seq,
            record=record,
            reason=(msg.headers or {}).get("Fermion-Reason", ""),
            attempts=_int_header(msg, "Fermion-Attempts"),
            dead_ms=_int_header(msg, "Fermion-Dead-Ms"),
        )


async def dead_letters(
    js: JetStreamContext, stream: str, base: str, workspace_id: int | None, limit: int
) -> list[InboundDeadLetter]:
    found: list[InboundDeadLetter] = []
    if limit <= 0:
        return found
    async for letter in _scan(js, stream, subject_of(base, workspace_id)):
        found.append(letter)
        if len(found) >= limit:
            break
    return found


async def summary(
    js: JetStreamContext, stream: str, base: str, workspace_id: int | None
) -> DeadLetterSummary:
    """Counted by JetStream per subject; the newest one read for its time and reason."""
    subject = subject_of(base, workspace_id)
    info = await js.stream_info(stream, subjects_filter=subject)
    count = sum((info.state.subjects or {}).values())
    if count == 0:
        return DeadLetterSummary(count=0)
    try:
        last = await js.get_msg(stream, subject=subject)  # the last message on the subject(s)
    except NotFoundError:  # replayed meanwhile
        return DeadLetterSummary(count=count)
    return DeadLetterSummary(
        count=count,
        last_seen_ms=_int_header(last, "Fermion-Dead-Ms") or None,
        last_reason=(last.headers or {}).get("Fermion-Reason"),
    )


async def replay(
    js: JetStreamContext,
    stream: str,
    base: str,
    inbound_subject: str,
    workspace_id: int | None,
    ids: Sequence[int] | None,
) -> int:
    """Publish the chosen dead letters to the inbound subject again, then delete them from the DLQ. A
    crash in between leaves a batch in both: replaying it again is harmless (processing dedupes)."""
    wanted = None if ids is None else set(ids)
    chosen = [
        letter
        for letter in await dead_letters(js, stream, base, workspace_id, MAX_SCAN)
        if wanted is None or letter.id in wanted
    ]
    for letter in chosen:
        # Its own message id: the original's may still be inside the stream's duplicate window.
        msg_id = f"{letter.record.batch_id}-replay-{letter.id}"
        await js.publish(inbound_subject, _encode(letter.record), headers={"Nats-Msg-Id": msg_id})
        await js.delete_msg(stream, letter.id)
    return len(chosen)
