"""PolicyKit's exceptions, all in one place.

Every error the user can cause derives from :class:`PolicyKitError`; the CLI turns each into a
single line on stderr and exit code 2, never a traceback.

- :class:`InputError` — an input file is missing, malformed, hostile or of the wrong shape.
  Carries the file, the entry inside a zip and the line where known.
- :class:`PolicyError` — the policy (or the estate file) asks for something invalid:
  an unknown key, a wrong type, an unknown rule.
- :class:`RuleError` — a rule is broken (invalid JMESPath, unknown function, bad template).
  The engine records it and goes on with the other rules.
- :class:`UsageError` — the command line is wrong.
- :class:`OutputError` — the report cannot be written.

The text of an error comes from the inputs (names, paths, values), which whoever wrote them
controls.  :func:`one_line` is the one function every human-facing error path goes through: it
makes the text one line of at most ``limit`` characters with every control character, bidi
control and lone surrogate escaped, so an error can neither forge other lines, drive the
terminal (ESC, OSC 8 links, CR overprinting), reorder what is displayed, nor fail to encode.
:func:`escape_controls` does the escaping alone, for text of any length (the text report).
"""

from __future__ import annotations

import re

#: The longest error line :func:`one_line` returns by default, in characters.
LINE_LIMIT = 300

#: C0 controls (TAB, LF, CR, ESC, NUL...), DEL and C1 controls (CSI U+009B, NEL U+0085...);
#: the bidi controls (LRM, RLM, ALM, embeddings, overrides, isolates) that reorder what a reader
#: sees; the line and paragraph separators that some readers treat as line breaks; and lone
#: surrogates, which exist in Python strings (JSON ``"\ud800"``, non-UTF-8 file names decoded
#: with surrogateescape) but cannot be encoded as UTF-8.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte of a non-UTF-8 file name
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with control, bidi and line-separator characters and lone surrogates written as
    ``\\x1b``, ``\\n``, ``\\u202e``...; a surrogate-escaped byte of a file name as ``\\xff``.
    Printable text (any script, emoji) is unchanged; the result always encodes as UTF-8."""
    return _UNSAFE.sub(lambda m: _escape_char(m.group()), text)


def one_line(text: object, limit: int = LINE_LIMIT) -> str:
    """``text`` as one safe line for a person: controls escaped (see :func:`escape_controls`),
    surrounding whitespace stripped, and cut to ``limit`` characters ending with "…" (never in
    the middle of an escape)."""
    text = str(text).strip()
    pieces = [_escape_char(ch) if _UNSAFE.match(ch) else ch for ch in text[: limit + 1]]
    if len(text) <= limit and sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    out, size = [], 0
    for piece in pieces:
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out).rstrip() + "…"


def no_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so it encodes as UTF-8 and, in JSON,
    is accepted by strict parsers (which reject a ``\\ud800`` escape with no partner)."""
    return _SURROGATE.sub("\ufffd", text)


def jmespath_error_line(exc: Exception) -> str:
    """One line for a JMESPath error.  Its parse errors span three lines (message, expression,
    a caret); keep the message and say where instead."""
    first = str(exc).split("\n", 1)[0].strip()
    for tail in (", for expression:", ":"):
        first = first.removesuffix(tail)
    position = getattr(exc, "lex_position", None)
    if isinstance(position, int) and "column" not in first:
        first += f" (at column {position})"
    return first


class PolicyKitError(Exception):
    """Base class of every error PolicyKit reports to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return one_line(self.message)


class InputError(PolicyKitError):
    """An input cannot be read: ``file[:entry][:line]: message``."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        entry: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.entry = entry

    def located(self, file: str | None = None, entry: str | None = None) -> InputError:
        """Fill in the file (and zip entry) when the raiser did not know them."""
        if self.file is None and file is not None:
            self.file = file
        if self.entry is None and entry is not None:
            self.entry = entry
        return self

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.entry:
            parts.append(self.entry)
        if self.line:
            parts.append(str(self.line))
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return one_line(f"{where}: {self.message}" if where else self.message)


class PolicyError(InputError):
    """The policy or estate file is invalid (unknown key, wrong type, unknown rule)."""


class RuleError(PolicyKitError):
    """A rule cannot be compiled or evaluated."""

    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id
        self.reason = message


class UsageError(PolicyKitError):
    """The command line is wrong."""


class OutputError(PolicyKitError):
    """The report cannot be written (a folder in the way, no permission, disk full)."""
