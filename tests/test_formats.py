"""Tests of the markdown and JSON Lines reporters, directly and through ``policykit scan --format``.

The hand-built scan is ``test_sarif.make_scan``: findings in a zip entry and in plain files, one
without a source, a waived one, a rule failure, an input failure and a skipped rule.  Markdown is
checked the way GitHub reads it: table rows are split into cells like GFM does (an unescaped ``|``
ends a cell), so an escaping mistake shows up as a wrong number of cells.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace

from conftest import RULES
from test_sarif import make_rules, make_scan, render

from policykit.models import Finding, Rule, ScanResult, Source
from policykit.reporters.jsonlines import to_json_lines
from policykit.reporters.markdown import MAX_ROWS, code, escape, to_markdown
from policykit.reporters.sarif import fingerprint

PPK101_SILENT = RULES / "PPK101-connection-reference-personal-account" / "fixtures" / "silent"
JSON_KEYS = ["entry", "environment", "file", "fingerprint", "key", "level", "line", "message", "rule_id", "rule_name"]
HOSTILE = "a | b\nsecond line `code` <details><img src=x> *bold* [link](http://x) $x$ ~~s~~ & @admins \\| end"


# --------------------------------------------------------------------------- helpers


def cells(row: str) -> list[str]:
    """Split a table row into cells as GFM does: ``\\x`` is one escaped character, ``|`` a border."""
    assert row.startswith("| ") and row.endswith(" |"), row
    body, out, cell, i = row[1:-1], [], "", 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            cell, i = cell + body[i : i + 2], i + 2
        elif body[i] == "|":
            out, cell, i = out + [cell.strip()], "", i + 1
        else:
            cell, i = cell + body[i], i + 1
    return out + [cell.strip()]


def table_after(markdown: str, heading: str) -> list[list[str]]:
    """The rows (as cells, header and delimiter row excluded) of the first table after ``heading``."""
    lines = markdown.split("\n")
    start = lines.index(heading) if heading in lines else next(i for i, l in enumerate(lines) if l.startswith(heading))
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("| "))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("| "):
            break
        rows.append(cells(line))
    return rows


def findings_rows(markdown: str) -> list[list[str]]:
    return table_after(markdown, "### Findings")


def counts(markdown: str) -> dict[str, int]:
    lines = markdown.split("\n")
    header = next(l for l in lines if l.startswith("| Errors"))
    values = lines[lines.index(header) + 2]
    return dict(zip(cells(header), (int(v) for v in cells(values))))


def many_findings(n: int) -> ScanResult:
    findings = [
        Finding("PPK205", "warning", f"Environment {i} has no DLP policy", f"env/{i:05d}",
                Source("estate/environments.yaml", i + 1))
        for i in range(n)
    ]
    return ScanResult(rules=make_rules(), findings=findings, inputs=["estate/environments.yaml"])


def hostile_scan() -> ScanResult:
    rule = Rule(id="PPK900", name="odd-rule", title="Title with <b>html</b> & </details>", severity="error",
                query="q", message="m")
    finding = Finding("PPK900", "error", HOSTILE, "k", Source("dir|x/we`ird.json", 3, "Work|flows/a.json"),
                      environment="PRD | DEV")
    return ScanResult(rules=[rule], findings=[finding], inputs=["x"])


# --------------------------------------------------------------------------- markdown: escaping


def test_escape_renders_text_literally() -> None:
    assert escape("a|b") == "a\\|b"
    assert escape("one\ntwo\r\nthree\rfour") == "one<br>two<br>three<br>four"
    assert escape("<script>&amp;") == "\\<script\\>\\&amp;"
    assert escape("*a* _b_ `c` [d] ~e~ $f$ \\") == "\\*a\\* \\_b\\_ \\`c\\` \\[d\\] \\~e\\~ \\$f\\$ \\\\"


def test_escape_defuses_mentions_but_keeps_email_addresses() -> None:
    assert escape("ask @admins now") == "ask @\u200badmins now"
    assert escape("@org/team") == "@\u200borg/team"
    assert escape("megan.bowen@contoso.com") == "megan.bowen@contoso.com"


def test_code_span_only_when_safe() -> None:
    assert code("solutions/A.zip:Other/Customizations.xml:3") == "`solutions/A.zip:Other/Customizations.xml:3`"
    assert code("C:\\src\\a_b.json") == "`C:\\src\\a_b.json`"  # backslashes are literal in a code span
    assert code("a`b") == "a\\`b"
    assert code("a|b") == "a\\|b"
    assert code(" padded ") == " padded "


def test_hostile_text_keeps_the_table_and_the_page_intact() -> None:
    text = to_markdown(hostile_scan())
    rows = findings_rows(text)
    assert len(rows) == 1 and len(rows[0]) == 5
    level, rule, location, environment, message = rows[0]
    assert rule == "`PPK900` odd-rule"
    assert location == escape("dir|x/we`ird.json:Work|flows/a.json:3")
    assert environment == "PRD \\| DEV"
    assert message == escape(HOSTILE)
    assert "\nsecond line" not in text
    assert not re.search(r"(?<!\\)<img", text) and "<details><img" not in text  # every < from the data is escaped
    # Only the reporter's own HTML: one <details> per rule section, none from the data.
    assert text.count("<details>") == text.count("</details>") == 1
    assert "Title with &lt;b&gt;html&lt;/b&gt; &amp; &lt;/details&gt;" in text


# --------------------------------------------------------------------------- markdown: content


def test_title_status_and_counts() -> None:
    text = to_markdown(make_scan())
    assert text.startswith("## PolicyKit: contoso\n\n:no_entry: **Incomplete scan**: 5 problems (2 errors, 3 warnings, 0 notes)")
    assert "3 rules run." in text
    assert counts(text) == {"Errors": 2, "Warnings": 3, "Notes": 0, "Waived": 1, "Rule failures": 1,
                            "Input failures": 1}


def test_failures_are_listed_before_the_findings() -> None:
    text = to_markdown(make_scan())
    failures = text.index("### :no_entry: Scan failures")
    assert failures < text.index("### Findings")
    assert "- **Rule failed** `PPK999`: invalid JMESPath: unexpected token" in text
    assert "- **Input failed** `solutions/Broken.zip:Workflows/flow.json:3`: not valid JSON" in text


def test_findings_table_most_severe_first_with_zip_entries_and_environments() -> None:
    rows = findings_rows(to_markdown(make_scan()))
    assert [r[0] for r in rows] == [":x: error"] * 2 + [":warning: warning"] * 3
    assert rows[0] == [":x: error", "`PPK101` connection-reference-personal-account",
                       "`solutions/Contoso Core.zip:Other/Customizations.xml:37`", "",
                       "Connection reference 'shared\\_sql' uses alice@contoso.com"]
    assert rows[1][2:4] == ["`solutions/unpacked/connrefs.json:12`", "prod"]
    assert ["_no location_"] == [r[2] for r in rows if "Test" in r[4]]


def test_waived_findings_are_counted_and_listed_apart_with_their_reason() -> None:
    text = to_markdown(make_scan())
    assert "Environment 'Dev'" not in text  # not among the open findings
    assert all("CISO" not in " ".join(row) for row in findings_rows(text))
    waived = text[text.index("<summary>Waived findings (1)</summary>"):]
    assert "**waived**: Sandbox, approved by CISO" in waived.split("</details>")[0]
    assert counts(text)["Waived"] == 1


def test_details_per_rule_with_title_and_findings() -> None:
    text = to_markdown(make_scan())
    summary = ("<summary><b>PPK101</b> connection-reference-personal-account: "
               "Connection reference uses a personal account (3 findings)</summary>")
    assert summary in text
    section = text[text.index(summary) : text.index("</details>", text.index(summary))]
    assert "- error `solutions/unpacked/connrefs.json:12` \\[prod\\]: Connection reference" in section
    assert section.count("\n- ") == 3
    assert "<b>PPK310</b>" not in text  # a rule without findings gets no section


def test_skipped_rules_are_collapsed() -> None:
    text = to_markdown(make_scan())
    assert "<details>\n<summary>Skipped rules (1)</summary>\n\n- `PPK400`: needs tenant settings\n\n</details>\n" in text
    assert text.endswith("</details>\n")


def test_clean_complete_scan() -> None:
    text = to_markdown(ScanResult(rules=make_rules(), findings=[], estate_name="clean"))
    assert text == (
        "## PolicyKit: clean\n\n:white_check_mark: **No problems**; 3 rules run.\n\n"
        "| Errors | Warnings | Notes | Waived | Rule failures | Input failures |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: |\n"
        "| 0 | 0 | 0 | 0 | 0 | 0 |\n"
    )


def test_warnings_only_status_icon() -> None:
    result = ScanResult(rules=make_rules(), findings=[f for f in make_scan().findings if f.level == "warning"])
    assert ":warning: **3 problems** (0 errors, 3 warnings, 0 notes); 3 rules run." in to_markdown(result)


def test_cap_at_max_rows_with_note() -> None:
    text = to_markdown(many_findings(MAX_ROWS + 5))
    assert len(findings_rows(text)) == MAX_ROWS
    assert "_5 more findings in the SARIF report._" in text
    assert "(1005 findings)</summary>" in text
    assert "- … 5 more findings in the SARIF report" in text
    section = text[text.index("<b>PPK205</b>") :]
    assert section.count("\n- warning ") == MAX_ROWS


def test_cap_is_configurable_and_keeps_the_most_severe() -> None:
    text = to_markdown(make_scan(), max_rows=2)
    assert [r[0] for r in findings_rows(text)] == [":x: error", ":x: error"]
    assert "_3 more findings in the SARIF report._" in text
    assert "no DLP policy" not in text.split("### Findings by rule")[1].split("</details>")[1]


def test_no_note_when_nothing_is_cut() -> None:
    assert "more finding" not in to_markdown(many_findings(MAX_ROWS))


def test_markdown_deterministic_whatever_the_input_order() -> None:
    expected = to_markdown(make_scan())
    for seed in range(5):
        scan = make_scan()
        random.Random(seed).shuffle(scan.findings)
        random.Random(seed).shuffle(scan.rules)
        assert to_markdown(scan) == expected


# --------------------------------------------------------------------------- JSON Lines


def json_lines(result: ScanResult) -> list[dict]:
    text = to_json_lines(result)
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_one_object_per_active_finding_in_scan_order() -> None:
    scan = make_scan()
    records = json_lines(scan)
    assert [(r["rule_id"], r["key"]) for r in records] == [(f.rule_id, f.key) for f in scan.active]
    assert all(list(r) == JSON_KEYS for r in records)  # every key, sorted
    assert "env/dev" not in [r["key"] for r in records]  # waived


def test_json_record_fields() -> None:
    first, second, *_, last = json_lines(make_scan())
    assert first == {
        "rule_id": "PPK101", "rule_name": "connection-reference-personal-account", "level": "error",
        "message": "Connection reference 'shared_sql' uses alice@contoso.com",
        "file": "solutions/Contoso Core.zip", "entry": "Other/Customizations.xml", "line": 37,
        "environment": None, "key": "connref/shared_sql",
        "fingerprint": fingerprint("PPK101", "connref/shared_sql"),
    }
    assert (second["file"], second["entry"], second["line"], second["environment"]) == (
        "solutions/unpacked/connrefs.json", None, 12, "prod")
    assert (last["key"], last["file"], last["entry"], last["line"]) == ("env/test", None, None, None)


def test_json_fingerprints_match_the_sarif_log() -> None:
    results = json.loads(render())["runs"][0]["results"]
    sarif = {r["partialFingerprints"]["policykit/v1"] for r in results}
    assert {r["fingerprint"] for r in json_lines(make_scan())} == sarif


def test_json_unknown_rule_has_null_name() -> None:
    scan = make_scan()
    scan.findings = [replace(scan.findings[0], rule_id="PPK777")]
    assert json_lines(scan)[0]["rule_name"] is None


def test_json_empty_when_nothing_active() -> None:
    assert to_json_lines(ScanResult(rules=make_rules(), findings=[])) == ""
    waived_only = [f for f in make_scan().findings if f.waived]
    assert to_json_lines(ScanResult(rules=make_rules(), findings=waived_only)) == ""


def test_json_one_physical_line_per_record() -> None:
    scan = make_scan()
    scan.findings = [replace(f, message=f"{f.message}\u2028é\n\u0085{HOSTILE}") for f in scan.findings]
    text = to_json_lines(scan)
    assert text.isascii()
    assert len(text.splitlines()) == len(scan.active)  # str.splitlines also splits at U+2028, U+0085
    assert json.loads(text.splitlines()[0])["message"].endswith(HOSTILE)


def test_json_deterministic() -> None:
    assert to_json_lines(make_scan()) == to_json_lines(make_scan())


# --------------------------------------------------------------------------- through the CLI
# These need `--format markdown|json` wired into `policykit scan`.




def test_cli_markdown(cli, estate) -> None:
    run = cli("scan", "--format", "markdown", cwd=estate)
    assert run.code == 1
    assert run.out.startswith("## PolicyKit: orders\n")
    rows = findings_rows(run.out)
    assert [(r[1].split()[0], r[2], r[3]) for r in rows] == [("`PPK101`", "`prd.yaml:16`", "PRD")]
    assert counts(run.out)["Errors"] == 1


def test_cli_markdown_to_file_and_fail_on_never(cli, estate) -> None:
    run = cli("scan", "--format", "markdown", "--output", "out/report.md", "--fail-on", "never", cwd=estate)
    assert run.code == 0
    assert (estate / "out" / "report.md").read_text(encoding="utf-8").startswith("## PolicyKit: orders\n")


def test_cli_json_matches_sarif(cli, estate) -> None:
    run = cli("scan", "--format", "json", cwd=estate)
    assert run.code == 1
    (record,) = [json.loads(line) for line in run.out.splitlines()]
    assert (record["rule_id"], record["file"], record["line"], record["environment"]) == ("PPK101", "prd.yaml", 16, "PRD")
    sarif = json.loads(cli("scan", "--format", "sarif", cwd=estate).out)
    assert record["fingerprint"] == sarif["runs"][0]["results"][0]["partialFingerprints"]["policykit/v1"]


def test_cli_waived_findings_left_out(cli, estate) -> None:
    (estate / "policy.yaml").write_text("waivers:\n  - {rule: PPK101, key: '*', reason: Accepted until migration, owner: o@contoso.com, "
                                          "ticket: CHG1, expires: 2099-12-31}\n")
    assert cli("scan", "--format", "json", "--policy", "policy.yaml", cwd=estate).out == ""
    run = cli("scan", "--format", "markdown", "--policy", "policy.yaml", cwd=estate)
    assert run.code == 0
    assert counts(run.out)["Waived"] == 1 and "### Findings" not in run.out


def test_cli_clean_estate(cli) -> None:
    run = cli("scan", "--format", "json", cwd=PPK101_SILENT)
    assert (run.code, run.out) == (0, "")
    assert ":white_check_mark: **No problems**" in cli("scan", "--format", "markdown", cwd=PPK101_SILENT).out


def test_cli_input_failure_shown(cli, estate) -> None:
    (estate / "prd.yaml").write_text("environment: [unclosed\n")
    run = cli("scan", "--format", "markdown", cwd=estate)
    assert run.code == 2
    assert "**Incomplete scan**" in run.out and "- **Input failed** `prd.yaml" in run.out
    assert counts(run.out)["Input failures"] >= 1


def test_cli_output_deterministic(cli, estate) -> None:
    for fmt in ("markdown", "json"):
        assert cli("scan", "--format", fmt, cwd=estate).out == cli("scan", "--format", fmt, cwd=estate).out
