"""GitHub's ``primaryLocationLineHash``, computed the way ``github/codeql-action`` computes it
when it uploads a SARIF file, so that an upload through the API (which does not compute it)
matches alerts exactly like an upload through the action.

The algorithm (from the action's ``fingerprints.ts``): a rolling polynomial hash (base 37,
64-bit wrap-around) over a window of the next 100 characters of the file, skipping spaces and
tabs, with CR and CRLF read as LF; the file is read as UTF-16 code units (JavaScript strings),
ends with the character 65535 and is padded with zeros. Each line's hash is the window that
starts at its first character, as unsigned hexadecimal, then ``:<n>`` counting how many lines
so far had the same hash.
"""

from __future__ import annotations

import hashlib
import re
from itertools import compress, count
from operator import mul
from pathlib import Path

_BLOCK = 100
_MOD = 37
_MASK = (1 << 64) - 1
_FIRST_MOD = pow(_MOD, _BLOCK, 1 << 64)
#: The weight of each unit of a full window in its hash: 37 to the power of the units after it.
_WEIGHTS = tuple(pow(_MOD, _BLOCK - 1 - i, 1 << 64) for i in range(_BLOCK))
_TAB, _SPACE, _LF, _CR, _EOF = 9, 32, 10, 13, 65535


def line_hashes(text: str) -> dict[int, str]:
    """Every line's hash, by 1-based line number."""
    units = text.encode("utf-16-le")
    codes = [units[i] | (units[i + 1] << 8) for i in range(0, len(units), 2)]
    window = [0] * _BLOCK
    line_numbers = [-1] * _BLOCK
    state = {"hash": 0, "index": 0}
    counts: dict[str, int] = {}
    out: dict[int, str] = {}

    def output() -> None:
        value = format(state["hash"] & _MASK, "x")
        counts[value] = counts.get(value, 0) + 1
        out[line_numbers[state["index"]]] = f"{value}:{counts[value]}"
        line_numbers[state["index"]] = -1

    def update(current: int) -> None:
        begin = window[state["index"]]
        window[state["index"]] = current
        state["hash"] = (_MOD * state["hash"] + current - _FIRST_MOD * begin) & _MASK
        state["index"] = (state["index"] + 1) % _BLOCK

    line_number, line_start, prev_cr = 0, True, False
    for current in codes + [_EOF]:
        if current in (_SPACE, _TAB) or (prev_cr and current == _LF):
            prev_cr = False
            continue
        if current == _CR:
            current, prev_cr = _LF, True
        else:
            prev_cr = False
        if line_numbers[state["index"]] != -1:
            output()
        if line_start:
            line_start = False
            line_number += 1
            line_numbers[state["index"]] = line_number
        if current == _LF:
            line_start = True
        update(current)
    for _ in range(_BLOCK):
        if line_numbers[state["index"]] != -1:
            output()
        update(0)
    return out


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _window_hash(window: str) -> str:
    """The rolling hash of one full window: the polynomial of its 100 code units, base 37,
    modulo 2**64 (a sum of products taken modulo 2**64 once is the same number; in C here)."""
    return format(sum(map(mul, map(ord, window), _WEIGHTS)) & _MASK, "x")


def hashes_of_lines(text: str, lines: set[int]) -> dict[int, str]:
    """The hashes of ``lines`` only: the same values as :func:`line_hashes`, without running the
    rolling hash over the whole file. A line's hash is that of the 100 code units starting at the
    line (spaces and tabs dropped, CR and CRLF read as LF, then the end mark and zeros), and its
    count is how many lines up to it start with the same 100 units. Text with characters beyond
    the BMP (two UTF-16 units each) takes the reference path."""
    if not lines or (not text.isascii() and _ASTRAL.search(text)):
        every = line_hashes(text)
        return {n: every[n] for n in lines if n in every}
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    rows = text.translate(_DROPPED).split("\n")  # row i is line i + 1, without its spaces and tabs
    wanted = {n: _window(rows, n - 1) for n in lines if 0 < n <= len(rows)}
    counts = _counts(rows, wanted)
    return {n: f"{_window_hash(w)}:{counts[n]}" for n, w in wanted.items()}


#: Spaces and tabs, which the hash skips.
_DROPPED = {_SPACE: None, _TAB: None}
#: What follows the last line: the end mark, then zeros.
_END = chr(_EOF) + "\0" * _BLOCK


def _window(rows: list[str], index: int) -> str:
    """The 100 units from the start of row ``index``: its row and the next ones, joined by LF."""
    end, size = index, -1
    while size < _BLOCK and end < len(rows):
        size += len(rows[end]) + 1
        end += 1
    window = "\n".join(rows[index:end])
    return (window + _END if end == len(rows) else window)[:_BLOCK]


def _counts(rows: list[str], wanted: dict[int, str]) -> dict[int, int]:
    """How many lines up to each wanted one start with its window.

    A line can only start a wanted window if the line itself is the window's first line (a
    window holding a LF), or begins with the window (a line of 100 units or more), or is the
    last line (its window runs into the end mark and the zeros). Those lines are picked out in
    C, by set lookups of the rows and by their length; only their windows are made and compared
    in Python. The rows of a JSON export rarely repeat: few lines are looked at."""
    targets = set(wanted.values())
    first_rows = {w.partition("\n")[0] for w in targets if "\n" in w}
    last = max(wanted)
    candidates = set(compress(count(), map(first_rows.__contains__, rows[:last])))
    if len(first_rows) < len(targets):  # some window lies within one long line, or is the last
        candidates.update(compress(count(), map((_BLOCK - 1).__lt__, map(len, rows[:last]))))
        candidates.add(len(rows) - 1)
    seen: dict[str, int] = {}
    counts: dict[int, int] = {}
    for index in sorted(candidates):
        window = _window(rows, index)
        if window in targets:
            seen[window] = seen.get(window, 0) + 1
            if index + 1 in wanted:
                counts[index + 1] = seen[window]
    return counts


def files_line_hashes(root: Path, wanted: dict[str, set[int]]) -> dict[str, dict[int, str] | None]:
    """The hashes of the ``wanted`` lines of each text file (paths relative to ``root``; None for a
    file that cannot be read as UTF-8 text), computed once per content: Microsoft Graph's
    ``users.json`` is the same bytes in every environment's export, and results point into each."""
    out: dict[str, dict[int, str] | None] = {}
    by_content: dict[bytes, tuple[str, list[str]]] = {}
    for file in wanted:
        try:
            data = (root / file).read_bytes()
            text = data.decode("utf-8")
        except (OSError, ValueError):  # ValueError: not UTF-8, or a path no file system can hold
            out[file] = None
            continue
        by_content.setdefault(hashlib.sha256(data).digest(), (text, []))[1].append(file)
    for text, files in by_content.values():
        hashes = hashes_of_lines(text, set().union(*(wanted[f] for f in files)))
        for file in files:
            out[file] = {n: hashes[n] for n in wanted[file] if n in hashes}
    return out

