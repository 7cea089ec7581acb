"""Garbage collection tuned for building one large document.

A scan allocates millions of small dicts and lists that all live until the report is written and
hold no reference cycles worth collecting. CPython's default thresholds start a collection every
700 net allocations, and every tenth of those walks all younger survivors again: at tenant scale
(``bench/bench_scale.py``, 1,000 solutions × 50 environments × 20,000 users) that was a quarter
of the scan, for nothing freed (peak memory is the same with collection off). Collecting
young objects a hundred times less often keeps cycles among them collectable, at a bounded cost.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Young objects between collections (young cycles are still found), then how many young
#: collections per middle-generation one, and middle ones per full one: at these, the older
#: generations are left alone for the length of a scan (measured: as fast as collection off).
THRESHOLDS = (100_000, 1_000, 1_000)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Within the block, collect garbage with :data:`THRESHOLDS`; restores the caller's after.

    On the way out, what the block built is moved out of the collector's sight (``gc.freeze``):
    with the default thresholds back, the next allocation would otherwise start a full collection
    walking all of it (seconds at tenant scale). Frozen objects are still freed by reference
    counting when the scan result is dropped; only a reference cycle among them would stay."""
    previous = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.freeze()
        gc.set_threshold(*previous)
