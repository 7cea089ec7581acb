"""The command line end to end: exit codes, outputs, and one-line errors for bad input."""

from __future__ import annotations

import json

from conftest import RULES

PPK101_SILENT = RULES / "PPK101-connection-reference-personal-account" / "fixtures" / "silent"




def test_findings_exit_1_and_text_report(cli, estate):
    run = cli("scan", cwd=estate)
    assert run.code == 1
    assert "PPK101" in run.out and "prd.yaml:16" in run.out
    assert "anna.meier@contoso.com" in run.out


def test_fail_on_never_and_clean_exit_0(cli, estate):
    assert cli("scan", "--fail-on", "never", cwd=estate).code == 0
    assert cli("scan", cwd=PPK101_SILENT).code == 0


def test_fail_on_threshold(cli, estate, tmp_path):
    policy = estate / "policy.yaml"
    policy.write_text("rules:\n  PPK101: {severity: note}\n")
    assert cli("scan", "--policy", policy, cwd=estate).code == 0          # default --fail-on error
    assert cli("scan", "--policy", policy, "--fail-on", "note", cwd=estate).code == 1


def test_sarif_output_file(cli, estate):
    run = cli("scan", "--format", "sarif", "--output", "out/x.sarif", cwd=estate)
    assert run.code == 1
    log = json.loads((estate / "out" / "x.sarif").read_text())
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["PPK101"]
    loc = results[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "prd.yaml" and loc["region"]["startLine"] == 16
    ran = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"PPK101", "PPK102", "PPK201", "PPK203", "PPK401", "PPK402"} <= ran
    assert not list((estate / "out").glob(".*tmp")), "temporary file left behind"


def test_paths_mode_with_env_and_settings(cli, estate):
    run = cli("scan", "Orders", "--env", "PRD=prd.yaml", cwd=estate)
    assert run.code == 1 and "PPK101" in run.out


def test_rules_lists_every_rule_with_level(cli):
    run = cli("rules")
    assert run.code == 0
    lines = run.out.splitlines()
    assert any(line.startswith("PPK101  error") for line in lines)
    assert any(line.startswith("PPK203  error") for line in lines)


def test_explain_prints_docs(cli):
    run = cli("explain", "PPK203")
    assert run.code == 0
    assert "## Why is this bad?" in run.out and "application-user-admin-role" in run.out
    assert cli("explain", "connection-reference-unbound").code == 0
    bad = cli("explain", "PPK999")
    assert bad.code == 2 and "unknown rule" in bad.err


def test_doc_prints_document_and_query(cli, estate):
    run = cli("doc", "-q", "environments[].bindings[].[logical_name, account, user.kind]", cwd=estate)
    assert run.code == 0
    assert json.loads(run.out) == [["fxo_OrdersSharePoint", "anna.meier@contoso.com", "person"],
                                   ["fxo_OrdersDataverse", "TechUser_Orders_Dataverse_PRD@contoso.com", "technical"]]
    doc = json.loads(cli("doc", cwd=estate).out)
    assert doc["schema_version"] == 1 and doc["solutions"][0]["unique_name"] == "FixtureOrders"


def _one_line_error(run, *fragments: str) -> None:
    assert run.code == 2, (run.code, run.out, run.err)
    errors = [line for line in run.err.splitlines() if line.startswith("policykit: error:")]
    assert errors, run.err
    assert "Traceback" not in run.err
    for fragment in fragments:
        assert any(fragment in e for e in errors), (fragment, errors)


def test_malformed_xml_names_file_and_line(cli, estate):
    cust = estate / "Orders" / "Other" / "Customizations.xml"
    cust.write_text(cust.read_text(encoding="utf-8-sig").replace("</connectionreferences>", "</connectionreference>"))
    run = cli("scan", cwd=estate)
    _one_line_error(run, "Orders/Other/Customizations.xml:", "malformed XML")
    line = int(run.err.split("Customizations.xml:")[1].split(":")[0])
    assert line > 1


def test_malformed_json_names_file_and_line(cli, estate):
    (estate / "settings.json").write_text('{\n  "ConnectionReferences": [\n    {"LogicalName": "x",}\n  ]\n}\n')
    run = cli("scan", "Orders", "--settings", "PRD=settings.json", cwd=estate)
    _one_line_error(run, "settings.json:3: malformed JSON")


def test_malformed_yaml_snapshot_names_file_and_line(cli, estate):
    (estate / "prd.yaml").write_text("users:\n  - upn: a@contoso.com\n    roles: [Basic User\n")
    _one_line_error(cli("scan", cwd=estate), "prd.yaml:")


def test_malformed_estate_file(cli, estate):
    (estate / "policykit.yaml").write_text("solutions: [Orders\n")
    run = cli("scan", cwd=estate)
    _one_line_error(run, "policykit.yaml:")
    assert run.out == ""


def test_policy_unknown_key_names_key_and_line(cli, estate):
    (estate / "policy.yaml").write_text("rules:\n  PPK101:\n    severty: warning\n")
    run = cli("scan", "--policy", "policy.yaml", cwd=estate)
    _one_line_error(run, "policy.yaml:3:", "severty")


def test_policy_unknown_rule(cli, estate):
    (estate / "policy.yaml").write_text("rules:\n  PPK999: {enabled: false}\n")
    _one_line_error(cli("scan", "--policy", "policy.yaml", cwd=estate), "policy.yaml:2:", "PPK999")


def test_policy_yaml_python_tag_refused(cli, estate):
    (estate / "policy.yaml").write_text("rules: !!python/object/apply:os.system ['true']\n")
    _one_line_error(cli("scan", "--policy", "policy.yaml", cwd=estate), "policy.yaml:1:")


def test_estate_missing_path(cli, estate):
    (estate / "policykit.yaml").write_text("solutions: [Orders]\nenvironments:\n  PRD: {metadata: nowhere.yaml}\n")
    _one_line_error(cli("scan", cwd=estate), "policykit.yaml:3:", "nowhere.yaml")


def test_output_not_written_on_configuration_error(cli, estate):
    (estate / "policy.yaml").write_text("rules: [oops]\n")
    run = cli("scan", "--policy", "policy.yaml", "--format", "sarif", "-o", "out.sarif", cwd=estate)
    assert run.code == 2
    assert not (estate / "out.sarif").exists()


def test_usage_errors(cli, estate):
    _one_line_error(cli("scan", "--env", "PRD", cwd=estate), "NAME=PATH")
    _one_line_error(cli("scan", "nothing-here", cwd=estate), "path not found")


def test_max_zip_entries_is_an_option(cli, tmp_path):
    """The zip entry cap is an option like the other limits, and a refusal says how to raise it."""
    import shutil
    from conftest import ORDERS
    archive = shutil.make_archive(str(tmp_path / "orders"), "zip", ORDERS)
    run = cli("scan", archive, "--max-zip-entries", "3")
    assert run.code == 2 and "more than 3 entries" in run.err and "--max-zip-entries" in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_a_path_the_system_refuses_is_a_usage_error(cli):
    run = cli("scan", "x" * 300)
    assert run.code == 2 and run.err.startswith("policykit: error: cannot use path") and "Traceback" not in run.err


def test_rule_author_commands_are_listed_and_refuse_missing_folders(cli, tmp_path, capsys):
    import pytest

    from policykit.cli import main
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    for command in ("test", "validate", "new-rule", "new-pack"):
        assert command in listed
    for command in ("test", "validate"):
        run = cli(command, "no/such/pack", cwd=tmp_path)
        assert run.code == 2 and run.err == "policykit: error: pack folder not found: no/such/pack\n"
    run = cli("new-pack", "Bad_Name", cwd=tmp_path)
    assert run.code == 2 and "pack name must be lower-case words" in run.err
