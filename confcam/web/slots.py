"""An asyncio slot that keeps only the newest item: real-time stages hand over the present, never a backlog."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class SlotClosed(Exception):
    """The slot was closed; no more items will come."""


class LatestSlot(Generic[T]):
    """put() replaces an unread item (counted in `dropped`); get() waits for the next one.

    Lives on one event loop: put() and get() must be called from that loop's thread.
    """

    def __init__(self) -> None:
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._changed = asyncio.Event()
        self.dropped = 0

    def put(self, item: T) -> None:
        if self._closed:
            return
        if self._full:
            self.dropped += 1
        self._item, self._full = item, True
        self._changed.set()

    async def get(self) -> T:
        while not self._full:
            if self._closed:
                raise SlotClosed
            self._changed.clear()
            await self._changed.wait()
        item, self._item, self._full = self._item, None, False
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._closed = True
        self._item, self._full = None, False
        self._changed.set()
