"""The one newest-item-wins rule set, for threads and for an event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from confcam.slots import AsyncNewestSlot, NewestSlot, SlotClosed


def run_steps(slot: NewestSlot, steps: list[tuple[str, object]]) -> None:
    for step, value in steps:
        if step == "put":
            slot.put(value)
        elif step == "fail":
            slot.fail(RuntimeError(str(value)))
        else:
            getattr(slot, step)()


@pytest.mark.parametrize(
    "steps,taken,dropped",
    [
        ([("put", 1)], [1], 0),
        ([("put", 1), ("put", 2), ("put", 3)], [3], 2),
        ([("put", 1), ("end", None)], [1, None], 0),
        ([("end", None)], [None], 0),
        ([("put", 1), ("close", None), ("put", 2)], [None], 0),
        ([("put", 1), ("fail", "camera unplugged")], [1, RuntimeError], 0),
    ],
)
def test_a_reader_takes_the_newest_item_then_the_end(steps, taken, dropped):
    slot: NewestSlot[int] = NewestSlot()
    run_steps(slot, steps)
    for want in taken:
        if want is RuntimeError:
            with pytest.raises(RuntimeError, match="camera unplugged"):
                slot.take(timeout=0.1)
        else:
            assert slot.take(timeout=0.1) == want
    assert slot.dropped == dropped


def test_an_empty_slot_times_out():
    with pytest.raises(TimeoutError):
        NewestSlot().take(timeout=0.05)


def test_a_put_from_another_thread_wakes_the_reader():
    slot: NewestSlot[str] = NewestSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    assert slot.take(timeout=5.0) == "frame"


def test_a_fast_producer_never_builds_a_backlog():
    slot: NewestSlot[int] = NewestSlot()
    for i in range(1000):
        slot.put(i)
    slot.end()
    assert [slot.take(0.1), slot.take(0.1)] == [999, None]
    assert slot.dropped == 999 and slot.put_count == 1000


@pytest.mark.parametrize(
    "steps,taken",
    [
        ([("put", 1), ("put", 2)], [2]),
        ([("put", 1), ("end", None)], [1, SlotClosed]),
        ([("close", None)], [SlotClosed]),
    ],
)
def test_the_event_loop_slot_follows_the_same_rules(steps, taken):
    async def scenario() -> None:
        slot: AsyncNewestSlot[int] = AsyncNewestSlot()
        run_steps(slot, steps)
        for want in taken:
            if want is SlotClosed:
                with pytest.raises(SlotClosed):
                    await slot.get()
            else:
                assert await slot.get() == want

    asyncio.run(scenario())


def test_the_event_loop_slot_waits_for_a_later_put():
    async def scenario() -> int:
        slot: AsyncNewestSlot[int] = AsyncNewestSlot()
        asyncio.get_running_loop().call_later(0.05, slot.put, 7)
        return await asyncio.wait_for(slot.get(), timeout=5.0)

    assert asyncio.run(scenario()) == 7
