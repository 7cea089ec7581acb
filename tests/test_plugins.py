"""Plugins: the example organization pack, entry points, --no-plugins, broken rules, hookspecs."""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, RULES

from policykit import PolicyError, hookimpl, hookspecs
from policykit.engine import functions_class, run_rules
from policykit.models import Rule
from policykit.plugins import get_plugin_manager
from policykit.policy import load_policy
from policykit.scanner import load_estate, scan

EXAMPLE_PACK = REPO / "plugins_example"
CTS001 = EXAMPLE_PACK / "policykit_contoso" / "rules" / "CTS001-production-connection-outside-service-domain"
PPK101_FIRES = RULES / "PPK101-connection-reference-personal-account" / "fixtures" / "fires"


@pytest.fixture
def contoso_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE_PACK))
    yield
    for name in [m for m in sys.modules if m.startswith("policykit_contoso")]:
        del sys.modules[name]


def test_example_pack_passes_policykit_test_and_validate(contoso_on_path, cli):
    run = cli("test", EXAMPLE_PACK)
    assert run.code == 0, run.out + run.err
    assert "policykit_contoso::CTS001 production-connection-outside-service-domain PASSED" in run.out
    assert "policykit_contoso::CTS002 connection-to-twitter PASSED" in run.out
    assert run.out.endswith("==== 2 passed ====\n")
    run = cli("validate", EXAMPLE_PACK)
    assert (run.code, run.out) == (0, "==== 2 rules checked, 0 problems ====\n"), run.err


def test_example_pack_points_nowhere_outside_itself():
    """A copied pack must work anywhere: no path in it climbs out of the pack folder."""
    for path in EXAMPLE_PACK.rglob("*"):
        if path.suffix in (".yaml", ".toml", ".py") and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                for rel in re.findall(r"(?:\.\./)+[^\s\]'\",]*", line):
                    target = (path.parent / rel).resolve()
                    assert target.is_relative_to(EXAMPLE_PACK.resolve()), (path, rel)


@pytest.mark.parametrize("fixture", ["fires", "silent"])
def test_example_pack_rule_fixtures(contoso_on_path, monkeypatch, fixture):
    folder = CTS001 / "fixtures" / fixture
    monkeypatch.chdir(folder)
    result = scan(load_estate(folder / "policykit.yaml"), plugins=["policykit_contoso"], entry_points=False)
    assert result.complete
    mine = [f for f in result.findings if f.rule_id == "CTS001"]
    if fixture == "fires":
        assert [f.key for f in mine] == ["PRD/FixtureOrders/fxo_OrdersSharePoint"]
        assert mine[0].level == "warning" and mine[0].source.line == 6
    else:
        assert mine == []


def test_example_pack_enriches_document_and_adds_function(contoso_on_path, cli):
    run = cli("doc", "--plugin", "policykit_contoso", "-q", "environments[].is_production",
              cwd=CTS001 / "fixtures" / "fires")
    assert run.code == 0 and run.out.split() == ["[", "true", "]"]
    assert "CTS001" in cli("rules", "--plugin", "policykit_contoso").out


def _fake_distribution(tmp_path: Path, module: str) -> Path:
    """An installed distribution (dist-info) declaring an entry point in the policykit group."""
    site = tmp_path / "site"
    dist = site / "policykit_contoso-1.0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: policykit-contoso\nVersion: 1.0.0\n")
    (dist / "entry_points.txt").write_text(f"[policykit]\ncontoso = {module}\n")
    return site


def test_entry_point_plugins_load_and_no_plugins_disables_them(contoso_on_path, tmp_path, monkeypatch, cli):
    monkeypatch.syspath_prepend(str(_fake_distribution(tmp_path, "policykit_contoso")))
    assert "CTS001" in cli("rules").out
    assert "CTS001" not in cli("rules", "--no-plugins").out
    assert "PPK101" in cli("rules", "--no-plugins").out  # the built-in plugin always loads


def test_builtin_registers_under_the_entry_point_name():
    pm = get_plugin_manager(entry_points=True)
    names = [pm.get_name(p) for p in pm.get_plugins()]
    assert names.count("builtin") == 1


def _rule(rule_id: str, query: str, message: str = "found {key}") -> Rule:
    return Rule(id=rule_id, name=f"test-{rule_id.lower()}", title="t", severity="warning", query=query,
                message=message)


def test_broken_rules_are_reported_and_do_not_stop_the_others(monkeypatch):
    monkeypatch.chdir(PPK101_FIRES)
    estate = load_estate(PPK101_FIRES / "policykit.yaml")
    result = scan(estate, entry_points=False)
    document_rules = [
        _rule("T1", "environments[].bindings[?"),                       # invalid JMESPath
        _rule("T2", "environments[].bindings[].nope(@)"),               # unknown function
        _rule("T3", "environments[].bindings[]", "{"),                  # broken template
        _rule("T4", "environments[].bindings[?param('missing')][]"),    # unknown parameter
        _rule("T5", "environments[].bindings[]"),                       # works
        _rule("T6", "environments[].bindings"),                         # lists, not objects
    ]
    from policykit.scanner import build
    built = build(estate, entry_points=False)
    document, policy = built.document, built.policy
    findings, failures, _ = run_rules(document, document_rules, policy, functions_class([]))
    assert sorted(f.rule_id for f in failures) == ["T1", "T2", "T3", "T4", "T6"]
    assert {f.rule_id for f in findings} == {"T5"}
    assert all(f.reason for f in failures)
    assert result.complete


class _BrokenPlugin:
    @hookimpl
    def policykit_rules(self):
        return [_rule("ZZ001", "environments[?", "x")]


def test_rule_failure_makes_exit_code_2(cli, monkeypatch):
    import policykit.plugins as plugins_module
    original = plugins_module.get_plugin_manager

    def with_broken(extra=(), entry_points=True):
        pm = original(extra, entry_points)
        pm.register(_BrokenPlugin(), name="broken")
        return pm

    monkeypatch.setattr(plugins_module, "get_plugin_manager", with_broken)
    monkeypatch.setattr("policykit.scanner.get_plugin_manager", with_broken)
    run = cli("scan", "--fail-on", "never", cwd=PPK101_FIRES)
    assert run.code == 2
    assert "rule ZZ001 failed" in run.err
    assert "PPK101" in run.out  # the other rules still ran


class _LoaderPlugin:
    @hookimpl(tryfirst=True)
    def policykit_load_input(self, path, display, kind):
        if kind == "environment" and path.suffix == ".csv":
            return {"format": "csv", "id": None, "display_name": None, "type": "Sandbox", "url": None,
                    "source": {"file": display, "line": 1}, "available": []}
        return None


def test_loader_hook_first_result_wins():
    pm = get_plugin_manager(entry_points=False)
    pm.register(_LoaderPlugin(), name="csv")
    raw = pm.hook.policykit_load_input(path=Path("x.csv"), display="x.csv", kind="environment")
    assert raw["format"] == "csv"
    raw = pm.hook.policykit_load_input(path=PPK101_FIRES / "prd.yaml", display="prd.yaml", kind="environment")
    assert raw["format"] == "snapshot"


def test_every_hookspec_is_prefixed_and_documented():
    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("policykit_")]
    assert len(specs) >= 4
    for spec in specs:
        assert spec.__doc__ and len(spec.__doc__.strip()) > 40, spec.__name__
    assert "Stops at the first non-None result" in hookspecs.policykit_load_input.__doc__
    others = [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
              if not n.startswith("policykit_") and f.__module__ == hookspecs.__name__]
    assert others == []


def test_policy_scoping_by_environment_type(tmp_path, monkeypatch):
    """A scope runs the rule in the environments it names; one that names no environment of the
    estate is a typo, refused with the policy's file and line (never a rule that runs nowhere)."""
    import shutil
    shutil.copy(PPK101_FIRES / "prd.yaml", tmp_path / "prd.yaml")
    (tmp_path / "dev.yaml").write_text("environment: {type: Sandbox}\n")
    (tmp_path / "policykit.yaml").write_text(
        f"solutions: [{RULES / '_fixtures' / 'solutions' / 'Orders'}]\n"
        "environments:\n  PRD: {metadata: prd.yaml}\n  DEV: {metadata: dev.yaml}\n")
    monkeypatch.chdir(tmp_path)
    estate = load_estate(tmp_path / "policykit.yaml")
    policy_file = tmp_path / "p.yaml"
    estate.policy = policy_file
    for selectors, expected in ((["type:Production"], 1), (["type:sandbox"], 0), (["PRD"], 1), (["DEV"], 0)):
        policy_file.write_text(f"rules:\n  PPK101: {{environments: {selectors}}}\n")
        result = scan(estate, entry_points=False)
        assert len([f for f in result.findings if f.rule_id == "PPK101"]) == expected, selectors
    for selectors, fragment in ((["type:Trial"], "no environment of the estate is of type Trial"),
                                (["PROD"], "'PROD' is no environment of the estate (PRD, DEV); did you mean PRD?")):
        policy_file.write_text(f"rules:\n  PPK101:\n    environments: {selectors}\n")
        with pytest.raises(PolicyError) as caught:
            scan(estate, entry_points=False)
        assert (caught.value.file, caught.value.line) == ("p.yaml", 3)
        assert fragment in caught.value.message


def test_waivers_mark_findings_and_expire(tmp_path, monkeypatch):
    import datetime as dt
    monkeypatch.chdir(PPK101_FIRES)
    estate = load_estate(PPK101_FIRES / "policykit.yaml")
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(textwrap.dedent("""
        waivers:
          - rule: connection-reference-personal-account
            key: "PRD/FixtureOrders/*"
            reason: Migration to TechUser_Orders_SharePoint_PRD planned for sprint 42
            owner: megan.bowen@contoso.com
            ticket: CHG0100042
            expires: 2027-01-31
    """))
    estate.policy = policy_file
    result = scan(estate, entry_points=False, today=dt.date(2026, 12, 1))
    finding = next(f for f in result.findings if f.rule_id == "PPK101")
    assert finding.waived.startswith("Migration") and result.active == []
    result = scan(estate, entry_points=False, today=dt.date(2027, 2, 1))
    assert [f.rule_id for f in result.active] == ["PPK101"]


def test_policy_parameters_reach_the_query(tmp_path, monkeypatch):
    fires = RULES / "PPK203-application-user-admin-role" / "fixtures" / "fires"
    monkeypatch.chdir(fires)
    estate = load_estate(fires / "policykit.yaml")
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text("rules:\n  PPK203:\n    parameters:\n      admin_role_templates: []\n"
                           "      admin_role_names: [System Customizer]\n")
    estate.policy = policy_file
    result = scan(estate, entry_points=False)
    assert [f.key for f in result.findings if f.rule_id == "PPK203"] == ["PRD/5a6b7c8d-1e2f-4a3b-9c8d-7e6f5a4b3c2d"]
    assert load_policy(policy_file, "p.yaml").settings_for("PPK203", "x").parameters["admin_role_templates"] == []


def test_policy_overrides_the_catalogs(tmp_path, monkeypatch):
    """A connector's tier and a SKU's plans come from the shipped catalogs unless the policy says otherwise."""
    fires = RULES / "PPK402-premium-flow-owner-unlicensed" / "fixtures" / "fires"
    monkeypatch.chdir(fires)
    estate = load_estate(fires / "policykit.yaml")
    assert any(f.rule_id == "PPK402" for f in scan(estate, entry_points=False).findings)
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text("catalog:\n  connectors:\n    shared_commondataserviceforapps: {tier: Standard}\n")
    estate.policy = policy_file
    assert not any(f.rule_id == "PPK402" for f in scan(estate, entry_points=False).findings)
    policy_file.write_text("catalog:\n  skus:\n    ENTERPRISEPACK:\n"
                           "      service_plans: [SHAREPOINTENTERPRISE, POWER_AUTOMATE_ATTENDED_RPA]\n")
    assert not any(f.rule_id == "PPK402" for f in scan(estate, entry_points=False).findings)


def test_same_plugin_from_entry_point_and_plugin_flag_loads_once(contoso_on_path, tmp_path, monkeypatch, cli):
    monkeypatch.syspath_prepend(str(_fake_distribution(tmp_path, "policykit_contoso")))
    run = cli("rules", "--plugin", "policykit_contoso")
    assert run.code == 0 and "Traceback" not in run.err, run.err
    lines = [line for line in run.out.splitlines() if line.startswith("CTS001 ")]
    assert len(lines) == 1
    assert lines[0].endswith("[policykit-contoso 1.0.0]")   # the distribution's name and version
    assert "[policykit 0.1.0]" in next(line for line in run.out.splitlines() if line.startswith("PPK101 "))


class _ClashingPlugin:
    __name__ = "clashing_pack"
    __version__ = "2.0.0"

    @hookimpl
    def policykit_rules(self):
        return [_rule("PPK101", "environments[]")]


def test_rule_id_clash_names_both_packs(monkeypatch, cli):
    import policykit.plugins as plugins_module
    original = plugins_module.get_plugin_manager

    def with_clash(extra=(), entry_points=True):
        pm = original(extra, entry_points)
        pm.register(_ClashingPlugin(), name="clashing")
        return pm

    monkeypatch.setattr("policykit.scanner.get_plugin_manager", with_clash)
    run = cli("scan", cwd=PPK101_FIRES)
    assert run.code == 2 and "Traceback" not in run.err
    assert ("rule id PPK101 is defined twice: by pack policykit "
            "(rules/PPK101-connection-reference-personal-account/rule.yaml) and by pack clashing_pack") in run.err


def test_sarif_names_each_pack_in_tool_extensions(contoso_on_path, cli):
    import json
    folder = CTS001 / "fixtures" / "fires"
    run = cli("scan", "--plugin", "policykit_contoso", "--format", "sarif", "--fail-on", "never", cwd=folder)
    assert run.code == 0, run.err
    tool = json.loads(run.out)["runs"][0]["tool"]
    assert [(e["name"], e["version"], [r["id"] for r in e["rules"]]) for e in tool["extensions"]] == [
        ("policykit_contoso", "1.0.0", ["CTS001", "CTS002"])]
    assert {"CTS001", "PPK101"} <= {r["id"] for r in tool["driver"]["rules"]}


@pytest.mark.parametrize("kind", ["Sarif", "Ghas"])
def test_sarif_with_pack_extensions_passes_microsofts_validator(contoso_on_path, cli, tmp_path, kind):
    import sarif_validator
    from conftest import require_validator
    require_validator()
    folder = CTS001 / "fixtures" / "fires"
    out = tmp_path / "contoso.sarif"
    run = cli("scan", "--plugin", "policykit_contoso", "--format", "sarif", "-o", out, "--fail-on", "never", cwd=folder)
    assert run.code == 0, run.err
    findings = sarif_validator.validate(out, kind)
    if kind == "Sarif":
        assert findings == [], sarif_validator.describe(findings)
    else:
        assert sarif_validator.count(findings, "error") == 0, sarif_validator.describe(findings)
