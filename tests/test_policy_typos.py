"""The policy refuses every typo: each kind is an error naming the file and the line, exit 2, one
line and no traceback — never a rule that quietly runs nowhere or with its default."""

from __future__ import annotations

import pytest
from conftest import RULES

from policykit.patterns import search


def one_error(run, where: str, *fragments: str) -> str:
    """Exit code 2, no traceback, one error line naming ``where`` (file:line) and the fragments."""
    assert run.code == 2, (run.code, run.out, run.err)
    assert "Traceback" not in run.err + run.out
    errors = [line for line in run.err.splitlines() if line.startswith("policykit: error:")]
    assert len(errors) == 1 and len(run.err.splitlines()) == 1, run.err
    assert where in errors[0] and all(f in errors[0] for f in fragments), (where, fragments, errors)
    return errors[0]


def scan_with(cli, estate, policy: str):
    (estate / "policy.yaml").write_text(policy, encoding="utf-8")
    return cli("scan", "--policy", "policy.yaml", cwd=estate)


TYPOS = {
    "unknown rule id": ("rules:\n  PPK1O1: {enabled: false}\n", 2, "unknown rule 'PPK1O1'", "did you mean PPK101?"),
    "unknown rule name": ("rules:\n  connection-reference-personal-acount: {enabled: false}\n", 2,
                          "unknown rule 'connection-reference-personal-acount'"),
    "waiver for unknown rule": ("waivers:\n  - key: PRD/*\n    rule: PPK1O1\n    reason: migration\n    owner: a@contoso.com\n    ticket: CHG1\n    expires: 2099-12-31\n", 3,
                                "waiver for unknown rule 'PPK1O1'", "did you mean PPK101?"),
    "environment name": ("rules:\n  PPK101:\n    environments:\n      - PROD\n", 4,
                         "rules.PPK101.environments[0]: 'PROD' is no environment of the estate (PRD)",
                         "did you mean PRD?"),
    "environment type absent": ("rules:\n  PPK101:\n    environments: [UAT, PRD]\n", 3, "'UAT' is no environment"),
    "environment type": ("rules:\n  PPK101:\n    environments:\n      - PRD\n      - type:Sandbox\n", 5,
                         "no environment of the estate is of type Sandbox (types: Production)"),
    "environment type name": ("rules:\n  PPK101:\n    environments: ['type:Prod']\n", 3,
                              "'Prod' is not an environment type", "did you mean Production?"),
    "waiver environment": ("waivers:\n  - rule: PPK101\n    key: PRD/*\n    environment: PROD\n    reason: r\n    owner: a@contoso.com\n    ticket: CHG1\n    expires: 2099-12-31\n", 4,
                           "waiver environment 'PROD' is no environment of the estate (PRD)"),
    "undeclared parameter": ("rules:\n  PPK104:\n    parameters:\n      requre_solution_name: false\n", 4,
                             "rule PPK104 has no parameter 'requre_solution_name'",
                             "did you mean require_solution_name?"),
    "parameter of a rule without parameters": ("rules:\n  PPK101:\n    parameters: {pattern: x}\n", 3,
                                               "rule PPK101 has no parameter 'pattern'", "(its parameters: none)"),
    "parameter type": ("rules:\n  PPK104:\n    parameters:\n      require_solution_name: 'no'\n", 4,
                       "rules.PPK104.parameters.require_solution_name must be true/false"),
    "parameter integer": ("rules:\n  PPK302:\n    parameters:\n      max_global_tables: 2.5\n", 4,
                          "rules.PPK302.parameters.max_global_tables must be a whole number"),
    "parameter list item": ("rules:\n  PPK203:\n    parameters:\n      admin_role_names:\n        - System Administrator\n"
                            "        - 7\n", 6, "rules.PPK203.parameters.admin_role_names[1] must be a string"),
    "regex parameter": ("rules:\n  PPK104:\n    parameters:\n      logical_name_pattern: '(?=cr)'\n", 4,
                        "rules.PPK104.parameters.logical_name_pattern", "lookarounds"),
    "regex in a list": ("rules:\n  PPK501:\n    parameters:\n      ignore_value_patterns:\n        - '^ok$'\n"
                        "        - '(unclosed'\n", 6, "ignore_value_patterns[1]", "not a valid regular expression"),
    "regex in a mapping": ("rules:\n  PPK104:\n    parameters:\n      connector_aliases:\n        shared_sql: '(?i)sql'\n"
                           "        shared_teams: '(\\w)\\1'\n", 6, "connector_aliases.shared_teams", "backreferences"),
    "unknown key": ("rules:\n  PPK101:\n    severty: note\n", 3, "unknown key 'severty'"),
    "wrong type": ("rules:\n  PPK101:\n    enabled: 'no'\n", 3, "rules.PPK101.enabled must be true/false"),
    "rule pack folder": ("description: x\nrule_packs:\n  - rules/northwnd/\n", 3, "rule_packs[0]: folder not found"),
}


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_policy_typo_is_an_error_with_file_and_line(cli, estate, case):
    text, line, *fragments = TYPOS[case]
    one_error(scan_with(cli, estate, text), f"policy.yaml:{line}:", *fragments)


def test_typo_in_an_extended_policy_names_that_file(cli, estate):
    (estate / "base.yaml").write_text("rules:\n  PPK203:\n    parameters:\n      admin_role_name: [X]\n")
    one_error(scan_with(cli, estate, "extends: base.yaml\nrules:\n  PPK101: {enabled: true}\n"),
              "base.yaml:4:", "rule PPK203 has no parameter 'admin_role_name'")


def test_estate_file_rule_pack_typo(cli, estate):
    (estate / "policykit.yaml").write_text("name: orders\nsolutions: [Orders]\nrule_packs:\n  - packs/nw/\n"
                                           "environments:\n  PRD: {metadata: prd.yaml}\n")
    one_error(cli("scan", cwd=estate), "policykit.yaml:4:", "rule pack folder not found: packs/nw/")


def test_a_valid_policy_still_scans(cli, estate):
    policy = ("rules:\n  PPK101: {environments: [PRD, 'type:production']}\n  PPK104:\n    parameters:\n"
              "      require_solution_name: false\n      connector_aliases: {shared_sql: '(?i)sql'}\n"
              "waivers:\n  - {rule: ppk-unknown-but-name, key: x, reason: r, owner: o, ticket: T-1, expires: 2099-12-31}\n")
    one_error(scan_with(cli, estate, policy), "policy.yaml:8:", "waiver for unknown rule 'ppk-unknown-but-name'")
    run = scan_with(cli, estate, policy.split("waivers:")[0])
    assert run.code == 1 and "PPK101" in run.out, run.err


def _rule_folder(root, query: str):
    folder = root / "northwind" / "NW001-broken-at-run-time"
    folder.mkdir(parents=True)
    (folder / "rule.yaml").write_text(
        "id: NW001\nname: broken-at-run-time\ntitle: Broken\nseverity: warning\n"
        f"query: \"{query}\"\nmessage: Connection {{id}}.\n", encoding="utf-8")
    return folder


def test_run_time_failure_of_a_rule_names_its_file(cli, estate):
    _rule_folder(estate, "environments[].connections[?starts_with(id, `1`)][]")
    (estate / "policy.yaml").write_text("rule_packs: [northwind/]\n")
    run = cli("scan", "--policy", "policy.yaml", cwd=estate)
    assert run.code == 2 and "Traceback" not in run.err
    assert "rule NW001 failed: northwind/NW001-broken-at-run-time/rule.yaml: " in run.err
    assert "invalid type for value: 1" in run.err


@pytest.mark.parametrize("text,line,fragment", [
    ("parameters:\n  prefix: {type: text, default: x, doc: d}\n", 8, "parameters.prefix.type is not a parameter type"),
    ("parameters:\n  prefix: {type: 'list[strin]', default: [], doc: d}\n", 8, "is not a parameter type"),
    ("parameters:\n  prefix:\n    type: integer\n    default: NW-\n    doc: d\n", 10,
     "parameters.prefix.default must be a whole number"),
    ("parameters:\n  prefix:\n    type: regex\n    default: '(?<=x)'\n    doc: d\n", 10, "parameters.prefix.default"),
    ("parameters:\n  prefix: {type: string, default: x}\n", 8, "parameters.prefix lacks doc"),
    ("parameters:\n  prefix: [x]\n", 8, "parameters.prefix must be a mapping"),
    ("severty: note\n", 7, "unknown key 'severty' in the document"),
])
def test_rule_yaml_parameter_contract_errors(cli, estate, text, line, fragment):
    folder = _rule_folder(estate, "environments[].connections[][]")
    with (folder / "rule.yaml").open("a", encoding="utf-8") as fh:
        fh.write(text)
    (estate / "policy.yaml").write_text("rule_packs: [northwind/]\n")
    one_error(cli("scan", "--policy", "policy.yaml", cwd=estate),
              f"northwind/NW001-broken-at-run-time/rule.yaml:{line}:", fragment)


def test_explain_accepts_any_case(cli):
    for spelled in ("ppk203", "Ppk203", "APPLICATION-USER-ADMIN-ROLE"):
        run = cli("explain", spelled)
        assert run.code == 0 and run.out.startswith("PPK203 application-user-admin-role"), spelled
    run = cli("explain", "ppk104")
    assert "logical_name_pattern (regex, default \"\")" in run.out
    assert "Your own convention, if any: logical names must match" in run.out


@pytest.mark.parametrize("pattern", ["^NW-", "(?i)^nw_[a-z ]+$", "^[^|]+ \\| [^|]+$", "Connector$"])
def test_ppk104_message_shows_the_pattern_and_a_suggestion_that_satisfies_it(cli, tmp_path, pattern):
    import json
    solution = RULES / "_fixtures" / "solutions" / "R1Invoices"
    (tmp_path / "policy.yaml").write_text(
        "rules:\n  PPK104:\n    parameters:\n      display_name_pattern: " + json.dumps(pattern) + "\n")
    run = cli("scan", solution, "--policy", tmp_path / "policy.yaml", "--format", "json", "--fail-on", "never",
              cwd=tmp_path)
    assert run.code == 0, run.err
    messages = [json.loads(line)["message"] for line in run.out.splitlines() if '"PPK104"' in line]
    assert messages
    for message in messages:
        assert f"the display name does not match the naming convention {pattern}" in message
        suggestion = message.split('such as "', 1)[1].rsplit('"', 1)[0]
        assert search(pattern, suggestion), (pattern, suggestion)
