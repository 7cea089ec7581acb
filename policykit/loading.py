"""Loading an estate's inputs, on both cores when there are many.

Loading (reading, parsing with line positions, normalizing) is most of a large scan, and each
input loads on its own. With many inputs, a second process forked from this one loads inputs too:
the two take the next input in turn from a shared counter, so a slow input never holds up the
rest, and the results come back in the estate's order — the document, the failures and the
record of files read are the same as one process's, byte for byte.

What the child sends back is plain data (pickled). Microsoft Graph's tenant-wide lists are not
sent: the child sends where they are, and this process reads each content once (see
:func:`~policykit.loaders.environment_export.detach_tenant_data`), so every environment still
holds the same list. Where ``fork`` is not available, or the child dies, this process loads what
is left itself.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .loaders.environment_export import (
    attach_tenant_data,
    detach_tenant_data,
    share_parses,
)
from .models import InputFailure
from .reading import recording_apart

#: From this many inputs on, a second process helps (below it, forking costs more than it saves).
MIN_PARALLEL_INPUTS = 24


@dataclass
class Job:
    """One input to load: a solution, an environment's metadata, or a settings file."""

    path: Path
    kind: str


@dataclass
class Loaded:
    """What loading one input gave: its result (None when it failed), why not, the files it read."""

    result: Any = None
    failures: list[InputFailure] = field(default_factory=list)
    files_read: dict[str, str] = field(default_factory=dict)


#: Loads one input, recording failures in the list it is given (``scanner._load``'s contract).
LoadOne = Callable[[Path, str, list[InputFailure]], Any]


def _run(load: LoadOne, job: Job) -> Loaded:
    out = Loaded()
    with recording_apart() as files:
        out.result = load(job.path, job.kind, out.failures)
    out.files_read = files
    return out


def _claim(counter: Any) -> int:
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    return index


def _child(load: LoadOne, jobs: list[Job], counter: Any, conn: Any) -> None:
    """The second process: loads inputs until none is left, sending each as it is done."""
    share_parses()
    try:
        while (index := _claim(counter)) < len(jobs):
            loaded = _run(load, jobs[index])
            if jobs[index].kind == "environment" and isinstance(loaded.result, dict):
                loaded.result = detach_tenant_data(loaded.result, jobs[index].path)
            conn.send_bytes(pickle.dumps((index, loaded), protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        conn.send_bytes(b"")
        conn.close()


def _fork_context() -> Any:
    """multiprocessing's ``fork`` context, or None where there is no fork. Imported here: a small
    scan does not pay for the import."""
    import multiprocessing
    return multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None


def load_inputs(load: LoadOne, jobs: list[Job]) -> list[Loaded]:
    """Every job loaded, in the jobs' order; with many, in two processes."""
    context = _fork_context() if len(jobs) >= MIN_PARALLEL_INPUTS else None
    if context is None:
        return [_run(load, job) for job in jobs]
    counter = context.Value("q", 0)
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(load, jobs, counter, sending), daemon=True)
    child.start()
    sending.close()
    received: list[bytes] = []
    drain = threading.Thread(target=_drain, args=(receiving, received), daemon=True)
    drain.start()  # reads while this process loads: the child never waits on a full pipe
    done: dict[int, Loaded] = {}
    while (index := _claim(counter)) < len(jobs):
        done[index] = _run(load, jobs[index])
    drain.join()
    child.join()
    for message in received:
        index, loaded = pickle.loads(message)
        if jobs[index].kind == "environment" and isinstance(loaded.result, dict):
            try:
                with recording_apart():  # the child recorded these reads already
                    loaded.result = attach_tenant_data(loaded.result)
            except InputError:  # changed since the child read it: loaded again, and said so
                continue
        done[index] = loaded
    # A job the child claimed but never sent (it died): loaded here.
    return [done[i] if i in done else _run(load, jobs[i]) for i in range(len(jobs))]


def _drain(conn: Any, into: list[bytes]) -> None:
    try:
        while message := conn.recv_bytes():
            into.append(message)
    except (EOFError, OSError):
        pass  # the child ended without its last word: its unsent jobs are loaded again
    finally:
        conn.close()
