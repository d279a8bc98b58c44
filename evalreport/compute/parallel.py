"""Reducing a stream of batches on threads, merged in input order."""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..load import Batch
from .bootstrap import Bootstrap
from .rows import WORST_ROWS
from .stats import Stats, accumulate

#: Batches are reduced on up to this many threads (numpy and SciPy release the GIL in their loops).
MAX_WORKERS = 4


def in_order(fn, items, workers: int | None = None):
    """``fn(item)`` for each item, computed on ``workers`` threads (default: one per core, up
    to MAX_WORKERS) while the next items are produced, and yielded in input order. At most
    ``workers + 1`` items are in flight, so memory stays bounded. BLAS is held to one thread
    meanwhile: its idle threads spin, taking the cores the reader and the workers need."""
    from threadpoolctl import threadpool_limits

    workers = min(MAX_WORKERS, os.cpu_count() or 1) if workers is None else workers
    with threadpool_limits(limits=1, user_api="blas"):
        if workers <= 1:
            for item in items:
                yield fn(item)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="evalreport-reduce") as pool:
            pending: deque = deque()
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def reduce_batches(batches, n_classes: int, eps: float, boot: Bootstrap | None = None,
                   workers: int | None = None) -> Stats:
    """Fold a stream of batches into one :class:`Stats`.

    Batches are reduced in parallel (:func:`in_order`) and merged in input
    order, so the sums — and every figure — are the same whatever the number
    of threads. Each batch's row sample leaves out the rows that cannot enter
    the merged sample so far (the result is the same, see :func:`row_sample`).
    """
    total = Stats(n_classes)

    def reduce(batch: Batch) -> Stats:
        return accumulate(batch, n_classes, eps, boot, sample_below=_bound(total), worst_least=_least(total))

    for stats in in_order(reduce, batches, workers):
        total += stats
    return total


def _least(total: Stats) -> float | None:
    worst = total.worst  # one read: the merging thread replaces the tuple
    return worst[-1].ce if len(worst) == WORST_ROWS else None


def _bound(total: Stats) -> np.uint64 | None:
    return total.sample.bound() if total.sample is not None else None
