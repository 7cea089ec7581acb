#!/usr/bin/env python3
"""Build the lunch-order example's binary inputs from the editable sources in ``solution-src/``.

    python examples/lunch-order/build_solution.py          # (re)write the outputs
    python examples/lunch-order/build_solution.py --check  # exit 1 if an output is out of date

Outputs (the scanner reads these; they are committed so the example needs no build step):

- ``solutions/LunchOrder_1_0_0_3.zip``: the solution export (``pac solution export``, unmanaged)
  built from ``solution-src/LunchOrder/``. Each file there becomes the zip entry of the same
  relative name; a folder named ``*.msapp`` becomes one ``.msapp`` entry (see below).
- ``src/Expenses/CanvasApps/cr123_expenses_4c5d6_DocumentUri.msapp``: the canvas app package of
  the unpacked Expenses solution, built from ``solution-src/Expenses/CanvasApps/...msapp/``.

Sources are plain UTF-8 with LF line ends, so they diff well. The build gives each entry the
bytes a real export has (power-platform.md §1; compare the patch-tuesday and teams-team-request
zips of the corpus):

- ``solution.xml``, ``customizations.xml``: UTF-8 with BOM, CRLF line ends;
- ``[Content_Types].xml``: UTF-8 with BOM, one line;
- ``Workflows/*.json``: CRLF line ends, no BOM;
- everything else (``environmentvariabledefinition.xml`` ...): unchanged (LF, no BOM).

A ``.msapp`` is itself a zip whose entry names use backslashes (``References\\DataSources.json``).

The output is deterministic: entries sorted by name, one fixed timestamp, DEFLATE, no extra
fields, "made by" MS-DOS like Dataverse's own exports. Running the script twice gives the same
bytes (for a given zlib).
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "solution-src"

#: Every entry's timestamp (the export of version 1.0.0.3).
TIMESTAMP = (2025, 3, 14, 9, 26, 0)

BOM = b"\xef\xbb\xbf"

#: output file -> (source, kind); kind "solution" packs a folder, "msapp" one app package.
TARGETS = {
    HERE / "solutions" / "LunchOrder_1_0_0_3.zip": (SOURCES / "LunchOrder", "solution"),
    HERE / "src" / "Expenses" / "CanvasApps" / "cr123_expenses_4c5d6_DocumentUri.msapp":
        (SOURCES / "Expenses" / "CanvasApps" / "cr123_expenses_4c5d6_DocumentUri.msapp", "msapp"),
}


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def export_bytes(name: str, data: bytes) -> bytes:
    """The bytes a real solution export holds for the entry ``name`` (see the module doc)."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    lower = name.lower()
    if lower in ("solution.xml", "customizations.xml"):
        return BOM + _crlf(data.rstrip(b"\n"))
    if lower == "[content_types].xml":
        return BOM + data.strip()
    if lower.startswith("workflows/") and lower.endswith(".json"):
        return _crlf(data.rstrip(b"\n"))
    return data


def write_zip(entries: dict[str, bytes]) -> bytes:
    """A deterministic zip of ``entries`` (name -> bytes), sorted by name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0   # MS-DOS, as Dataverse writes them
            info.external_attr = 0
            zf.writestr(info, entries[name], compresslevel=6)
    return buffer.getvalue()


def pack_msapp(folder: Path) -> bytes:
    """A canvas app package: the folder's files, entry names joined with backslashes."""
    entries = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        entries["\\".join(path.relative_to(folder).parts)] = path.read_bytes()
    return write_zip(entries)


def pack_solution(folder: Path) -> bytes:
    """The solution export zip of a source folder (``*.msapp`` folders become packages)."""
    entries: dict[str, bytes] = {}
    msapps = sorted(p for p in folder.rglob("*.msapp") if p.is_dir())
    for app in msapps:
        entries[app.relative_to(folder).as_posix()] = pack_msapp(app)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if any(app in path.parents for app in msapps):
            continue
        name = PurePosixPath(*path.relative_to(folder).parts).as_posix()
        entries[name] = export_bytes(name, path.read_bytes())
    return write_zip(entries)


def build(target: Path) -> bytes:
    source, kind = TARGETS[target]
    if not source.is_dir():
        raise SystemExit(f"source folder not found: {source.relative_to(HERE)}")
    return pack_solution(source) if kind == "solution" else pack_msapp(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the outputs are up to date")
    args = parser.parse_args(argv)
    stale = []
    for target in TARGETS:
        data = build(target)
        shown = target.relative_to(HERE).as_posix()
        if args.check:
            if not target.is_file() or target.read_bytes() != data:
                stale.append(shown)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"wrote {shown} ({len(data)} bytes)")
    if stale:
        print("out of date (run build_solution.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
