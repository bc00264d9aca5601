"""Decoding and encoding beside the model: :class:`Prefetch` prepares the next items in a thread while the
caller colorizes the current ones, and :class:`Writers` encode and write results in threads (PIL decodes and
encodes, and PyTorch computes, without holding the GIL). Both are bounded, so memory stays a few batches;
with a depth or count of 0 everything runs in the caller's thread, in turn.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

_END = object()


class Prefetch:
    """Iterate ``items`` ``depth`` ahead in a background thread; what the iteration raises is raised here."""

    def __init__(self, items: Iterable, depth: int):
        self._items = iter(items)
        self.depth = depth
        self._finished = False
        if depth:
            self._queue: queue.Queue = queue.Queue(depth)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._feed, name="colorizers-prefetch", daemon=True)
            self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if not self.depth:
            return next(self._items)
        if self._finished:
            raise StopIteration
        ok, value = self._queue.get()
        if ok:
            return value
        self._finished = True
        if value is None:
            raise StopIteration
        raise value

    def _feed(self) -> None:
        try:
            for item in self._items:
                if not self._put((True, item)):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which decides
            self._put((False, error))
            return
        self._put((False, None))

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        if self.depth:
            self._stop.set()
            self._thread.join()


class Writers:
    """``count`` threads calling ``function(item)`` for each submitted item (``count`` 0: at once, here).

    ``function`` handles its own errors; anything else it raises is re-raised by :meth:`close`."""

    def __init__(self, count: int, function: Callable):
        self.count, self.function = count, function
        self._queue: queue.Queue = queue.Queue(max(2, 2 * count))
        self._discard = threading.Event()
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"colorizers-writer-{index}", daemon=True)
            for index in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, item) -> None:
        if not self.count:
            self.function(item)
        else:
            self._queue.put(item)  # blocks while the writers are behind: results never pile up in memory

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._discard.is_set() or self._error is not None:
                continue
            try:
                self.function(item)
            except BaseException as error:  # noqa: BLE001 - re-raised by close() in the caller's thread
                self._error = error

    def close(self, *, discard: bool = False) -> None:
        """Wait for the writers: after the items queued (or after the one being written, with ``discard``)."""
        if discard:
            self._discard.set()
        for _ in self._threads:
            self._queue.put(_END)
        for thread in self._threads:
            thread.join()
        self._threads = []
        error, self._error = self._error, None
        if error is not None:
            raise error
