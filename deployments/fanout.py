"""One pass's Google calls for several services, made at the same time.

A rollout of three services would otherwise wait three times for each revision to get
ready and for each traffic update to apply. Only Google calls run in the pool: they must
not touch the database (a pool thread would open its own connection, outside the pass's
transaction and its row lock). The caller records the outcomes in its own thread.

The pool is one per process, shared by the worker's job threads: a pass that made a
pool of its own started and stopped a thread per service, every pass.
"""

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

# Enough for every job thread to run this many calls at once; more wait for a free thread.
CALLS_PER_JOB_THREAD = 4

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    """What one call returned, or the exception it raised."""

    value: object = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run(call: Callable, items: Iterable) -> list[Outcome]:
    """`call(item)` for every item at once; the outcomes in item order, once all ended.

    Every call has finished when this returns, so none outlives the pass's transaction.
    """
    items = list(items)
    if len(items) <= 1:
        return [_outcome(call, item) for item in items]
    return list(_shared_pool().map(lambda item: _outcome(call, item), items))


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            size = max(settings.DEPLOYMENTS_WORKER_THREADS, 1) * CALLS_PER_JOB_THREAD
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="google")
        return _pool


def _outcome(call: Callable, item) -> Outcome:
    try:
        return Outcome(value=call(item))
    except Exception as exc:  # handed to the caller's thread; raise_first raises it there
        return Outcome(error=exc)


def raise_first(outcomes: Iterable[Outcome]) -> None:
    """Raise the first error in item order: the one a one-by-one loop would have raised."""
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
