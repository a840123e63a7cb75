"""Working ahead (vkurse_stats/ahead.py): results in order, an error raised to the consumer after
the results before it, and a consumer that stops early stops the work."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from vkurse_stats.ahead import ahead


def _slow_square(x: int) -> int:
    time.sleep(0.001 * (x % 3))  # workers finish out of order
    return x * x


def test_results_arrive_in_order() -> None:
    assert list(ahead(_slow_square, range(200), depth=3)) == [x * x for x in range(200)]
    assert list(ahead(_slow_square, [])) == []


def test_an_error_reaches_the_consumer_after_the_results_before_it() -> None:
    def parse(x: int) -> int:
        if x == 3:
            raise ValueError("block 3: broken")
        return x

    seen = []
    with pytest.raises(ValueError, match="block 3: broken"):
        for x in ahead(parse, range(10)):
            seen.append(x)
    assert seen == [0, 1, 2]


def test_a_consumer_that_stops_early_stops_the_work() -> None:
    read = []

    def items() -> Iterator[int]:
        for i in range(10_000):
            read.append(i)
            yield i

    for x in ahead(_slow_square, items(), depth=2):
        if x == 25:
            break
    assert len(read) < 20
    assert not any(t.name.startswith("vkurse-read-ahead") for t in threading.enumerate())


def test_an_error_reading_the_items_comes_after_the_results_already_read() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise OSError("truncated file")

    seen = []
    with pytest.raises(OSError, match="truncated file"):
        for x in ahead(_slow_square, items(), depth=3):
            seen.append(x)
    assert seen == [0, 1, 4, 9, 16]


def test_closing_waits_for_the_work_started() -> None:
    from contextlib import closing

    finished = []

    def slow(x: int) -> int:
        time.sleep(0.05)
        finished.append(x)
        return x

    with pytest.raises(RuntimeError), closing(ahead(slow, range(10), workers=2, depth=3)) as results:
        for _ in results:
            raise RuntimeError("the consumer fails")
    started = len(finished)
    time.sleep(0.2)
    assert len(finished) == started  # nothing ran on after the close
