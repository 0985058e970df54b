"""Produce the items of an iterable in a background thread, a bounded number ahead."""
from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def background(items: Iterable[T], depth: int = 2, name: str = "geotrans-background") -> Iterator[T]:
    """Iterate ``items`` in a daemon thread, holding at most ``depth`` finished items.

    Errors raised while producing an item are re-raised here, in order. Closing
    the returned generator (or leaving a ``for`` loop early) stops the thread.
    """
    if depth < 1:
        raise ValueError("depth must be at least 1")
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as error:  # handed to the consumer
            offer(_Failure(error))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator's own cleanup (files, nested threads) runs now, here
                close()
        offer(_DONE)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
