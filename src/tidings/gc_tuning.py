"""The cyclic garbage collector's schedule in a serving process.

With the interpreter's defaults (a young collection every 700 net container
allocations) a server under load spends a third of its CPU in the collector:
the thousands of requests in flight (tasks, coroutines, futures, params) swing
the young generation's count across the threshold again and again, every
collection walks the whole in-flight graph, and the objects it promotes
trigger full collections that walk every module, function and class the
process loaded (``docs/benchmarks.md``, "WebSocket ingest and the garbage
collector"). Once serving:

- everything alive after start-up (imports, settings, prepared state) is
  moved out of the collector's reach (``gc.freeze``): it lives as long as
  the process, so walking it finds nothing;
- a young collection waits for ``YOUNG_THRESHOLD`` net allocations, above
  what a full window of requests in flight allocates, so the collector runs
  on real growth (a cycle a request left behind), not on the load's swing.

Reference counting frees everything that is not in a cycle as before; the
memory cost is at most that many collectable objects waiting (a few MB).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG_THRESHOLD = 50_000


def tune_for_serving() -> None:
    """Call once, when the node is up and before it serves load."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


@contextlib.contextmanager
def tuned_for_serving() -> Iterator[None]:
    """``tune_for_serving`` for a while, then the collector as it was (the
    in-process benches: the process goes on to other work, or other tests)."""
    before = gc.get_threshold()
    tune_for_serving()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
