"""Names that satisfy a naming convention: the suggestion a finding about a name makes must itself
pass the rule (PPK104 with a policy's ``display_name_pattern``)."""

from __future__ import annotations

from . import patterns

__all__ = ["suggest_name"]

_META = set(".^$*+?()[]{}|\\")
_QUANTIFIERS = set("*?{+")
_SEPARATORS = (" ", " | ", " - ", "-", "_", "")


def _flags_removed(pattern: str) -> str:
    """The pattern without leading inline flags such as ``(?i)``."""
    while pattern.startswith("(?") and ")" in pattern and pattern[2:pattern.index(")")].isalpha():
        pattern = pattern[pattern.index(")") + 1:]
    return pattern


def _literal_run(text: str) -> str:
    """The literal characters at the start of ``text`` (escapes read as the character)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
            out.append(text[i + 1])
            i += 2
            continue
        if ch in _META:
            if ch in _QUANTIFIERS and out:
                out.pop()  # 'NW-?' makes the '-' optional: not part of the literal
            break
        out.append(ch)
        i += 1
    return "".join(out)


def affixes(pattern: str) -> tuple[str, str]:
    """The literal prefix after ``^`` and the literal suffix before ``$``, when the pattern has them."""
    body = _flags_removed(pattern)
    prefix = _literal_run(body[1:]) if body.startswith("^") else ""
    suffix = ""
    if body.endswith("$") and not body.endswith("\\$"):
        reversed_run = _literal_run(body[:-1][::-1].replace("\\", ""))
        suffix = reversed_run[::-1] if reversed_run and not any(c in _META for c in reversed_run) else ""
    return prefix, suffix


def suggest_name(pattern: str, parts: list[str]) -> str | None:
    """A name made of ``parts`` (joined by a space, ``|``, ``-``, ``_``...), with the pattern's
    literal prefix and suffix, that the pattern accepts; None when no such name does."""
    words = [p for p in parts if p]
    prefix, suffix = affixes(pattern)
    for sep in _SEPARATORS:
        base = sep.join(words)
        for candidate in (base, prefix + base, base + suffix, prefix + base + suffix):
            if candidate and patterns.search(pattern, candidate):
                return candidate
    return None
