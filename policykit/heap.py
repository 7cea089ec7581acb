"""Garbage collection paused while one large document is built, checked and reported.

A scan allocates millions of small dicts, lists and tuples that all live until the report is
written, and it makes no reference cycles (``tests/test_heap.py`` holds a whole scan to that).
CPython's cyclic collector still walks every new container at least once, however rarely it
runs: at tenant scale (``bench/bench_scale.py``) that was a tenth of the scan, for nothing freed.
Reference counting frees everything as before; only a cycle made inside the block would wait
for the next collection after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Within the block, no cyclic garbage collection; the caller's setting is restored after.

    On the way out, what the block built is moved out of the collector's sight (``gc.freeze``):
    with collection back on, the next allocation would otherwise start a full collection walking
    all of it (seconds at tenant scale). Frozen objects are still freed by reference counting
    when the scan result is dropped."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
