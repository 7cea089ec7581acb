"""Export folders written safely: a temporary folder renamed into place, so that an interrupted
collect never leaves a half folder that a later scan would take as complete."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

#: Files an administrator writes into an export folder, kept when the folder is collected again.
KEPT_FILES = ("processlicenses.json",)
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


def folder_name(display_name: str | None, env_id: str) -> str:
    """A folder name from an environment's display name (``Contoso PRD``), else its id."""
    name = _UNSAFE.sub("-", (display_name or "").strip()).strip(" .-")[:80]
    return name or env_id


def dump(path: Path, body: Any) -> int:
    """Write a response body as JSON (UTF-8, unchanged content); returns the bytes written."""
    data = (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def link_or_copy(source: Path, target: Path) -> None:
    """Tenant-wide files (Graph users and SKUs) are the same in every folder: written once, linked."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class Staging:
    """A folder being written next to its final place, moved there in one rename."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.path = final.parent / f".{final.name}.partial-{os.getpid()}"
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        for name in KEPT_FILES:
            if (final / name).is_file() and not (final / name).is_symlink():
                shutil.copyfile(final / name, self.path / name)

    def commit(self) -> None:
        old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
        if self.final.exists():
            self.final.rename(old)
        self.path.rename(self.final)
        if old.exists():
            shutil.rmtree(old)

    def abandon(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
