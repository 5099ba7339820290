"""`prefetch`: the same items in the same order, producer errors raised in the consumer, a consumer that
stops early stops the producer, and the producer really runs ahead."""

import threading
import time

import pytest

from dreamvid.render.prefetch import prefetch

WAIT = 10  # seconds: generous on a loaded machine, never reached when all is well


def prefetch_threads():
    return [thread for thread in threading.enumerate() if thread.name == "dreamvid-prefetch" and thread.is_alive()]


def test_same_items_in_the_same_order():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetch(iter([]))) == []
    items = [object() for _ in range(7)]
    assert all(got is want for got, want in zip(prefetch(iter(items), depth=1), items, strict=True))
    assert not prefetch_threads()


def test_a_producer_error_is_raised_in_the_consumer_after_the_items_before_it():
    class Broken(Exception):
        pass

    def items():
        yield 1
        yield 2
        raise Broken("frame 3 is corrupt")

    got = []
    with pytest.raises(Broken, match="frame 3 is corrupt"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1, 2]
    assert not prefetch_threads()


def test_closing_the_consumer_early_stops_the_producer():
    produced, finished = [], threading.Event()

    def endless():
        try:
            index = 0
            while True:
                produced.append(index)
                yield index
                index += 1
        finally:
            finished.set()  # e.g. the ffmpeg reader's cleanup

    consumer = prefetch(endless(), depth=2)
    assert [next(consumer), next(consumer)] == [0, 1]
    consumer.close()
    assert finished.wait(WAIT), "the producer's generator was never closed"
    assert not prefetch_threads()
    count = len(produced)
    assert count <= 2 + 2 + 1  # taken + queued + one in hand: it stopped at the queue's bound
    time.sleep(0.3)
    assert len(produced) == count  # and nothing after


def test_the_producer_runs_ahead_of_the_consumer():
    depth, produced = 3, [threading.Event() for _ in range(10)]

    def items():
        for index, event in enumerate(produced):
            event.set()
            yield index

    consumer = prefetch(items(), depth=depth)
    for index in range(4):
        assert next(consumer) == index
        # while the consumer holds item `index`, the next `depth` items are already made
        assert produced[index + depth].wait(WAIT), f"item {index + depth} not produced while {index} is held"
    assert not produced[4 + depth + 1].is_set()  # and no more: the queue holds `depth`, one more is in hand
    consumer.close()
    assert not prefetch_threads()

