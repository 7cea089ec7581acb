"""Reading a solution's files from a zip or a folder, within safe limits.

A :class:`FileTree` hides whether a solution is a zip or a folder: loaders ask for entry names
and bytes, and get back a ``source`` dict that says where each object came from (the zip and
the entry inside it, or the file in the folder).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..reading import Limits, current_limits, read_file


class FileTree:
    """The files of one solution, by posix name relative to the solution root."""

    display: str  # the zip or folder as shown to the user

    def names(self) -> list[str]:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def source(self, name: str, line: int | None = None) -> dict:
        raise NotImplementedError

    def find(self, name: str) -> str | None:
        """The actual name of an entry, matched case-insensitively (exports vary in case)."""
        lowered = name.lower().lstrip("/")
        for actual in self.names():
            if actual.lower() == lowered:
                return actual
        return None

    def under(self, folder: str) -> Iterator[str]:
        """Entries below ``folder`` (case-insensitive), in sorted order."""
        prefix = folder.lower().rstrip("/") + "/"
        return (n for n in self.names() if n.lower().startswith(prefix))


class ZipTree(FileTree):
    def __init__(self, path: Path, display: str, limits: Limits | None = None, data: bytes | None = None) -> None:
        self.display = display
        self.limits = limits = limits or current_limits()
        try:
            if data is None:
                # Read once, within the size limit: hashed for the evidence report, opened from memory.
                self._zip = zipfile.ZipFile(io.BytesIO(read_file(path, display, limits)))
            else:
                self._zip = zipfile.ZipFile(io.BytesIO(data))
        except InputError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise InputError(f"not a valid zip file ({exc})", file=display) from None
        self._infos = {}
        total = 0
        infos = self._zip.infolist()
        if len(infos) > limits.max_zip_entries:
            raise InputError(f"zip has more than {limits.max_zip_entries} entries", file=display)
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                raise InputError("zip entry name escapes the archive (path traversal)", file=display, entry=info.filename)
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
            self._infos[name] = info
        self._names = sorted(self._infos)

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        info = self._infos[name]
        try:
            with self._zip.open(info) as fh:
                # Never trust the header's size: read at most one byte past it.
                data = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise InputError(f"cannot read zip entry ({exc})", file=self.display, entry=name) from None
        if len(data) > info.file_size:
            raise InputError("zip entry is larger than its header says", file=self.display, entry=name)
        return data

    def source(self, name: str, line: int | None = None) -> dict:
        return {"file": self.display, "entry": name, "line": line or 1}


class DirTree(FileTree):
    def __init__(self, root: Path, display: str, limits: Limits | None = None) -> None:
        self.root = root
        self.display = display.rstrip("/")
        self.limits = limits or current_limits()
        names = []
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                names.append(p.relative_to(root).as_posix())
        self._names = sorted(names)

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        return read_file(self.root / name, self.file_of(name), self.limits)

    def file_of(self, name: str) -> str:
        return f"{self.display}/{name}" if self.display not in ("", ".") else name

    def source(self, name: str, line: int | None = None) -> dict:
        return {"file": self.file_of(name), "line": line or 1}
