"""The one place where regular expressions written by users run: never for long, never a crash.

Policy patterns (``identities.technical_accounts.patterns``, ``platform_applications.name_patterns``)
and the patterns rules pass to ``regex_match`` (PPK104's naming conventions, PPK501/PPK503's
``ignore_value_patterns``) are searched in names and values taken from the inputs. Python's own
``re`` backtracks: ``(a+)+$`` against 35 ``a`` and a ``b`` runs for hours, and nothing can
interrupt it. So these patterns run on **RE2** (``google-re2``), whose matching time is linear in
the pattern and the text for every pattern, whatever the input.

Why RE2 and not the alternatives:

- a time limit (``regex`` with ``timeout=``) makes the verdict depend on the machine's speed and
  load: the same scan could flag an account on a laptop and miss it on a busy CI runner, and a
  thousand names times a slow pattern still takes a thousand timeouts;
- refusing "known catastrophic shapes" is a blacklist: nested quantifiers are easy to spot,
  overlapping alternatives (``(a|a)*$``, ``(\\w|\\d)+$``) are not.

RE2 has no lookarounds, backreferences, ``\\Z``, atomic groups, possessive quantifiers or verbose
mode: a pattern using them is refused with a clear error, never run on another engine. Patterns
are documented as Python regular expressions, so a pattern must also compile with Python's ``re``:
RE2-only syntax (``\\pL``, ``\\Q...\\E``, ``(?U)``) and oversized repeats (``a{99999999999}``,
which RE2 would read as literal text) are refused too. Known differences on the syntax both
accept: RE2's ``\\w``, ``\\d``, ``\\s`` and ``\\b`` are ASCII-only, and ``$`` matches only at the
very end (Python's also matches before a final newline).
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import Any

import re2

__all__ = ["Pattern", "PatternError", "compile_pattern", "pattern_problem", "search"]

#: Memory RE2 may use to compile and run one pattern; a larger pattern is refused ("too large").
MAX_MEMORY = 8 << 20


class PatternError(ValueError):
    """A pattern that is not valid, or uses syntax the linear-time engine does not support."""

    def __init__(self, pattern: Any, reason: str) -> None:
        super().__init__(reason)
        self.pattern = pattern
        self.reason = reason


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False      # RE2 would print every refused pattern on stderr
    options.never_capture = True    # only "does it match" is asked: faster, less memory
    options.max_mem = MAX_MEMORY
    return options


_OPTIONS = _options()


class Pattern:
    """A compiled user pattern; :meth:`search` runs in time linear in the text."""

    __slots__ = ("_compiled", "text")

    def __init__(self, text: str, compiled: Any) -> None:
        self.text = text
        self._compiled = compiled

    def search(self, value: str) -> bool:
        """Whether the pattern matches anywhere in ``value`` (lone surrogates never raise)."""
        return self._compiled.search(value.encode("utf-8", "surrogatepass")) is not None

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


def _python_problem(text: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Python 3.10 only warns about misplaced global flags
        try:
            re.compile(text)
        except re.error as exc:
            return f"is not a valid regular expression ({exc})"
        except OverflowError:
            return "is not a valid regular expression (a repeat count is too large)"
        except RecursionError:
            return "is not a valid regular expression (nested too deeply)"
    return None


def _re2_reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if "too large" in text or "too big" in text:
        return "is too large for the linear-time matcher (RE2: pattern too large)"
    if "repetition" in text:
        return f"repeats more than the linear-time matcher allows (at most 1000 in all; RE2: {text})"
    return (f"uses syntax the linear-time matcher does not support (RE2: {text}); lookarounds, "
            "backreferences, \\Z, atomic groups, possessive quantifiers and (?x) are not available")


def compile_pattern(text: str) -> Pattern:
    """Compile a user pattern once (cached); raise :class:`PatternError` with a readable reason."""
    if not isinstance(text, str):
        raise PatternError(text, "must be a string")
    return _compile(text)


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Pattern:
    problem = _python_problem(text)
    if problem:
        raise PatternError(text, problem)
    try:
        compiled = re2.compile(text, _OPTIONS)
    except re2.error as exc:
        hint = " (to match nothing, write [^\\s\\S])" if text == "(?!)" else ""
        raise PatternError(text, _re2_reason(exc) + hint) from None
    return Pattern(text, compiled)


def pattern_problem(text: Any) -> str | None:
    """Why ``text`` cannot be used as a pattern (a phrase for "<where> <problem>"), or None."""
    try:
        compile_pattern(text)
    except PatternError as exc:
        return exc.reason
    return None


def search(pattern: str | Pattern, value: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``value``; never hangs, raises only PatternError."""
    compiled = pattern if isinstance(pattern, Pattern) else compile_pattern(pattern)
    return compiled.search(value)
