"""Reading ahead (ingest/ahead.py): the items in order, a producer's error raised to the
consumer, and a consumer that stops early stops the producer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from vkurse_stats.ingest.ahead import ahead


def test_items_arrive_in_order() -> None:
    assert list(ahead(range(1000), depth=3)) == list(range(1000))
    assert list(ahead([])) == []


def test_an_error_of_the_producer_reaches_the_consumer_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("line 3: broken")

    seen = []
    with pytest.raises(ValueError, match="line 3: broken"):
        for x in ahead(items()):
            seen.append(x)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    produced = []

    def items() -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            yield i

    for x in ahead(items(), depth=2):
        if x == 5:
            break
    assert len(produced) < 20
    assert not any(t.name == "vkurse-read-ahead" for t in threading.enumerate())
