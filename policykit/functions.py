"""JMESPath functions every rule can call, besides JMESPath's own.

``self.parameters`` holds the running rule's parameters (from the rule and the policy).
Plugins add functions through the ``policykit_jmespath_functions`` hook.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from jmespath import functions as jfunctions

from .errors import RuleError
from .platform import DEPTHS as DEPTH
from .platform import is_placeholder


_SECRET_NAME = re.compile(r"secret|password|passwd|pwd|apikey|api_key|key|token|connectionstring|connstr|sas",
                          re.IGNORECASE)
_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$")
_SAS = re.compile(r"[?&]sig=[A-Za-z0-9%/+=]{16,}", re.IGNORECASE)
_CONN = re.compile(r"(AccountKey|SharedAccessKey|Password|Pwd)\s*=\s*[^;\s]{4,}", re.IGNORECASE)
# Shapes that are identifiers, not credentials: URLs, e-mail addresses and UPNs, numbers,
# booleans, GUIDs (with or without dashes), host names (org names such as unq…crm), Teams ids.
_NOT_SECRET = re.compile(r"^(https?://\S+|[\w.+-]+@[\w.-]+|true|false|yes|no|\d+(\.\d+)?|"
                         r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}|"
                         r"[a-z0-9-]+(\.[a-z0-9-]+)+|\d+:[\w.-]+@thread\.\w+)$", re.IGNORECASE)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def secret_reason(name: str | None, value: Any) -> str | None:
    """Why ``value`` (named ``name``) looks like a secret, or None.

    A value shape is enough (JWT, SAS signature, connection string with a key or password,
    a long high-entropy token); a secret-sounding name needs a literal value that is not an
    obvious non-secret (URL, e-mail, number, GUID, boolean) or a pipeline placeholder.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or is_placeholder(text) or text.startswith("@"):  # @parameters(...) expressions
        return None
    if _JWT.match(text):
        return "a JSON Web Token"
    if _SAS.search(text):
        return "a SAS signature (sig=)"
    if _CONN.search(text):
        return "a connection string with a key or password"
    compact = text.replace("-", "").replace("_", "")
    if len(text) >= 20 and " " not in text and not _NOT_SECRET.match(text) and entropy(compact) >= 4.0 \
            and re.search(r"[0-9]", text) and re.search(r"[A-Za-z]", text):
        return "a high-entropy token"
    if name and _SECRET_NAME.search(name) and not _NOT_SECRET.match(text) and " " not in text and len(text) >= 6:
        return f"a literal value in '{name}'"
    return None


def redact(value: Any) -> str:
    """First two characters and the length: enough to recognize, useless to an attacker."""
    text = str(value or "")
    return f"{text[:2]}…({len(text)} chars)"


class BaseFunctions(jfunctions.Functions):
    """The engine sets ``parameters`` on each instance before running a rule's query."""

    parameters: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self.parameters = {}

    @jfunctions.signature({"types": ["string"]})
    def _func_param(self, name: str) -> Any:
        if name not in self.parameters:
            raise RuleError("?", f"unknown parameter {name!r}")
        return self.parameters[name]

    @jfunctions.signature({"types": ["object", "null"]}, {"types": ["string", "null"]})
    def _func_get(self, obj: dict | None, key: str | None) -> Any:
        """``get(object, key)``: a key computed at run time (JMESPath only has literal keys)."""
        return obj.get(key) if obj is not None and key is not None else None

    @jfunctions.signature({"types": ["string", "null"]})
    def _func_lower(self, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @jfunctions.signature({"types": ["string"]}, {"types": ["string", "null"]})
    def _func_regex_match(self, pattern: str, value: str | None) -> bool:
        try:
            return value is not None and re.search(pattern, value) is not None
        except re.error as exc:
            raise RuleError("?", f"invalid regular expression {pattern!r}: {exc}") from None

    @jfunctions.signature({"types": ["array"]})
    def _func_unique(self, values: list) -> list:
        out, seen = [], set()
        for v in values:
            marker = repr(v)
            if marker not in seen:
                seen.add(marker)
                out.append(v)
        return out

    @jfunctions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_intersects(self, a: list, b: list) -> bool:
        return any(x in b for x in a)

    @jfunctions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_difference(self, a: list, b: list) -> list:
        """Items of ``a`` not in ``b``, in ``a``'s order."""
        return [x for x in a if x not in b]

    @jfunctions.signature({"types": ["string", "null"]})
    def _func_depth(self, level: str | None) -> int:
        """``depth('Global')`` → 4; None/Basic/Local/Deep/Global → 0–4."""
        return DEPTH.get(level or "None", 0)

    @jfunctions.signature({"types": ["array"]}, {"types": ["object", "null"]})
    def _func_exceeds_baseline(self, privileges: list, baseline: dict | None) -> list:
        """Privileges absent from ``baseline`` ({name: max level}) or deeper than it allows."""
        if baseline is None:
            return []
        lowered = {k.lower(): v for k, v in baseline.items()}
        return [p for p in privileges if isinstance(p, dict)
                and DEPTH.get(p.get("level") or "None", 0) > DEPTH.get(lowered.get((p.get("name") or "").lower(), "None"), 0)]

    @jfunctions.signature({"types": ["string", "null"]}, {"types": ["string", "number", "boolean", "null"]})
    def _func_secret_reason(self, name: str | None, value: Any) -> str | None:
        """Why a named value looks like a secret (see :func:`secret_reason`), or null."""
        return secret_reason(name, value)

    @jfunctions.signature({"types": ["string", "number", "boolean", "null"]})
    def _func_redact(self, value: Any) -> str:
        return redact(value)
