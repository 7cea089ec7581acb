"""Garbage collection paused while one large document is built, checked and reported.

A scan allocates millions of small dicts, lists and tuples that all live until the report is
written, and none of its reference cycles grows with the estate: a few per scan (the policy, the
functions class, the plugin manager); ``tests/test_heap.py`` checks it.
CPython's cyclic collector still walks every new container at least once, however rarely it
runs: at tenant scale (``bench/bench_scale.py``) that was a tenth of the scan, for nothing freed.
Reference counting frees everything as before; only a cycle made inside the block would wait
for the next collection after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


#: Young objects above which the block's are frozen on the way out rather than left to the
#: collector (whose next collection would walk them all: ~80 ns each, seconds at tenant scale).
FREEZE_ABOVE = 500_000


@contextmanager
def collector_paused() -> Iterator[None]:
    """Within the block, no cyclic garbage collection; the caller's setting is restored after.

    On the way out, when the block built many objects, they are moved out of the collector's sight
    (``gc.freeze``): with collection back on, the next allocation would otherwise start a
    collection walking all of them (seconds at tenant scale). Frozen objects are still freed by
    reference counting when the scan result is dropped, but a reference cycle among them stays
    for the life of the process: a few objects per scan (``tests/test_heap.py``), which a
    process scanning a tenant once does not mind. A small scan (a test, a library call on one
    solution) leaves its objects to the collector, as any other code does."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] > FREEZE_ABOVE:
            gc.freeze()
        if enabled:
            gc.enable()
