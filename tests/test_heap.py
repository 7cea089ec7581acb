"""The scan's garbage-collection settings: fewer collections inside, the caller's restored after."""

from __future__ import annotations

import gc

from policykit.heap import THRESHOLDS, fewer_collections


def test_thresholds_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            assert gc.get_threshold() == THRESHOLDS
            built = [{"n": i} for i in range(1000)]
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() >= len(built)  # what the block built: out of the collector's sight
    finally:
        gc.unfreeze()


def test_restored_when_the_block_fails() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise ValueError("input error")
    except ValueError:
        pass
    finally:
        gc.unfreeze()
    assert gc.get_threshold() == before
