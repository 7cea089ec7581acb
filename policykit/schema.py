"""A tiny checker for the shapes of hand-written YAML (policy, estate file).

Errors name the key and its line, because these files are edited by hand and a typo
(``severty:``) must not silently turn a rule off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import PolicyError
from .parsing import Parsed

# A spec is a Python type, a tuple of types, a dict {key: spec} (closed mapping), a one-item list
# [spec] (list of), ("map", spec) (open mapping of str → spec) or a callable validator.
Spec = Any

_TYPE_NAMES = {str: "a string", bool: "true/false", int: "a whole number", float: "a number",
               list: "a list", dict: "a mapping", type(None): "null"}


def _type_name(spec: Any) -> str:
    if isinstance(spec, tuple):
        return " or ".join(_type_name(s) for s in spec)
    return _TYPE_NAMES.get(spec, getattr(spec, "__name__", str(spec)))


def check(parsed: Parsed, value: Any, spec: Spec, file: str, path: str = "", line: int | None = None) -> None:
    """Raise PolicyError if ``value`` does not fit ``spec``; ``line`` is the caller's best guess."""
    line = parsed.line_of(value) or line or 1
    where = path or "the document"
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise PolicyError(f"{where} must be a mapping", file=file, line=line)
        for key, item in value.items():
            key_line = parsed.key_line(value, key) or line
            if key not in spec:
                known = ", ".join(sorted(spec))
                raise PolicyError(f"unknown key '{key}' in {where} (known keys: {known})", file=file, line=key_line)
            check(parsed, item, spec[key], file, f"{path}.{key}" if path else key, key_line)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise PolicyError(f"{where} must be a list", file=file, line=line)
        for i, item in enumerate(value):
            check(parsed, item, spec[0], file, f"{where}[{i}]", parsed.item_line(value, i) or line)
    elif isinstance(spec, tuple) and spec and spec[0] == "map":
        if not isinstance(value, dict):
            raise PolicyError(f"{where} must be a mapping", file=file, line=line)
        for key, item in value.items():
            check(parsed, item, spec[1], file, f"{where}.{key}", parsed.key_line(value, key) or line)
    elif isinstance(spec, (type, tuple)):
        types = spec if isinstance(spec, tuple) else (spec,)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise PolicyError(f"{where} must be {_type_name(spec)}", file=file, line=line)
    elif callable(spec):
        problem = spec(value)
        if problem:
            raise PolicyError(f"{where} {problem}", file=file, line=line)


def one_of(*choices: str) -> Callable[[Any], str | None]:
    def validate(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(choices)} (got {value!r})"
        return None
    return validate
