"""Reading files safely: within size limits, never through a link or from a device, and
recorded (path → SHA-256) for the audit evidence. Loaders, the policy, the estate file and the
CLI all read through :func:`read_file`."""

from __future__ import annotations

import contextvars
import functools
import hashlib
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError


@dataclass(frozen=True)
class Limits:
    """Caps that keep hostile input (zip bombs, huge files) from exhausting the machine."""

    max_file_bytes: int = 64 * 1024 * 1024          # any single file or zip entry
    max_zip_total_bytes: int = 512 * 1024 * 1024    # all entries of one zip, uncompressed
    max_zip_ratio: int = 200                        # uncompressed / compressed, per entry
    max_zip_entries: int = 20000


DEFAULT_LIMITS = Limits()

# The limits of the scan in progress (set by the scanner from the command line), so that every
# loader, built-in or plugin, applies the same caps without passing them through every call.
_CURRENT = contextvars.ContextVar("policykit_limits", default=DEFAULT_LIMITS)


# Every file read during the scan in progress: display path → SHA-256, for audit evidence.
_READ: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("policykit_files_read", default=None)


@contextmanager
def recording_apart() -> Iterator[dict[str, str]]:
    """Within the block, record reads in a record of its own (yielded); the scan's after."""
    record: dict[str, str] = {}
    token = _READ.set(record)
    try:
        yield record
    finally:
        _READ.reset(token)


def record_reads() -> dict[str, str]:
    """Start recording the files read from here on; returns the (live) record."""
    record: dict[str, str] = {}
    _READ.set(record)
    return record


def _recorded(display: str, data: bytes) -> bytes:
    record = _READ.get()
    if record is not None:
        record[display] = hashlib.sha256(data).hexdigest()
    return data


def sha256_of(display: str, data: bytes) -> str:
    """The SHA-256 of ``data`` just read from ``display``: the recorded one when reads are being
    recorded (a tenant-wide file is hashed once, not twice, per environment)."""
    record = _READ.get()
    known = record.get(display) if record is not None else None
    return known or hashlib.sha256(data).hexdigest()


def current_limits() -> Limits:
    return _CURRENT.get()


def use_limits(limits: Limits) -> contextvars.Token:
    return _CURRENT.set(limits)


def read_file(path: Path, display: str, limits: Limits | None = None) -> bytes:
    """Read a regular file within the size limit; links and devices are refused."""
    limit = (limits or current_limits()).max_file_bytes
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise InputError("file not found", file=display) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=display) from None
    if stat.S_ISLNK(info.st_mode):
        # A link in a scanned repository could point at anything on the CI runner.
        raise InputError("symbolic links are not followed", file=display)
    if not stat.S_ISREG(info.st_mode):
        raise InputError("not a regular file", file=display)
    if info.st_size > limit:
        raise InputError(f"file is larger than the limit of {limit} bytes", file=display)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)  # the file may grow after stat()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=display) from None
    if len(data) > limit:
        raise InputError(f"file is larger than the limit of {limit} bytes", file=display)
    return _recorded(display, data)


@functools.lru_cache(maxsize=256)
def git_top_level(folder: Path) -> Path | None:
    """The top of the git work tree holding ``folder`` (an absolute path): the nearest folder,
    ``folder`` itself or above, with a ``.git`` entry (a folder, or the file of a worktree or a
    submodule); ``None`` outside one. Read from the file system: no ``git`` needed."""
    for candidate in (folder, *folder.parents):
        try:
            if (candidate / ".git").exists():
                return candidate
        except OSError:
            return None
    return None
