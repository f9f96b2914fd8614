"""Newest-item-wins slots: real-time stages hand over the present, never a backlog.

One rule set for every hand-over in confcam (a live source's capture thread, the WebRTC source, the web
sessions' receive and send paths): put() replaces an unread item and counts it as dropped; after end()
the item still waiting is handed over and then the slot reports the end; after close() nothing more is
handed over; fail() hands an error to the reader. `NewestSlot` blocks a thread; `AsyncNewestSlot` awaits
on one event loop.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class SlotClosed(Exception):
    """The slot was closed or its stream ended; no more items will come."""


class NewestSlot(Generic[T]):
    """Thread-safe: any thread may put(), end(), fail() or close(); one reader take()s."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._ended = False
        self._closed = False
        self._error: BaseException | None = None
        self.dropped = 0
        """Items replaced by a newer one before anybody took them."""
        self.put_count = 0

    def put(self, item: T) -> None:
        with self._condition:
            if self._closed:
                return
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self.put_count += 1
            self._changed()

    def end(self) -> None:
        """The stream is over: the item still waiting is handed over, then the reader hears of the end."""
        with self._condition:
            self._ended = True
            self._changed()

    def fail(self, error: BaseException) -> None:
        """The producer failed: the reader gets `error` raised once the waiting item is taken."""
        with self._condition:
            self._error = error
            self._changed()

    def close(self) -> None:
        """The reader is gone: the waiting item is dropped and every later put() ignored."""
        with self._condition:
            self._closed = True
            self._item, self._full = None, False
            self._changed()

    @property
    def ended(self) -> bool:
        return self._ended

    def take(self, timeout: float) -> T | None:
        """The newest unread item; None once ended or closed; raises the producer's error after fail();
        TimeoutError if nothing happens within `timeout` seconds."""
        with self._condition:
            if not self._condition.wait_for(self._settled, timeout=timeout):
                raise TimeoutError
            try:
                return self._pop()
            except SlotClosed:
                return None

    def _settled(self) -> bool:
        return self._full or self._ended or self._closed or self._error is not None

    def _pop(self) -> T:
        """Under the lock, with _settled() true: the item, the producer's error, or SlotClosed."""
        if self._full and not self._closed:
            item, self._item, self._full = self._item, None, False
            return item  # type: ignore[return-value]
        if self._error is not None:
            raise self._error
        raise SlotClosed

    def _changed(self) -> None:
        self._condition.notify_all()


class AsyncNewestSlot(NewestSlot[T]):
    """The same slot for a reader on an event loop: `await get()`; producers call put() on that loop."""

    def __init__(self) -> None:
        super().__init__()
        self._event = asyncio.Event()

    async def get(self) -> T:
        """The newest unread item; SlotClosed once ended or closed."""
        while True:
            with self._condition:
                if self._settled():
                    return self._pop()
                self._event.clear()
            await self._event.wait()

    def _changed(self) -> None:
        super()._changed()
        self._event.set()
