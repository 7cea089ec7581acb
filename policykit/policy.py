"""The policy: which rules run, at which severity, with which parameters, where, and waivers.

A policy file ``extends`` the built-in ``policies/default.yaml`` unless it says otherwise
(``extends: none`` or a path). Mappings merge key by key; lists replace. Every file is checked
on its own, so an error names the file and line where the typo is.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from . import patterns
from .errors import PolicyError
from .models import LEVELS
from .parsing import Parsed, parse_yaml
from .platform import norm_guid
from .reading import read_file
from .schema import check, one_of
from .waivers import WAIVER_SPEC, Waiver, waivers_of


def _any(_: Any) -> None:
    return None


def _regex(value: Any) -> str | None:
    """A pattern searched in names from the inputs: it runs on RE2 (see :mod:`policykit.patterns`),
    so one it cannot run in linear time is refused here, at the line that sets it."""
    return patterns.pattern_problem(value)


POLICY_SPEC = {
    "extends": str,
    "description": str,
    "rule_packs": [str],
    "identities": {
        "technical_accounts": {"patterns": [_regex], "accounts": [str]},
        "platform_applications": {"names": [str], "name_patterns": [_regex], "domains": [str],
                                  "application_ids": [str]},
    },
    "rules": ("map", {
        "enabled": bool,
        "severity": one_of(*LEVELS),
        "parameters": ("map", _any),
        "environments": [str],
    }),
    "catalog": {
        "connectors": ("map", {"display_name": str, "tier": one_of("Standard", "Premium"), "custom": bool,
                               "service_principal": bool, "m365_service": (str, type(None))}),
        "plan_rights": ("map", str),
        "skus": ("map", {"sku_id": str, "product": str, "service_plans": [str]}),
    },
    "waivers": [WAIVER_SPEC],
}


@dataclass
class RuleSettings:
    enabled: bool = True
    severity: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    environments: list[str] | None = None  # names, or "type:Production"


@dataclass
class Policy:
    rules: dict[str, RuleSettings] = field(default_factory=dict)
    rule_lines: dict[str, dict] = field(default_factory=dict)   # rule key → {file, line} for errors
    technical_patterns: list[str] = field(default_factory=list)
    technical_accounts: list[str] = field(default_factory=list)
    platform_names: list[str] = field(default_factory=list)
    platform_name_patterns: list[str] = field(default_factory=list)
    platform_domains: list[str] = field(default_factory=list)
    platform_app_ids: list[str] = field(default_factory=list)
    connector_overrides: dict[str, dict] = field(default_factory=dict)
    plan_rights_overrides: dict[str, str] = field(default_factory=dict)
    sku_overrides: dict[str, dict] = field(default_factory=dict)
    waivers: list[Waiver] = field(default_factory=list)
    files: list[str] = field(default_factory=list)   # policy files read, outermost last
    # Local rule pack folders: (path, as displayed, {file, line} of the entry naming it).
    rule_packs: list[tuple[Path, str, dict]] = field(default_factory=list)
    # Each file as parsed, default first: the checks against the rules name their lines.
    chain: list[tuple[Parsed, str]] = field(default_factory=list, repr=False, compare=False)
    # Answers already given: the same names come back in every environment (Graph is tenant-wide).
    _answers: dict[tuple, bool] = field(default_factory=dict, repr=False, compare=False)

    def settings_for(self, rule_id: str, rule_name: str) -> RuleSettings:
        """Settings by id, else by name, else defaults."""
        return self.rules.get(rule_id) or self.rules.get(rule_name) or RuleSettings()

    def is_technical(self, *identifiers: str | None) -> bool:
        key = ("technical", *identifiers)
        if key not in self._answers:
            self._answers[key] = self._is_technical(identifiers)
        return self._answers[key]

    def _is_technical(self, identifiers: tuple[str | None, ...]) -> bool:
        names = [i for i in identifiers if i]
        lowered = {a.lower() for a in self.technical_accounts}
        if any(n.lower() in lowered for n in names):
            return True
        return any(patterns.search(p, n) for p in self.technical_patterns for n in names)

    def is_platform(self, name: str | None, domain: str | None, application_id: str | None) -> bool:
        key = ("platform", name, domain, application_id)
        if key not in self._answers:
            self._answers[key] = self._is_platform(name, domain, application_id)
        return self._answers[key]

    def _is_platform(self, name: str | None, domain: str | None, application_id: str | None) -> bool:
        if application_id and norm_guid(application_id) in {norm_guid(a) for a in self.platform_app_ids}:
            return True
        if name and (name in self.platform_names or any(patterns.search(p, name) for p in self.platform_name_patterns)):
            return True
        if domain:
            low = domain.lower()
            if low in {d.lower() for d in self.platform_names}:
                return True
            if any(low.endswith("@" + d.lower().lstrip("@")) for d in self.platform_domains):
                return True
        return False

    def waiver_for(self, rule_id: str, rule_name: str, key: str, environment: str | None,
                   today: _dt.date | None = None) -> Waiver | None:
        today = today or _dt.date.today()
        for w in self.waivers:
            if w.matches(rule_id, rule_name, key, environment, today):
                return w
        return None


# --------------------------------------------------------------------------- loading

def default_policy_text() -> tuple[bytes, str]:
    """The built-in default policy: from the wheel, or from the source tree in a checkout."""
    packaged = resources.files("policykit").joinpath("policies").joinpath("default.yaml")
    if packaged.is_file():
        return packaged.read_bytes(), "policies/default.yaml"
    source = Path(__file__).resolve().parent.parent / "policies" / "default.yaml"
    return source.read_bytes(), "policies/default.yaml"


def _read(path: Path | None, display: str) -> tuple[Parsed, str]:
    if path is None:
        data, display = default_policy_text()
    else:
        data = read_file(path, display)
    parsed = parse_yaml(data, file=display)
    if parsed.value is None:
        parsed.value = {}
    check(parsed, parsed.value, POLICY_SPEC, display)
    return parsed, display


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _chain(path: Path | None, display: str, seen: set[Path]) -> list[tuple[Parsed, str, Path | None]]:
    parsed, display = _read(path, display)
    chain: list[tuple[Parsed, str, Path | None]] = [(parsed, display, path)]
    if path is None:
        return chain  # the default extends nothing
    ext = parsed.value.get("extends", "default")
    if ext == "default":
        return _chain(None, "", seen) + chain
    if ext == "none":
        return chain
    target = (path.parent / ext).resolve()
    if target in seen:
        raise PolicyError(f"'extends' makes a cycle through {ext}", file=display,
                          line=parsed.key_line(parsed.value, "extends"))
    seen.add(target)
    if not target.is_file():
        raise PolicyError(f"extended policy not found: {ext}", file=display,
                          line=parsed.key_line(parsed.value, "extends"))
    ext_display = str(Path(display).parent / ext).replace("\\", "/")
    return _chain(target, ext_display, seen) + chain


def _display_join(display: str, rel: str) -> str:
    return str(Path(display).parent / rel).replace("\\", "/")


def local_packs(chain: list[tuple[Parsed, str, Path | None]]) -> list[tuple[Path, str, dict]]:
    """The ``rule_packs:`` folders of every policy file, relative to the file that names them."""
    out = []
    for parsed, display, file in chain:
        entries = parsed.value.get("rule_packs") or [] if file is not None else []
        for i, rel in enumerate(entries):
            line = parsed.item_line(entries, i) or parsed.key_line(parsed.value, "rule_packs") or 1
            folder = file.parent / rel
            if not rel.strip() or not folder.is_dir():
                raise PolicyError(f"rule_packs[{i}]: folder not found: {rel}", file=display, line=line)
            out.append((folder, _display_join(display, rel), {"file": display, "line": line}))
    return out


def load_policy(path: Path | None = None, display: str | None = None) -> Policy:
    """Load the default policy, or ``path`` merged over what it extends."""
    chain = _chain(path, display or (str(path) if path else ""), {path.resolve()} if path else set())
    merged: dict = {}
    rule_lines: dict[str, dict] = {}
    for parsed, disp, _ in chain:
        merged = _merge(merged, parsed.value)
        for key in (parsed.value.get("rules") or {}):
            rule_lines[key] = {"file": disp, "line": parsed.key_line(parsed.value["rules"], key) or 1}
    policy = Policy(files=[d for _, d, _ in chain], rule_lines=rule_lines, chain=[(p, d) for p, d, _ in chain])
    policy.rule_packs = local_packs(chain)
    for key, raw in (merged.get("rules") or {}).items():
        raw = raw or {}
        policy.rules[key] = RuleSettings(
            enabled=raw.get("enabled", True), severity=raw.get("severity"),
            parameters=dict(raw.get("parameters") or {}), environments=raw.get("environments"))
    ids = merged.get("identities") or {}
    tech = ids.get("technical_accounts") or {}
    plat = ids.get("platform_applications") or {}
    policy.technical_patterns = list(tech.get("patterns") or [])
    policy.technical_accounts = list(tech.get("accounts") or [])
    policy.platform_names = list(plat.get("names") or [])
    policy.platform_name_patterns = list(plat.get("name_patterns") or [])
    policy.platform_domains = list(plat.get("domains") or [])
    policy.platform_app_ids = list(plat.get("application_ids") or [])
    cat = merged.get("catalog") or {}
    policy.connector_overrides = dict(cat.get("connectors") or {})
    policy.plan_rights_overrides = dict(cat.get("plan_rights") or {})
    policy.sku_overrides = dict(cat.get("skus") or {})
    for parsed, disp, _ in chain:
        policy.waivers += waivers_of(parsed, disp)
    return policy
