"""Ordered read-ahead: load the next items in threads while the caller codes the current one.

A batch spends its time in two kinds of work: the codec (torch, one image at a time on the caller's
thread) and everything around it (reading and decoding image files, reading bitstreams). The second
kind releases the GIL in its slow parts (file reads, Pillow's decoders, zlib), so running it in a
few threads overlaps it with coding even on two cores. :func:`read_ahead` keeps ``depth`` loads in
flight and yields their results in input order, so results stay in step with their inputs and the
memory held is bounded by ``depth`` loaded items.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# (index, item, loaded value or None, exception or None)
Loaded = tuple[int, T, Any, BaseException | None]


def read_ahead(
    items: Iterable[T],
    load: Callable[[T], Any] | None,
    *,
    workers: int = 2,
    depth: int | None = None,
    catch: tuple[type[BaseException], ...] = (Exception,),
) -> Iterator[Loaded]:
    """Yield ``(index, item, load(item), None)`` in input order, loading up to ``depth`` items ahead.

    Args:
        items: any iterable; it is consumed on the caller's thread, ``depth`` items ahead of the
            results.
        load: run on each item in a worker thread; ``None`` yields the items themselves.
        workers: threads; 0 loads on the caller's thread, one item at a time.
        depth: loads in flight (default ``2 * workers``).
        catch: exceptions of ``load`` that belong to one item: yielded as
            ``(index, item, None, exception)`` and the iteration goes on. Any other exception ends it.

    Stopping early (``break``, an exception in the consumer, Ctrl-C) cancels the loads not yet
    started and waits for the running ones, so no thread outlives the iteration.
    """
    if load is None:
        for index, item in enumerate(items):
            yield index, item, item, None
        return
    if workers <= 0:
        for index, item in enumerate(items):
            try:
                value = load(item)
            except catch as exc:
                yield index, item, None, exc
            else:
                yield index, item, value, None
        return
    depth = max(1, depth if depth is not None else 2 * workers)
    source = enumerate(items)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dicodec-read")
    pending: deque[tuple[int, T, Future]] = deque()
    try:
        for index, item in itertools.islice(source, depth):
            pending.append((index, item, pool.submit(load, item)))
        while pending:
            index, item, future = pending.popleft()
            for nxt_index, nxt in itertools.islice(source, 1):  # keep the pool busy before waiting
                pending.append((nxt_index, nxt, pool.submit(load, nxt)))
            try:
                value = future.result()
            except catch as exc:
                yield index, item, None, exc
            else:
                yield index, item, value, None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
