"""Reading a solution's files from a zip or a folder, within safe limits.

A :class:`FileTree` hides whether a solution is a zip or a folder: loaders ask for entry names
and bytes, and get back a ``source`` dict that says where each object came from (the zip and
the entry inside it, or the file in the folder).

Nothing is lost in silence: two entries whose names differ only by case (or not at all) are
refused, since lookups are case-insensitive and one of them would win quietly; a link or a
special file inside a solution folder is refused, never followed or skipped.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..reading import Limits, current_limits, read_file

#: Folders never part of a solution, skipped like solution discovery skips them.
SKIPPED_FOLDERS = ("node_modules",)


class FileTree:
    """The files of one solution, by posix name relative to the solution root."""

    display: str  # the zip or folder as shown to the user
    _index: dict[str, str] | None = None

    def names(self) -> list[str]:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def source(self, name: str, line: int | None = None) -> dict:
        raise NotImplementedError

    def _ambiguous(self, first: str, second: str) -> InputError:
        return InputError(f"{first!r} and {second!r} differ only by case: which one counts is undefined",
                          file=self.display)

    def index(self) -> dict[str, str]:
        """Lower-cased name → actual name, built once (lookups are dictionary look-ups)."""
        if self._index is None:
            index: dict[str, str] = {}
            for actual in self.names():
                first = index.setdefault(actual.lower(), actual)
                if first != actual:
                    raise self._ambiguous(first, actual)
            self._index = index
        return self._index

    def find(self, name: str) -> str | None:
        """The actual name of an entry, matched case-insensitively (exports vary in case)."""
        return self.index().get(name.lower().lstrip("/"))

    def under(self, folder: str) -> Iterator[str]:
        """Entries below ``folder`` (case-insensitive), in sorted order."""
        prefix = folder.lower().rstrip("/") + "/"
        return (n for n in self.names() if n.lower().startswith(prefix))


def _zip_problem(exc: BaseException) -> str:
    """A one-line description of a zip library error, without reprs of its objects."""
    if isinstance(exc, zlib.error):
        return "corrupt compressed data"
    if isinstance(exc, UnicodeDecodeError):
        return "an entry name is not valid UTF-8 although the zip says it is"
    if isinstance(exc, EOFError):
        return "the zip is truncated"
    if isinstance(exc, RuntimeError):  # zipfile says "File <ZipInfo ...> is encrypted"
        return "the entry is encrypted (password-protected)"
    if isinstance(exc, NotImplementedError):
        return "unsupported compression method"
    text = (str(exc).splitlines() or [""])[0].strip()
    if not text or "<" in text:
        return "corrupt zip data"
    return text


def _entry_name(info: zipfile.ZipInfo, display: str) -> str:
    """The entry's name, posix style and normalized; path traversal refused."""
    raw = info.filename.replace("\\", "/")
    parts = PurePosixPath(raw).parts
    if raw.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise InputError("zip entry name escapes the archive (path traversal)", file=display, entry=info.filename)
    return PurePosixPath(raw).as_posix()


class ZipTree(FileTree):
    def __init__(self, path: Path, display: str, limits: Limits | None = None, data: bytes | None = None) -> None:
        self.display = display
        self.limits = limits = limits or current_limits()
        if data is None:
            # Read once, within the size limit: hashed for the evidence report, opened from memory.
            data = read_file(path, display, limits)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise InputError(f"not a valid zip file ({_zip_problem(exc)})", file=display) from None
        if len(infos) > limits.max_zip_entries:
            raise InputError(f"zip has more than {limits.max_zip_entries} entries "
                             "(the limit is set with --max-zip-entries)", file=display)
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._index = {}
        total = 0
        for info in infos:
            if info.is_dir():
                continue
            name = _entry_name(info, display)
            self._index_entry(name, info)
            total += info.file_size
            if total > limits.max_zip_total_bytes:
                raise InputError(
                    f"zip expands to more than {limits.max_zip_total_bytes} bytes (zip bomb?)", file=display)
            if info.file_size > limits.max_file_bytes:
                raise InputError(f"entry is larger than the limit of {limits.max_file_bytes} bytes",
                                 file=display, entry=name)
            if info.compress_size and info.file_size / info.compress_size > limits.max_zip_ratio \
                    and info.file_size > 1024 * 1024:
                raise InputError(
                    f"entry compression ratio exceeds {limits.max_zip_ratio}:1 (zip bomb?)", file=display, entry=name)
        self._names = sorted(self._infos)

    def _index_entry(self, name: str, info: zipfile.ZipInfo) -> None:
        """Record one entry; a second entry of the same name, in any case, is refused."""
        first = self._index.setdefault(name.lower(), name)
        if first == name:
            if name in self._infos:
                raise InputError(f"zip holds two entries named {name!r}: which one counts is undefined",
                                 file=self.display, entry=info.filename)
        else:
            raise InputError(f"zip entries {first!r} and {name!r} differ only by case: which one counts "
                             "is undefined", file=self.display, entry=info.filename)
        self._infos[name] = info

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        info = self._infos[name]
        if info.flag_bits & 0x1:
            raise InputError("zip entry is encrypted (password-protected): export the solution without a password",
                             file=self.display, entry=name)
        try:
            with self._zip.open(info) as fh:
                # Never trust the header's size: read at most one byte past it.
                data = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError,
                zlib.error) as exc:
            raise InputError(f"cannot read zip entry ({_zip_problem(exc)})", file=self.display, entry=name) from None
        if len(data) > info.file_size:
            raise InputError("zip entry is larger than its header says", file=self.display, entry=name)
        return data

    def source(self, name: str, line: int | None = None) -> dict:
        return {"file": self.display, "entry": name, "line": line or 1}


def _join(display: str, name: str) -> str:
    return f"{display}/{name}" if display not in ("", ".") else name


def walk_files(root: Path, display: str) -> list[str]:
    """Every regular file below ``root`` (posix names relative to it), iteratively.

    A symbolic link (to a file or a folder) or a special file is refused with its path, never
    followed or skipped: a link in a scanned repository could point anywhere on the CI runner.
    Hidden folders (``.git``) and ``node_modules`` are not part of a solution and are skipped.
    """
    names: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root / rel if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise InputError(f"cannot list folder: {exc.strerror or exc}", file=_join(display, rel)) from None
        for entry in entries:
            name = f"{rel}/{entry.name}" if rel else entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                raise InputError(f"cannot read file: {exc.strerror or exc}", file=_join(display, name)) from None
            if stat.S_ISLNK(mode):
                raise InputError("symbolic links are not followed", file=_join(display, name))
            if stat.S_ISDIR(mode):
                if not entry.name.startswith(".") and entry.name not in SKIPPED_FOLDERS:
                    stack.append(name)
            elif stat.S_ISREG(mode):
                names.append(name)
            else:
                raise InputError("not a regular file", file=_join(display, name))
    return names


class DirTree(FileTree):
    def __init__(self, root: Path, display: str, limits: Limits | None = None) -> None:
        self.root = root
        self.display = display.rstrip("/")
        self.limits = limits or current_limits()
        try:
            is_link = root.is_symlink()
        except OSError as exc:
            raise InputError(f"cannot read folder: {exc.strerror or exc}", file=self.display) from None
        if is_link:
            raise InputError("symbolic links are not followed", file=self.display)
        self._names = sorted(walk_files(root, self.display))
        self.index()  # two files whose names differ only by case: refused now, not at the first look-up

    def _ambiguous(self, first: str, second: str) -> InputError:
        return InputError(f"{self.file_of(first)!r} and {self.file_of(second)!r} differ only by case: "
                          "which one counts is undefined", file=self.file_of(second))

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        return read_file(self.root / name, self.file_of(name), self.limits)

    def file_of(self, name: str) -> str:
        return _join(self.display, name)

    def source(self, name: str, line: int | None = None) -> dict:
        return {"file": self.file_of(name), "line": line or 1}
