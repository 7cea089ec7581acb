"""The SARIF log's text: exactly ``json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True)``,
written by orjson when it can (json's indenting encoder is pure Python: a tenth of a large scan's
time went into it).

orjson writes the same indentation, separators and key order. It writes non-ASCII characters (and
DEL) as themselves, where ``ensure_ascii`` writes ``\\uXXXX`` escapes (surrogate pairs above U+FFFF):
they are escaped here. It writes some floats differently (``0.00001`` for ``1e-05``), so data
holding a float (PolicyKit's SARIF holds none) is written by json, and so is whatever orjson
refuses (a lone surrogate, an integer beyond 64 bits, a non-string key, nesting past 255).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["dumps"]

_NOT_PRINTABLE_ASCII = re.compile(r"[^\x00-\x7e]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def _has_float(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float):
            return True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return False


def dumps(data: Any) -> str:
    """``data`` as ``json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True)`` writes it."""
    if not _has_float(data):
        try:
            text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode("utf-8")
        except (TypeError, orjson.JSONEncodeError):
            pass
        else:
            return _NOT_PRINTABLE_ASCII.sub(_escape, text)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True)
