"""Running work over many items at once, with results collected in the calling thread.

The threads are daemon threads and the results are collected in the calling
thread, so Ctrl-C reaches the command at once instead of waiting for every
invocation in flight to finish.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_concurrently(
    work: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    concurrency: int,
    on_result: Callable[[int, Result], None] | None = None,
) -> list[Result]:
    """``work`` applied to every item, at most ``concurrency`` at a time; results in item order.

    Each item is taken by exactly one worker exactly once. ``on_result`` is called
    in the calling thread as each item finishes. If ``work`` raises, no further item
    is started and the exception is raised here; items in flight are abandoned.
    """
    if not items:
        return []
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(items)):
        pending.put(index)
    finished: queue.SimpleQueue[tuple[int, Result | None, BaseException | None]] = queue.SimpleQueue()
    stopping = threading.Event()

    def worker() -> None:
        while not stopping.is_set():
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put((index, work(items[index]), None))
            except BaseException as problem:  # handed to the calling thread, which re-raises it
                finished.put((index, None, problem))

    for number in range(min(concurrency, len(items))):
        threading.Thread(target=worker, name=f"lambdash-worker-{number}", daemon=True).start()
    results: dict[int, Result] = {}
    try:
        while len(results) < len(items):
            index, value, problem = finished.get()
            if problem is not None:
                raise problem
            results[index] = cast(Result, value)  # set whenever problem is None
            if on_result is not None:
                on_result(index, results[index])
    finally:
        stopping.set()
    return [results[index] for index in range(len(items))]
