"""Compliance control mappings: which controls of which framework a rule checks.

A rule names them in its ``rule.yaml`` (``controls: [{framework, id, reason}]``). The frameworks
PolicyKit's own rules use — ISO/IEC 27001:2022 Annex A, NIST SP 800-53 Rev. 5, the SOC 2 trust
services criteria, CIS Controls v8, the Microsoft cloud security benchmark and CISA SCuBA's
Power Platform baseline — are listed with their sources in ``policykit/data/controls.json``; a
control of one of them must be in that list (a typo like ``A.5.51`` is an error naming the line).
Any other framework name is an organization's own: its ids are taken as given.

The reports group rules by control (``policykit scan --format html|markdown --by control``).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from .models import Rule

__all__ = ["catalog", "control_problem", "framework_name", "headings", "label", "title"]


@functools.lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, Any]]:
    """``{framework: {name, source, url, controls: {id: title}}}`` from ``data/controls.json``."""
    text = resources.files("policykit").joinpath("data").joinpath("controls.json").read_text(encoding="utf-8")
    return json.loads(text)["frameworks"]


def control_problem(control: dict[str, str]) -> str | None:
    """What is wrong with one mapping, or ``None``: an unknown id of a framework PolicyKit ships."""
    framework = catalog().get(control["framework"])
    if framework is None or control["id"] in framework["controls"]:
        return None
    return (f"{control['id']} is not a control of {framework['name']} that PolicyKit knows "
            f"(known: {', '.join(framework['controls'])}; see policykit/data/controls.json)")


def framework_name(framework: str) -> str:
    """The framework's display name; an organization's own framework keeps its id."""
    return catalog().get(framework, {}).get("name", framework)


def title(framework: str, control_id: str) -> str:
    """The control's title, or ``""`` when PolicyKit does not know the framework."""
    return catalog().get(framework, {}).get("controls", {}).get(control_id, "")


def label(control: dict[str, str]) -> str:
    """``ISO/IEC 27001:2022 Annex A A.5.15 Access control``: framework, id and title."""
    text = f"{framework_name(control['framework'])} {control['id']}"
    name = title(control["framework"], control["id"])
    return f"{text} {name}" if name else text


def _sort_key(heading: tuple[str, str]) -> tuple:
    """Frameworks by name; within one, ids in natural order (A.5.9 before A.5.15, AC-6 before AC-14)."""
    framework, control_id = heading
    parts = []
    for piece in control_id.replace("(", ".").replace(")", "").replace("-", ".").split("."):
        parts.append((0, int(piece), "") if piece.isdigit() else (1, 0, piece))
    return (framework_name(framework).casefold(), tuple(parts))


def headings(rule: Rule | None) -> list[str]:
    """The group headings of a rule in a ``--by control`` view, one per control it maps to."""
    if rule is None:
        return []
    keyed = sorted({(c["framework"], c["id"]) for c in rule.controls}, key=_sort_key)
    return [label({"framework": f, "id": i}) for f, i in keyed]


def ordered(groups: dict[str, Any]) -> list[str]:
    """Group headings (labels) in framework, then natural id order; ``(none)`` last."""
    index = {}
    for framework, info in catalog().items():
        for control_id in info["controls"]:
            index[label({"framework": framework, "id": control_id})] = _sort_key((framework, control_id))
    known = sorted((h for h in groups if h != "(none)"), key=lambda h: (index.get(h, (h.casefold(), ())), h))
    return known + (["(none)"] if "(none)" in groups else [])


def mapping_table(rules: list[Rule]) -> str:
    """The markdown table of every rule's mappings (docs/controls.md holds the built-in rules')."""
    lines = ["| Rule | Framework | Control | Reason |", "|---|---|---|---|"]
    for rule in sorted(rules, key=lambda r: r.id):
        for c in rule.controls:
            name = title(c["framework"], c["id"])
            control = f"{c['id']} {name}" if name else c["id"]
            cells = (rule.id, framework_name(c["framework"]), control, c["reason"])
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
