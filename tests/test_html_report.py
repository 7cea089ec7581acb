"""The HTML report reviewers read (``--format html``) and the markdown report's waivers and
identity graph.

Tested as people see it: the example estate's report is loaded in a real headless Chromium
(tests/browser.py), which must log no console message (no script error, no Content-Security-Policy
violation, no blocked load), must show the rules, an account, a finding and its waiver, and
leaves a screenshot and a PDF in ``test-artifacts/``. Hostile names are rendered in the browser
too: they must arrive as text. The markdown report's identity graph is drawn by mermaid's own
script in the same browser, as GitHub draws it (screenshots ``markdown-graph-*.png``). Without a
browser: structure, escaping, determinism, the rule states, the configuration overrides, the
inventory and the graph's grammar.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import struct
from pathlib import Path

import pytest
from browser import Dom, mermaid_js, print_pdf, render
from conftest import REPO

from policykit.inventory import configuration_of, graph_layers, inventory_of
from policykit.models import (
    Finding,
    InputFailure,
    Rule,
    RuleFailure,
    ScanResult,
    Source,
)
from policykit.reporters.html import (
    group_rows,
    how_to_fix,
    rule_rows,
    rule_scope,
    to_html,
)
from policykit.reporters.markdown import mermaid_label, to_markdown

CONFIG = "examples/lunch-order/policykit.yaml"
ARTIFACTS = REPO / "test-artifacts"
SECTIONS = ["summary", "scope", "completeness", "rules", "findings", "waivers", "configuration", "inventory",
            "graph", "files"]
XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def example():
    """The example estate's scan result, scanned from the repository root."""
    import os

    from policykit.scanner import load_estate, scan
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return scan(load_estate(Path(CONFIG)), inventory=True)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def example_html(example) -> str:
    return to_html(example, tool_version="test")


def states(result: ScanResult) -> dict[tuple[str, str], tuple[str, str]]:
    """(rule id, column) → (state, detail) for every cell of the matrix; column ``estate`` too."""
    envs, rows = rule_rows(result)
    out = {}
    for row in rows:
        for env, cell in zip(envs, row.cells):
            out[(row.id, env)] = (cell.state, cell.detail)
        out[(row.id, "estate")] = (row.estate.state, row.estate.detail)
    return out


def hostile_result() -> ScanResult:
    """A result whose every piece of input-controlled text is an HTML payload."""
    rule = Rule(id="PPK101", name="connection-reference-personal-account", title="Reference bound to a person",
                severity="error", query="environments[].bindings[]", message="m", requires=("connections",),
                help_markdown=f"## How to fix\n\nBind it to {XSS} and `{XSS}`.\n")
    finding = Finding("PPK101", "error", f"Bound to {XSS}", key=f"PRD/{XSS}", environment="PRD",
                      source=Source(f"env/{XSS}.yaml", 3))
    waived = Finding("PPK101", "error", "other", key="PRD/other", environment="PRD",
                     source=Source("env/prd.yaml", 4), waived=f"because {XSS}")
    document = {"environments": [{
        "name": "PRD", "type": "Production", "available": ["connections"], "solutions": [f"Sol{XSS}"],
        "users": [{"key": f"PRD/{XSS}", "name": XSS, "kind": "application", "roles": [{"name": XSS, "via": "direct"}],
                   "licenses": [XSS], "licenses_known": True, "upn": XSS}],
        "accounts": [{"key": f"PRD/{XSS}", "account": XSS, "kind": "application", "solutions": [f"Sol{XSS}"],
                      "references": [f"Sol/{XSS}"], "connections": [f"c-{XSS}"]}],
        "bindings": [{"solution": f"Sol{XSS}", "logical_name": XSS, "connector_name": XSS, "bound": True,
                      "connection_id": f"c-{XSS}", "account": XSS, "user": {"name": XSS, "kind": "application"}}],
    }], "accounts": [{"key": XSS, "name": XSS, "kind": "technical", "environments": ["PRD", "DEV"]}]}
    return ScanResult(rules=[rule], findings=[finding, waived], estate_name=XSS,
                      rule_failures=[RuleFailure("PPK999", XSS)],
                      input_failures=[InputFailure(XSS, file=f"{XSS}.zip", line=2)],
                      skipped=[("PPK101", f"environment {XSS}: no connections data")],
                      inputs=[f"{XSS}.zip"], files_read={f"{XSS}.zip": "ab" * 32}, policy_files=[XSS],
                      inventory=inventory_of(document),
                      configuration={"recorded": True, "rules": [], "waivers": [{"rule": "PPK101", "key": XSS,
                                                                                  "reason": XSS, "owner": XSS}]})


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


# --------------------------------------------------------------------------- in Chromium


def test_example_report_in_chromium(cli):
    """The reviewer's view: rendered, no console message, the expected text, a screenshot."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "lunch-order-report.html"
    run = cli("scan", "--config", CONFIG, "--format", "html", "-o", page, "--reproducible", cwd=REPO)
    assert run.code == 1, run.err  # the example has open errors
    shot = ARTIFACTS / "lunch-order-report.png"
    rendered = render(page, screenshot=shot)
    print(f"\nHTML report: {page}\nscreenshot: {shot}")
    assert rendered.console == [], rendered.console
    dom = Dom(rendered.dom)
    assert [i for i in dom.ids() if i in SECTIONS] == SECTIONS
    text = dom.text
    for expected in ["PPK101", "PPK201", "PPK203", "PPK401", "TechUser_Sharepoint_PRD@contoso.com",
                     "AppUser_Dataverse_PRD", "a personal account", "waived",
                     "DEV rebuild of Expenses on the maker's connection", "How to fix", "System Administrator",
                     "POWERAUTOMATE_ATTENDED_RPA", "cr123_LunchOrderSharePoint"]:
        assert expected in text, expected
    assert dom.tags("script") == [] and dom.event_handlers() == []
    assert len(dom.tags("svg")) == 2  # one identity graph per environment
    assert rendered.screenshot == shot and png_size(shot) == (1280, 4000)
    assert shot.stat().st_size > 50_000  # a page was drawn, not a blank window


def test_hostile_text_is_inert_in_chromium(tmp_path):
    """Payloads in names, messages, paths and reasons stay text in the DOM Chromium builds."""
    page = tmp_path / "hostile.html"
    page.write_text(to_html(hostile_result()), encoding="utf-8")
    rendered = render(page, screenshot=ARTIFACTS / "hostile-report.png", window=(1280, 2000))
    assert rendered.console == [], rendered.console
    dom = Dom(rendered.dom)
    assert dom.tags("script") == [] and dom.tags("img") == []
    assert dom.event_handlers() == []
    assert dom.text.count("<script>alert(1)</script>") >= 10  # shown, literally, everywhere it occurs
    assert "onerror=alert(2)>" in dom.text


def test_report_prints_to_pdf(example_html, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(example_html, encoding="utf-8")
    pdf = print_pdf(page, ARTIFACTS / "lunch-order-report.pdf")
    assert pdf.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 3, pages  # every section printed, nothing folded away
    print(f"\nPDF: {ARTIFACTS / 'lunch-order-report.pdf'} ({pages} pages)")


# --------------------------------------------------------------------------- the page, without a browser


def test_sections_in_order_with_a_contents_list(example_html):
    ids = re.findall(r'<section id="([a-z]+)">', example_html)
    assert ids == SECTIONS
    for ident in SECTIONS:
        assert f'href="#{ident}"' in example_html


def test_self_contained_with_a_strict_content_security_policy(example_html):
    assert not re.search(r"""\b(src|href|action)\s*=\s*["']?(?!["'#])""", example_html), "a link out of the page"
    assert example_html.count('href="#') >= len(SECTIONS)
    assert "<script" not in example_html and "@import" not in example_html and "url(" not in example_html
    assert not re.search(r"\sstyle\s*=", example_html)  # inline style attributes would break the CSP
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', example_html).group(1)
    assert "default-src 'none'" in csp and "script-src 'none'" in csp
    css = re.search(r"<style>(.*?)</style>", example_html, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp
    assert "<details>" not in example_html  # folded parts are open, so they print


def test_deterministic(example, example_html, cli, tmp_path):
    assert to_html(example, tool_version="test") == example_html
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    for out in (first, second):
        cli("scan", "--config", CONFIG, "--format", "html", "-o", out, "--reproducible", cwd=REPO)
    assert first.read_bytes() == second.read_bytes()
    assert "Scan started" not in first.read_text(encoding="utf-8")


def test_scan_times_shown_unless_reproducible(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    out = tmp_path / "r.html"
    cli("scan", "--config", CONFIG, "--format", "html", "-o", out, cwd=REPO)
    assert re.search(r"<dt>Scan started</dt><dd>\d{4}-\d\d-\d\dT", out.read_text(encoding="utf-8"))


def test_every_input_text_is_escaped():
    page = to_html(hostile_result())
    assert "<script>" not in page and "<img" not in page
    assert not re.search(r"<[^>]*\sonerror\s*=", page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page


def test_control_and_bidi_characters_are_escaped():
    result = hostile_result()
    result.findings[0].message = "evil\u202eright-to-left\x1b[31m"
    page = to_html(result)
    assert "\u202e" not in page and "\x1b" not in page
    assert "evil\\u202eright-to-left\\x1b[31m" in page


def test_scope_lists_inputs_and_policy_files_with_their_hashes(example, example_html):
    scope = example_html.split('<section id="scope">')[1].split("</section>")[0]
    for path in [*example.inputs, *example.policy_files]:
        assert f"<code>{path}</code>" in scope, path
    policy = "examples/lunch-order/policy.yaml"
    assert example.files_read[policy] in scope
    assert "folder: 13 files read" in scope  # the DEV export folder
    files = example_html.split('<section id="files">')[1]
    assert all(digest in files for digest in example.files_read.values())


# --------------------------------------------------------------------------- rule states


def test_example_rule_states(example):
    s = states(example)
    assert s[("PPK101", "DEV")][0] == "fail" and s[("PPK101", "PRD")][0] == "pass"
    assert s[("PPK201", "PRD")][0] == "fail" and s[("PPK201", "DEV")][0] == "pass"
    assert s[("PPK101", "estate")][0] == "na"              # judges environments
    assert s[("PPK104", "estate")][0] == "pass"            # judges the estate's solutions
    assert s[("PPK104", "DEV")][0] == "na"
    assert len([k for k in s if k[1] == "estate"]) == len(example.rules)


def test_waived_when_every_finding_is_waived(example):
    s = states(example)
    assert s[("PPK101", "DEV")] == ("fail", "")            # 3 open, 1 waived
    only_waived = ScanResult(rules=example.rules, findings=[f for f in example.findings if f.waived],
                             inventory=example.inventory, configuration=example.configuration)
    assert states(only_waived)[("PPK101", "DEV")][0] == "waived"


def test_not_evaluated_data_not_collected_matches_the_engine(estate, monkeypatch):
    """Each environment the engine skipped for missing data is 'not evaluated' with the data named."""
    from policykit.scanner import load_estate, scan
    monkeypatch.chdir(estate)
    result = scan(load_estate(estate / "policykit.yaml"), inventory=True)
    s = states(result)
    from_engine = {(rule_id, reason.split(":")[0].split()[-1]) for rule_id, reason in result.skipped
                   if " data" in reason}
    shown = {(rule_id, col) for (rule_id, col), (state, detail) in s.items()
             if state == "ne" and detail.startswith("data not collected")}
    assert shown == from_engine and shown
    assert s[("PPK402", "PRD")] == ("ne", "data not collected: workflows; process_licenses")
    assert s[("PPK101", "PRD")][0] == "fail"


def test_not_evaluated_rule_failed_disabled_and_out_of_scope(estate, monkeypatch):
    from policykit.scanner import load_estate, scan
    (estate / "policy.yaml").write_text(
        "rules:\n"
        "  PPK104: {enabled: false}\n"
        "  PPK201: {severity: warning, environments: [UAT]}\n"
        "  PPK203: {parameters: {admin_role_names: [System Administrator, Contoso Admin]}}\n", encoding="utf-8")
    config = estate / "policykit.yaml"
    config.write_text("name: orders\npolicy: policy.yaml\nsolutions: [Orders]\n"
                      "environments:\n  PRD: {metadata: prd.yaml}\n  UAT: {metadata: prd.yaml}\n", encoding="utf-8")
    monkeypatch.chdir(estate)
    result = scan(load_estate(config), inventory=True)
    result.rule_failures.append(RuleFailure("PPK102", "invalid JMESPath: boom"))
    s = states(result)
    assert s[("PPK104", "PRD")] == ("ne", "disabled by the policy") == s[("PPK104", "estate")]
    assert s[("PPK201", "PRD")] == ("ne", "out of the policy's scope for this rule")
    assert s[("PPK102", "PRD")] == ("ne", "rule failed: invalid JMESPath: boom")
    page = to_html(result)
    config_section = page.split('<section id="configuration">')[1].split("</section>")[0]
    assert "<strong>disabled</strong>" in config_section
    assert "severity error → <strong>warning</strong>" in config_section
    assert "environments <code>[&quot;UAT&quot;]</code> (in scope here: UAT)" in config_section
    assert s[("PPK201", "UAT")][0] == "pass"
    assert "parameter <code>admin_role_names</code>: <code>[&quot;System Administrator&quot;, " in config_section
    assert "Contoso Admin" in config_section and "policy.yaml:" in config_section


def test_configuration_not_recorded_is_said(example):
    bare = ScanResult(rules=example.rules, findings=example.findings)
    page = to_html(bare)
    assert "Not recorded: this result carries no record of the policy's settings." in page
    assert '<section id="inventory">\n<h2>Identity inventory</h2>\n<p class="muted">Not recorded' in page


def test_rule_scope_reads_the_query_tree():
    def scope(query: str) -> tuple[bool, bool]:
        return rule_scope(Rule("X1", "x", "t", "note", query, "m"))

    assert scope("environments[].bindings[?user.kind == 'person'][]") == (True, False)
    assert scope("unique(environments[].flows[?premium][])") == (True, False)
    assert scope("solutions[].connection_references[]") == (False, True)
    assert scope("accounts[?kind == 'technical'] | [?length(environments) > `1`]") == (False, True)
    assert scope("[environments[].x, solutions[].y][]") == (True, True)
    assert scope("not a query ((") == (True, True)


def test_rules_can_be_grouped(example):
    _, rows = rule_rows(example)
    groups = group_rows(rows, key=lambda r: [r.id[:4] + "xx"])
    assert [g for g, _ in groups][:3] == ["PPK1xx", "PPK2xx", "PPK3xx"]
    assert sum(len(members) for _, members in groups) == len(rows)
    page = to_html(example, group=lambda r: ["Identity"] if r.id.startswith("PPK2") else [])
    assert '<tr class="group"><th colspan="5" scope="rowgroup">Identity</th></tr>' in page
    assert '<tr class="group"><th colspan="5" scope="rowgroup">(none)</th></tr>' in page


# --------------------------------------------------------------------------- findings and waivers


def test_findings_grouped_by_rule_and_environment_with_how_to_fix(example_html):
    findings = example_html.split('<section id="findings">')[1].split("</section>")[0]
    ppk101 = findings.split("<code>PPK101</code>")[1].split("</article>")[0]
    assert "<h4>How to fix</h4>" in ppk101 and "technical user" in ppk101
    assert "Environment DEV" in ppk101 and "(3 open findings, 1 waived)" in ppk101
    assert "examples/lunch-order/environments/dev/connectionreferences.json:7" in ppk101
    assert findings.index("<code>PPK101</code>") < findings.index("<code>PPK201</code>")


def test_how_to_fix_is_the_section_rendered_safely():
    rule = Rule("X1", "x", "t", "note", "solutions", "m", help_markdown=(
        "# X1\n\n## What it does\n\nNothing.\n\n## How to fix\n\nRename it to `cr_<name>` — see "
        "[the docs](https://example.invalid/docs).\n\n- one\n- **two**\n\n```yaml\na: <b>\n```\n\n## References\n\n- x\n"))
    fixed = how_to_fix(rule)
    assert fixed.startswith("<p>Rename it to <code>cr_&lt;name&gt;</code> — see the docs (https://example.invalid/docs).</p>")
    assert "<ul><li>one</li><li><strong>two</strong></li></ul>" in fixed
    assert "<pre><code>a: &lt;b&gt;</code></pre>" in fixed
    assert "Nothing" not in fixed and "References" not in fixed
    assert how_to_fix(Rule("X2", "x", "t", "note", "solutions", "m")) == ""


def test_waivers_with_reason_and_the_details_a_waiver_carries(example):
    page = to_html(example)
    waivers = page.split('<section id="waivers">')[1].split("</section>")[0]
    assert "DEV rebuild of Expenses on the maker&#x27;s connection" in waivers
    assert "DEV/Expenses/cr123_ExpensesSharePoint" in waivers
    assert "2027-03-31" in waivers and "examples/lunch-order/policy.yaml:15" in waivers  # declared in the policy
    assert "owner: alex.wilber@contoso.com" in waivers and "approved by: isabella.rossi@contoso.com" in waivers
    assert "in force" in waivers  # the declared waiver's state on the day of the scan

    finding = next(f for f in example.findings if f.waived)
    kept, finding.waiver = finding.waiver, {"owner": "alex.wilber@contoso.com", "ticket": "CHG0107342",
                                            "expires": "2027-03-31"}
    try:
        waivers = to_html(example).split('<section id="waivers">')[1].split("</section>")[0]
        markdown = to_markdown(example)
    finally:
        finding.waiver = kept
    assert "owner: alex.wilber@contoso.com<br>ticket: CHG0107342<br>expires: 2027-03-31" in waivers
    assert "approved by" not in waivers
    assert "; owner: alex.wilber@contoso.com; ticket: CHG0107342; expires: 2027-03-31" in markdown


# --------------------------------------------------------------------------- inventory and graph


def test_example_inventory(example):
    envs = {e["name"]: e for e in example.inventory["environments"]}
    assert set(envs) == {"DEV", "PRD"}
    prd = {a["account"]: a for a in envs["PRD"]["accounts"]}
    tech = prd["TechUser_Sharepoint_PRD@contoso.com"]
    assert tech["kind"] == "technical" and tech["licenses"] == ["POWERAUTOMATE_ATTENDED_RPA"]
    assert tech["solutions"] == ["Expenses", "LunchOrder"] and "connection account" in tech["why"]
    app = next(a for a in prd.values() if a["name"] == "AppUser_Dataverse_PRD")
    assert app["kind"] == "application" and app["roles"] == [{"name": "System Administrator", "via": "direct"}]
    assert {"application user", "role holder", "flow owner"} <= set(app["why"])
    adele = next(a for a in prd.values() if a["name"] == "Adele Vance")
    assert adele["why"] == ["role holder"] and {"name": "Lunch Order User", "via": "team:Lunch Order Users"} in adele["roles"]
    assert [a["kind"] for a in envs["PRD"]["accounts"]][:2] == ["application", "technical"]  # automation first
    shared = [a["name"] for a in example.inventory["accounts"] if len(a["environments"]) > 1]
    assert shared == ["# PowerAppsDataPlaneBackend"]


def test_example_identity_graph_layers(example):
    prd = next(e for e in example.inventory["environments"] if e["name"] == "PRD")
    columns, edges = graph_layers(prd["bindings"])
    assert [len(c) for c in columns] == [2, 5, 5, 4]
    ident = {n["label"]: n["id"] for c in columns for n in c}
    tech = "a:techuser_sharepoint_prd@contoso.com"
    into_tech = [a for a, b in edges if b == tech]
    assert len(into_tech) == 2  # two SharePoint connections of the one technical user
    assert (ident["LunchOrder"], "r:LunchOrder/cr123_LunchOrderSharePoint") in edges
    dev = next(e for e in example.inventory["environments"] if e["name"] == "DEV")
    unbound = [n for n in graph_layers(dev["bindings"])[0][1] if n["kind"] == "unbound"]
    assert [n["label"] for n in unbound] == ["cr123_ExpensesOutlook"]


def test_graph_svg_is_inline_and_laid_out_in_columns(example_html):
    graph = example_html.split('<section id="graph">')[1].split("</section>")[0]
    svgs = re.findall(r"<svg .*?</svg>", graph, re.DOTALL)
    assert len(svgs) == 2
    prd = svgs[1]
    assert prd.count('<g class="node') == 16 and prd.count('<path class="edge"') == 15
    xs = sorted({int(x) for x in re.findall(r'<rect x="(\d+)"', prd)})
    assert xs == [8, 318, 628, 938]  # four columns
    assert "TechUser SharePoint PRD" in prd and "n-technical" in prd and "n-application" in prd


def test_inventory_caps_role_holders(monkeypatch):
    from policykit import inventory
    monkeypatch.setattr(inventory, "MAX_ROLE_HOLDERS", 2)
    users = [{"key": f"E/u{i}", "name": f"User {i}", "kind": "person", "roles": [{"name": "Basic User"}]}
             for i in range(5)]
    env = inventory.inventory_of({"environments": [{"name": "E", "users": users}]})["environments"][0]
    assert [a["name"] for a in env["accounts"]] == ["User 0", "User 1"] and env["omitted_role_holders"] == 3
    assert "3 more role holders not listed" in to_html(ScanResult(rules=[], findings=[], inventory={"environments": [env]}))


def test_configuration_records_only_changes():
    from policykit.policy import Policy, RuleSettings, Waiver
    rules = [Rule("A1", "a", "t", "error", "solutions", "m", parameters={"n": 1}),
             Rule("A2", "b", "t", "note", "solutions", "m")]
    policy = Policy(rules={"A1": RuleSettings(parameters={"n": 1})},
                    waivers=[Waiver(rule="A1", key="k*", reason="r", expires="2030-01-01")])
    assert configuration_of(policy, rules, {"environments": []}) == {
        "recorded": True, "rules": [],
        "waivers": [{"rule": "A1", "key": "k*", "reason": "r", "expires": "2030-01-01"}]}


# --------------------------------------------------------------------------- markdown


def test_markdown_identity_graph(example):
    text = to_markdown(example)
    block = text.split("```mermaid\n")[1].split("\n```")[0]
    assert block.startswith("flowchart LR\n")
    assert '  subgraph e2["PRD"]' in block
    assert '(["TechUser SharePoint PRD / TechUser_Sharepoint_PRD#64;contoso.com"])' in block
    assert block.count(" --> ") == 13 + 15
    assert "class e1n3 unbound" in block  # cr123_ExpensesOutlook has no connection in DEV


def test_mermaid_labels_cannot_break_out():
    label = mermaid_label('a"] --> x\n```\n<script>#1;`end`')
    assert re.fullmatch(r'"[A-Za-z0-9 _.,/#;-]*"', label), label
    assert label == ('"a#34;#93; --#62; x#92;n#96;#96;#96;#92;n#60;script#62;#35;1#59;#96;end#96;"')
    result = hostile_result()
    block = to_markdown(result).split("```mermaid\n")[1].split("\n```")[0]
    label = r'"[A-Za-z0-9 _.,/#;-]*"'
    grammar = re.compile("|".join([
        r"flowchart LR", r"  classDef \w+ [\w:#,. -]+", rf"  subgraph e\d+\[{label}\]", r"    direction LR",
        rf"    e\d+n\d+(\[{label}\]|\({label}\)|\[\[{label}\]\]|\(\[{label}\]\))", r"    e\d+n\d+ --> e\d+n\d+",
        r"  end", r"  class e\d+n\d+ \w+"]))
    assert [line for line in block.splitlines() if not grammar.fullmatch(line)] == []
    assert "#60;script#62;alert#40;1#41;" in block


def _draw(block: str, name: str, tmp_path: Path):
    """The mermaid graph ``block`` drawn in Chromium by mermaid's own script, as GitHub draws a
    ```` ```mermaid ```` block: (the rendered page, its DOM, the text of the drawing)."""
    page = tmp_path / f"{name}.html"
    page.write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>graph</title></head><body>'
        f'<pre class="mermaid">{html.escape(block)}</pre>'
        f'<script src="{mermaid_js().as_uri()}"></script>'
        '<script>mermaid.initialize({startOnLoad: false, securityLevel: "strict"});'
        'mermaid.run().then(() => { document.body.dataset.drawn = "yes"; },'
        ' (e) => { document.body.dataset.drawn = "no"; console.error("mermaid: " + (e && e.message || e)); });</script>'
        '</body></html>', encoding="utf-8")
    rendered = render(page, ARTIFACTS / f"{name}.png", window=(1600, 1200), settle_ms=20_000)
    dom = Dom(rendered.dom)
    return rendered, dom


@pytest.mark.parametrize("which", ["example", "hostile"])
def test_markdown_identity_graph_is_drawn_by_mermaid(example, which, tmp_path):
    """The graph is drawn, not shown as a syntax error: every environment is a box and every
    account's label reads as written (``#64;`` is an ``@``); a hostile name stays text."""
    result = example if which == "example" else hostile_result()
    block = to_markdown(result).split("```mermaid\n")[1].split("\n```")[0]
    rendered, dom = _draw(block, f"markdown-graph-{which}", tmp_path)
    assert [a.get("data-drawn") for _, a in dom.elements if _ == "body"] == ["yes"], rendered.console
    assert not [m for m in rendered.console if "error" in m.lower()], rendered.console
    assert dom.tags("svg") and "Syntax error" not in dom.text
    assert rendered.screenshot is not None
    if which == "example":
        assert "PRD" in dom.text and "TechUser_Sharepoint_PRD@contoso.com" in dom.text
    else:  # shown as the text it is: no element but the page's own two scripts, no image
        assert "<script>alert(1)</script>" in dom.text
        assert [t for t, _ in dom.elements].count("script") == 2 and not dom.tags("img")


def test_markdown_lists_waiver_reasons(example):
    text = to_markdown(example)
    waived = text.split("<summary>Waived findings (1)</summary>")[1].split("</details>")[0]
    assert "`PPK101`" in waived and "\\[DEV\\]" in waived
    assert "**waived**: DEV rebuild of Expenses on the maker's connection until TechUser\\_Sharepoint\\_DEV" in waived
