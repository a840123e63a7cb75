"""Reading ahead: the next blocks of a file are read, parsed and validated in a thread while the
current one is written. Arrow and DuckDB release the GIL in their work, so on two cores the
reading and the writing overlap; at most ``depth`` blocks wait, so memory stays bounded."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """The items in order, produced by a thread up to ``depth`` ahead of the consumer. An error
    of the producer is raised to the consumer; a consumer that stops early stops the producer."""
    waiting: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                waiting.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, exc))

    thread = threading.Thread(target=produce, name="vkurse-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = waiting.get()
            if not ok:
                assert isinstance(item, BaseException)
                raise item
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
