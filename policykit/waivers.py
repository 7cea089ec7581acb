"""Waivers as data: who accepted which finding, why, under which ticket, and until when.

A waiver in a policy file (``waivers:``) names a rule (id or name), a ``key`` (a glob over the
finding's logical key), an optional ``environment``, and — all required — the ``reason``, the
``owner`` who answers for the accepted risk, the ``ticket`` that records it and the date it
``expires`` (the last day it waives); ``approved_by`` is optional. An old waiver without
``owner``, ``ticket`` or ``expires`` is an error naming the file and line and what to add.

While a scan runs, a :class:`Ledger` judges each finding against the waivers: a waiver in force
waives it (the finding keeps the waiver's fields as plain data, ``Finding.waiver``); a waiver past
its date no longer does — the finding is reported, and says "waiver expired on <date> (owner,
ticket)". After the scan each declared waiver gets a state (:meth:`Ledger.states`):

- ``expired``: past its date (whatever it matched);
- ``stale``: it matched no finding (the rule did not run, failed, or the key matches nothing);
- ``expiring``: it expires within ``warn_expiry_days`` days (0 = today is its last day);
- ``active``: in force, matched at least one finding.

Waived is never counted as passed: a rule whose only findings are waived did not pass.
The current date is given (``today``), never read here, so the same inputs give the same states.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from .errors import PolicyError
from .parsing import Parsed

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

#: Days before its date a waiver is reported as expiring (``--warn-expiry-days``).
WARN_EXPIRY_DAYS = 30

#: What to write for each required field, in the error that says it is missing.
REQUIRED = {
    "rule": "rule: <rule id>",
    "key": "key: <glob over finding keys>",
    "reason": "reason: <why it is accepted>",
    "owner": "owner: <who answers for it>",
    "ticket": "ticket: <change or risk record>",
    "expires": "expires: YYYY-MM-DD (its last day)",
}

#: The states a declared waiver can be in, most urgent first.
STATES = ("expired", "stale", "expiring", "active")


def date_problem(value: Any) -> str | None:
    """None for a date written ``YYYY-MM-DD`` that exists; else what is wrong."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return "must be a date YYYY-MM-DD"
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return f"must be a date YYYY-MM-DD ({value} is no day of the calendar)"
    return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    return "must not be empty" if not value.strip() else None


#: The shape of one waiver (policy.py's ``POLICY_SPEC`` uses it): any other key is an error.
WAIVER_SPEC = {"rule": _text, "key": _text, "environment": str, "reason": _text, "owner": _text,
               "ticket": _text, "expires": date_problem, "approved_by": _text}


@dataclass
class Waiver:
    rule: str
    key: str                # fnmatch pattern over the finding's logical key
    reason: str
    environment: str | None = None
    expires: str | None = None
    source: dict | None = None
    owner: str | None = None
    ticket: str | None = None
    approved_by: str | None = None

    def applies(self, rule_id: str, rule_name: str, key: str, environment: str | None) -> bool:
        """The waiver names this finding (whatever its date)."""
        if self.rule not in (rule_id, rule_name):
            return False
        if self.environment and self.environment != environment:
            return False
        return fnmatch.fnmatchcase(key, self.key)

    def expired(self, today: _dt.date) -> bool:
        return bool(self.expires) and _dt.date.fromisoformat(str(self.expires)) < today

    def days_left(self, today: _dt.date) -> int | None:
        return (_dt.date.fromisoformat(str(self.expires)) - today).days if self.expires else None

    def matches(self, rule_id: str, rule_name: str, key: str, environment: str | None, today: _dt.date) -> bool:
        """The waiver waives this finding today."""
        return self.applies(rule_id, rule_name, key, environment) and not self.expired(today)

    def data(self) -> dict[str, Any]:
        """The waiver as plain data (reports, SARIF, evidence): only the fields it has."""
        out = {k: getattr(self, k) for k in ("rule", "key", "environment", "reason", "owner", "ticket",
                                             "expires", "approved_by")}
        out = {k: v for k, v in out.items() if v not in (None, "")}
        if self.source:
            out["source"] = dict(self.source)
        return out


def who(data: dict[str, Any]) -> str:
    """``owner, ticket`` of a waiver's data: the people and the record to ask."""
    return ", ".join(str(data[k]) for k in ("owner", "ticket") if data.get(k))


def expired_text(data: dict[str, Any]) -> str:
    """``waiver expired on 2026-11-30 (owner, ticket)``: what a report says beside the finding."""
    return f"waiver expired on {data.get('expires')} ({who(data)})"


def waivers_of(parsed: Parsed, display: str) -> list[Waiver]:
    """The waivers one policy file declares (its shape already checked against WAIVER_SPEC)."""
    out = []
    for i, raw in enumerate(parsed.value.get("waivers") or []):
        line = parsed.line_of(raw) or parsed.item_line(parsed.value["waivers"], i) or 1
        missing = [k for k in REQUIRED if k not in raw]
        if missing:
            names = ", ".join(f"'{k}'" for k in missing)
            add = ", ".join(REQUIRED[k] for k in missing)
            raise PolicyError(f"waiver without {names}: add {add}", file=display, line=line)
        out.append(Waiver(rule=raw["rule"], key=raw["key"], reason=raw["reason"], environment=raw.get("environment"),
                          expires=raw["expires"], owner=raw["owner"], ticket=raw["ticket"],
                          approved_by=raw.get("approved_by"), source={"file": display, "line": line}))
    return out


class Ledger:
    """Judges findings against the waivers and counts what each waiver matched."""

    def __init__(self, waivers: list[Waiver], today: _dt.date) -> None:
        self.waivers = list(waivers)
        self.today = today
        self.matched = [0] * len(self.waivers)
        self._expired = [w.expired(today) for w in self.waivers]

    def judge(self, rule_id: str, rule_name: str, key: str, environment: str | None) -> dict[str, Any] | None:
        """The waiver data for one finding: ``status`` ``waived`` (the first waiver in force that
        names it) or ``expired`` (only expired waivers name it); None when no waiver names it."""
        active = expired = None
        for i, waiver in enumerate(self.waivers):
            if not waiver.applies(rule_id, rule_name, key, environment):
                continue
            self.matched[i] += 1
            if self._expired[i]:
                expired = i if expired is None else expired
            elif active is None:
                active = i
        if active is not None:
            return {**self.waivers[active].data(), "status": "waived"}
        if expired is not None:
            return {**self.waivers[expired].data(), "status": "expired"}
        return None

    def states(self, rules: dict[str, str], ran: set[str], failed: set[str],
               warn_expiry_days: int = WARN_EXPIRY_DAYS) -> list[dict[str, Any]]:
        """Every declared waiver with its ``state``, ``matched`` count, ``days_left`` and, for a
        stale one, ``why``. ``rules`` maps rule ids and names to ids; ``ran`` and ``failed`` are ids."""
        out = []
        for i, waiver in enumerate(self.waivers):
            left = waiver.days_left(self.today)
            state = ("expired" if self._expired[i] else "stale" if not self.matched[i]
                     else "expiring" if left is not None and left <= warn_expiry_days else "active")
            entry = {**waiver.data(), "state": state, "matched": self.matched[i], "days_left": left}
            if not self.matched[i]:
                entry["why"] = _why_unmatched(rules.get(waiver.rule), ran, failed)
            out.append(entry)
        return out


def _why_unmatched(rule_id: str | None, ran: set[str], failed: set[str]) -> str:
    if rule_id is None or rule_id not in ran:
        return f"rule {rule_id} did not run (disabled by the policy)" if rule_id else "its rule did not run"
    if rule_id in failed:
        return f"rule {rule_id} failed"
    return "it matches no finding"


def state_text(entry: dict[str, Any]) -> str:
    """One line on a declared waiver that needs attention (expired, stale, expiring)."""
    what = f"{entry.get('rule')} {entry.get('key')}" + (f" in {entry['environment']}" if entry.get("environment") else "")
    owner = f" ({who(entry)})" if who(entry) else ""
    state = entry.get("state")
    if state == "expired":
        again = entry.get("matched") or 0
        return (f"waiver {what} expired on {entry.get('expires')}{owner}: "
                f"{again} finding{'' if again == 1 else 's'} reported again")
    if state == "stale":
        return f"stale waiver {what}{owner}: {entry.get('why') or 'it matches no finding'}; remove it or correct it"
    if state == "expiring":
        left = entry.get("days_left") or 0
        when = "today is its last day" if left == 0 else f"in {left} day{'' if left == 1 else 's'}"
        return f"waiver {what} expires on {entry.get('expires')}, {when}{owner}: renew it or fix the finding"
    return f"waiver {what}{owner} in force until {entry.get('expires')}"


def attention(waivers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The declared waivers that need attention, most urgent first, in declaration order."""
    return sorted((w for w in waivers if w.get("state") in STATES[:3]), key=lambda w: STATES.index(w["state"]))
