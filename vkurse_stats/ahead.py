"""Working ahead: the next blocks of a file are parsed and validated (the next windows of days of
a rebuild fetched and swept) by worker threads while the current one is written. Arrow, DuckDB and
the compiled engine release the GIL in their work, so on two cores the two overlap; at most
``depth`` results wait, so memory stays bounded."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ahead(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 2, depth: int = 3) -> Generator[R, None, None]:
    """``fn`` of each item, in the items' order, computed by ``workers`` threads up to ``depth``
    items ahead of the consumer. An error of ``fn``, or of reading the items, is raised to the
    consumer after the results before it. A consumer that stops early cancels what was not
    started; close the generator (``contextlib.closing``) so that what was started has ended
    when it goes on, also when it stops by an error."""
    pending: deque[Future[R]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="vkurse-read-ahead")
    source = iter(items)
    failure: Exception | None = None
    try:
        while True:
            try:
                item = next(source)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - raised below, after the results before it
                failure = exc
                break
            pending.append(pool.submit(fn, item))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        if failure is not None:
            raise failure
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
