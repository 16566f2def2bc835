"""Completions: lanes' completions that arrive during a write go together in the next one; every caller
returns once its own items are written, or with the write's error."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from fermion.delivery.completions import Completions
from fermion.model.delivery import ClaimedItem, CountKey


def _item(item_id: int, token: int = 1) -> ClaimedItem:
    return ClaimedItem(
        id=item_id,
        connection_id=1,
        workspace_id=1,
        batch_id=item_id,
        input_id=1,
        environment="production",
        mpid=1,
        received_ms=0,
        enqueued_ms=0,
        attempts=1,
        payload=b"{}",
        summary=[],
        token=token,
    )


def _key(name: str) -> CountKey:
    return CountKey(
        workspace_id=1,
        connection_id=1,
        output_id=1,
        hour_ms=0,
        direction="out",
        message_type="custom_event",
        event_name=name,
    )


class _Queue:
    """complete() only; the first call blocks until released, so later ones pile up."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[int], int, dict[CountKey, int]]] = []
        self.release = threading.Event()
        self.fail = fail

    def complete(self, items: Sequence[ClaimedItem], now_ms: int, counts: Mapping[CountKey, int]) -> int:
        if not self.calls:
            self.release.wait(5)
        self.calls.append(([i.id for i in items], now_ms, dict(counts)))
        if self.fail:
            raise RuntimeError("database is locked")
        return len(items)


def test_completions_during_a_write_go_together_in_the_next() -> None:
    asyncio.run(_completions_during_a_write_go_together_in_the_next())


async def _completions_during_a_write_go_together_in_the_next() -> None:
    queue = _Queue()
    completions = Completions(queue)  # type: ignore[arg-type]
    first = asyncio.create_task(completions.complete([_item(1)], 100, {_key("a"): 1}))
    await asyncio.sleep(0.01)  # the first write is under way (blocked)
    others = [
        asyncio.create_task(completions.complete([_item(2, 2), _item(3, 2)], 105, {_key("a"): 2})),
        asyncio.create_task(completions.complete([_item(4, 3)], 103, {_key("b"): 1})),
    ]
    await asyncio.sleep(0.01)
    assert not first.done() and not any(t.done() for t in others)
    queue.release.set()
    await asyncio.wait_for(asyncio.gather(first, *others), 5)
    assert queue.calls == [
        ([1], 100, {_key("a"): 1}),
        ([2, 3, 4], 105, {_key("a"): 2, _key("b"): 1}),
    ]
    # Idle again: the next completion is written on its own, at once.
    await asyncio.wait_for(completions.complete([_item(5)], 200, {}), 5)
    assert queue.calls[-1] == ([5], 200, {})


def test_every_caller_of_a_failed_write_sees_its_error() -> None:
    asyncio.run(_every_caller_of_a_failed_write_sees_its_error())


async def _every_caller_of_a_failed_write_sees_its_error() -> None:
    queue = _Queue(fail=True)
    completions = Completions(queue)  # type: ignore[arg-type]
    queue.release.set()
    results: Any = await asyncio.gather(
        completions.complete([_item(1)], 100, {}),
        completions.complete([_item(2)], 100, {}),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    queue.fail = False
    await asyncio.wait_for(completions.complete([_item(3)], 100, {}), 5)  # writes again afterwards
    assert queue.calls[-1][0] == [3]


def test_a_cancelled_writer_leaves_no_caller_waiting() -> None:
    asyncio.run(_a_cancelled_writer_leaves_no_caller_waiting())


async def _a_cancelled_writer_leaves_no_caller_waiting() -> None:
    queue = _Queue()
    completions = Completions(queue)  # type: ignore[arg-type]
    waiter = asyncio.create_task(completions.complete([_item(1)], 100, {}))
    await asyncio.sleep(0.01)
    later = asyncio.create_task(completions.complete([_item(2)], 100, {}))
    await asyncio.sleep(0)
    assert completions._task is not None
    completions._task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiter, 5)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(later, 5)
    queue.release.set()
