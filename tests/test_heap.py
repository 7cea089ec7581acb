"""The scan's garbage collection: paused inside, the caller's setting restored after, and a whole
scan that makes no reference cycles (what makes pausing the collector safe)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from collections import Counter

from conftest import CORPUS, needs_corpus

from policykit import heap
from policykit.heap import collector_paused
from policykit.scanner import load_estate, scan

GEN_ESTATE = CORPUS.parent / "tools" / "gen_estate.py"


def test_paused_inside_and_restored_after(monkeypatch) -> None:
    assert gc.isenabled()
    monkeypatch.setattr(heap, "FREEZE_ABOVE", 5_000)
    try:
        with collector_paused():
            assert not gc.isenabled()
            built = [{"n": i} for i in range(10_000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(built)  # many: out of the collector's sight
    finally:
        gc.unfreeze()


def test_a_small_block_leaves_its_cycles_to_the_collector() -> None:
    """A library call on a small estate freezes nothing: a cycle it made is collected as usual."""
    gc.collect()
    frozen = gc.get_freeze_count()
    with collector_paused():
        cycle: list = []
        cycle.append(cycle)
        alive = weakref.ref(_Node(cycle))
    assert gc.get_freeze_count() == frozen
    del cycle
    gc.collect()
    assert alive() is None


class _Node:
    def __init__(self, cycle: list) -> None:
        self.cycle = cycle
        cycle.append(self)


def test_restored_when_the_block_fails() -> None:
    try:
        with collector_paused():
            raise ValueError("input error")
    except ValueError:
        pass
    finally:
        gc.unfreeze()
    assert gc.isenabled()


def _cyclic_garbage(estate_file) -> Counter:
    """What a scan leaves that only the cyclic collector could free, by type."""
    scan(load_estate(estate_file), entry_points=False, inventory=True)  # imports, first-time caches
    gc.unfreeze()  # earlier scans froze what they built, and what other tests left
    gc.collect()
    gc.disable()
    try:
        result = scan(load_estate(estate_file), entry_points=False, inventory=True, evidence=True)
        assert result.findings  # the scan did run
        gc.unfreeze()  # the scan froze what it built: back in the collector's sight
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        gc.unfreeze()


@needs_corpus
def test_reference_cycles_do_not_grow_with_the_estate(tmp_path, monkeypatch) -> None:
    """The collector is paused during a scan, so whatever a scan leaves in reference cycles stays
    until the scan is over. A few objects per scan are harmless (the functions class, the
    policy); one per file, user or role is not (a closure that calls itself, holding a file's
    line table, kept every file's table of a tenant): an estate four times larger must leave
    exactly as much."""
    left = []
    for size in ((3, 1, 40), (12, 2, 160)):
        folder = tmp_path / "x".join(map(str, size))
        subprocess.run([sys.executable, str(GEN_ESTATE), str(folder), "--solutions", str(size[0]),
                        "--envs", str(size[1]), "--users", str(size[2]), "--seed", "3"],
                       check=True, stdout=subprocess.DEVNULL)
        monkeypatch.chdir(folder)
        left.append(_cyclic_garbage(folder / "policykit.yaml"))
    assert left[1] == left[0]
