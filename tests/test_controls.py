"""Control mappings: the catalog, the built-in rules' ``controls:``, organization packs' own
frameworks, and the ``--by control`` views of the HTML and markdown reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import EXAMPLE, REPO

from policykit.builtin import policykit_rules
from policykit.controls import (
    catalog,
    control_problem,
    headings,
    label,
    mapping_table,
    ordered,
)

CONFIG = EXAMPLE / "policykit.yaml"
#: The id patterns of each framework PolicyKit ships.
ID_PATTERNS = {
    "iso-27001-2022": r"A\.(5\.([1-9]|[1-2][0-9]|3[0-7])|6\.[1-8]|7\.([1-9]|1[0-4])|8\.([1-9]|[1-2][0-9]|3[0-4]))",
    "nist-800-53-r5": r"(AC|AT|AU|CA|CM|CP|IA|IR|MA|MP|PE|PL|PM|PS|PT|RA|SA|SC|SI|SR)-\d{1,2}(\(\d{1,2}\))?",
    "soc2-tsc-2017": r"CC[1-9]\.\d",
    "cis-controls-v8": r"([1-9]|1[0-8])\.\d{1,2}",
    "mcsb-v1": r"(NS|IM|PA|DP|AM|LT|IR|PV|ES|BR|DS|GS)-\d{1,2}",
    "scuba-powerplatform": r"MS\.POWERPLATFORM\.\d\.\dv\d",
}


@pytest.fixture(scope="module")
def rules():
    return sorted(policykit_rules(), key=lambda r: r.id)


def test_catalog_names_its_sources():
    assert set(catalog()) == set(ID_PATTERNS)
    for framework, info in catalog().items():
        assert info["name"] and info["source"] and info["url"].startswith("https://"), framework
        for control_id, title in info["controls"].items():
            assert re.fullmatch(ID_PATTERNS[framework], control_id), (framework, control_id)
            assert title and "\n" not in title, (framework, control_id)


def test_every_catalog_control_is_used(rules):
    used = {(c["framework"], c["id"]) for r in rules for c in r.controls}
    listed = {(f, i) for f, info in catalog().items() for i in info["controls"]}
    assert listed - used == set(), "a control no rule maps to: drop it from controls.json"


def test_builtin_mappings_are_known_with_one_line_reasons(rules):
    mapped = [r for r in rules if r.controls]
    assert len(mapped) >= 30
    for rule in mapped:
        frameworks = {c["framework"] for c in rule.controls}
        assert frameworks <= set(catalog()), rule.id
        assert len({(c["framework"], c["id"]) for c in rule.controls}) == len(rule.controls), f"{rule.id}: twice"
        for c in rule.controls:
            assert control_problem(c) is None
            assert "\n" not in c["reason"] and c["reason"].endswith(".") and len(c["reason"]) <= 200, (rule.id, c)


def test_specific_mappings(rules):
    """Spot checks that the mappings say what the rules are about."""
    by_id = {r.id: {(c["framework"], c["id"]) for c in r.controls} for r in rules}
    assert ("iso-27001-2022", "A.8.2") in by_id["PPK203"] and ("mcsb-v1", "PA-7") in by_id["PPK203"]
    assert ("nist-800-53-r5", "IA-5(7)") in by_id["PPK502"] and ("mcsb-v1", "IM-8") in by_id["PPK503"]
    assert ("scuba-powerplatform", "MS.POWERPLATFORM.2.2v1") in by_id["PPK606"]
    assert not any(f == "scuba-powerplatform" for r in by_id if r != "PPK606" for f, _ in by_id[r])
    assert by_id["PPK104"] == set(), "a naming convention is no control"


def test_controls_md_is_in_sync(rules):
    text = (REPO / "docs" / "controls.md").read_text(encoding="utf-8")
    marker = "tests/test_controls.py keeps it in sync -->\n"
    assert text.split(marker, 1)[1] == mapping_table(rules)


def test_writing_rules_documents_controls():
    text = (REPO / "docs" / "writing-rules.md").read_text(encoding="utf-8")
    assert "### Controls" in text and "| `controls` |" in text


def test_headings_sort_ids_naturally(rules):
    ppk203 = next(r for r in rules if r.id == "PPK203")
    assert headings(ppk203)[0] == "CIS Critical Security Controls v8 5.4 Restrict Administrator Privileges to " \
                                  "Dedicated Administrator Accounts"
    groups = {label({"framework": "iso-27001-2022", "id": i}): [] for i in ("A.8.12", "A.8.2", "A.5.15")}
    groups["(none)"] = []
    assert [h.split()[4] if h != "(none)" else h for h in ordered(groups)] == ["A.5.15", "A.8.2", "A.8.12", "(none)"]


# --------------------------------------------------------------------------- organization packs


def pack(cli, tmp_path: Path, controls: str) -> Path:
    """A pack with one scaffolded rule (``policykit new-rule``) and the given ``controls:`` block."""
    folder = tmp_path / "pack"
    assert cli("new-rule", "NW001", "--pack", folder, "--name", "no-twitter").code == 0
    rule = folder / "NW001-no-twitter" / "rule.yaml"
    rule.write_text(rule.read_text(encoding="utf-8") + controls, encoding="utf-8")
    return folder


def test_validate_accepts_an_organization_framework(cli, tmp_path):
    folder = pack(cli, tmp_path, "controls:\n  - {framework: northwind-isms, id: NW-ACC-07, reason: Our naming standard.}\n"
                            "  - {framework: iso-27001-2022, id: A.8.9, reason: Names are configuration.}\n")
    run = cli("validate", folder)
    assert run.code == 0, run.out + run.err
    assert "0 problems" in run.out


@pytest.mark.parametrize("controls,expected", [
    ("controls:\n  - {framework: iso-27001-2022, id: A.5.51, reason: Typo.}\n",
     "rule.yaml:\\d+: controls\\[0\\]: A.5.51 is not a control of ISO/IEC 27001:2022 Annex A"),
    ("controls:\n  - {framework: nist-800-53-r5, id: AC-6}\n", "reason"),
    ("controls:\n  - {framework: 'ISO 27001', id: A.5.1, reason: x}\n", "framework"),
])
def test_validate_refuses_bad_mappings(cli, tmp_path, controls, expected):
    run = cli("validate", pack(cli, tmp_path, controls))
    assert run.code == 1 and "1 problem" in run.out  # validate: 1 when a rule has problems
    assert re.search(expected, run.out + run.err), run.out + run.err


# --------------------------------------------------------------------------- the reports


def test_markdown_by_control(cli):
    run = cli("scan", "--config", CONFIG, "--format", "markdown", "--by", "control", "--fail-on", "never", cwd=REPO)
    assert run.code == 0, run.err
    section = run.out.split("### Findings by control\n\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]  # after the head and | --- |
    cells = {r.split(" | ")[0][2:]: r for r in rows}
    # PPK101 fires once in the example (Megan Bowen's connection in DEV).
    identity = cells["ISO/IEC 27001:2022 Annex A A.5.16 Identity management"]
    assert "`PPK101`" in identity and "`PPK201`" in identity and not identity.endswith("0 |")
    assert cells["CISA SCuBA Power Platform baseline (MS.POWERPLATFORM) MS.POWERPLATFORM.2.2v1 Non-default "
                 "environments SHOULD have at least one DLP policy affecting them"].endswith(":white_check_mark: 0 |")
    assert list(cells)[-1] == "(none)" and "`PPK104`" in cells["(none)"]
    plain = cli("scan", "--config", CONFIG, "--format", "markdown", "--fail-on", "never", cwd=REPO).out
    assert "Findings by control" not in plain


def test_sarif_rules_carry_their_controls(cli, tmp_path, rules):
    """Each rule's controls travel with it in the SARIF log (``policykit/controls`` in its
    properties), so a log kept as audit evidence says which control each finding bears on."""
    out = tmp_path / "log.sarif"
    assert cli("scan", "--config", CONFIG, "--format", "sarif", "-o", out, "--fail-on", "never", cwd=REPO).code == 0
    descriptors = json.loads(out.read_text(encoding="utf-8"))["runs"][0]["tool"]["driver"]["rules"]
    by_id = {d["id"]: d["properties"].get("policykit/controls") for d in descriptors}
    for rule in rules:
        expected = [{"framework": c["framework"], "id": c["id"]} for c in rule.controls] or None
        assert by_id[rule.id] == expected, rule.id
    assert {"framework": "nist-800-53-r5", "id": "AC-6(1)"} in by_id["PPK301"]


def test_html_by_control(cli, tmp_path):
    out = tmp_path / "report.html"
    run = cli("scan", "--config", CONFIG, "--format", "html", "--by", "control", "-o", out, "--reproducible",
              "--fail-on", "never", cwd=REPO)
    assert run.code == 0, run.err
    page = out.read_text(encoding="utf-8")
    groups = re.findall(r'<tr class="group"><th colspan="\d+" scope="rowgroup">([^<]+)</th></tr>', page)
    assert groups[-1] == "(none)"
    assert "ISO/IEC 27001:2022 Annex A A.8.2 Privileged access rights" in groups
    iso = [g.split()[4] for g in groups if g.startswith("ISO/IEC")]
    assert iso.index("A.8.2") < iso.index("A.8.12") and iso.index("A.5.18") < iso.index("A.5.32")
    plain = cli("scan", "--config", CONFIG, "--format", "html", "--reproducible", "--fail-on", "never", cwd=REPO).out
    assert 'class="group"' not in plain


def test_by_control_needs_html_or_markdown(cli):
    run = cli("scan", "--config", CONFIG, "--format", "sarif", "--by", "control", cwd=REPO)
    assert run.code == 2 and "--by control applies to --format html or markdown" in run.err


def test_rule_schema_documents_controls():
    schema = json.loads((REPO / "policykit" / "rule_schema.json").read_text(encoding="utf-8"))
    assert schema["properties"]["controls"]["items"] == {"$ref": "#/$defs/control"}
    assert schema["$defs"]["control"]["required"] == ["framework", "id", "reason"]
