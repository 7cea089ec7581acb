"""Parsers and patterns never lose a value silently, never crash and never hang (issue 10).

One class of problem per section, each on the files where it bites: policies, estate files,
snapshots, rule.yaml, deployment settings and environment exports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import jmespath
import pytest
from conftest import ORDERS, REPO

from policykit.errors import InputError, PolicyError, RuleError
from policykit.functions import BaseFunctions
from policykit.parsing import parse_json, parse_yaml
from policykit.patterns import PatternError, compile_pattern, pattern_problem, search
from policykit.policy import load_policy
from policykit.rulepack import load_rule

EXPORT = Path(__file__).parent / "data" / "environments" / "contoso-dev"
SETTINGS = {"EnvironmentVariables": [{"SchemaName": "fxc_PartnerApiUrl", "Value": "https://api.partner.example/v2"}],
            "ConnectionReferences": [{"LogicalName": "fxo_OrdersSharePoint", "ConnectionId": "",
                                      "ConnectorId": "/providers/Microsoft.PowerApps/apis/shared_sharepointonline"}]}


def one_error(run, where: str, *fragments: str) -> str:
    """Exit code 2, no traceback, and one error line naming ``where`` (file:line) and the fragments."""
    assert run.code == 2, (run.code, run.out, run.err)
    assert "Traceback" not in run.err + run.out
    errors = [line for line in run.err.splitlines() if line.startswith("policykit: error:")]
    matching = [e for e in errors if where in e and all(f in e for f in fragments)]
    assert matching, (where, fragments, errors)
    return matching[0]


def scan(cli, cwd: Path, *args):
    return cli("scan", *args, "--format", "sarif", "-o", "out.sarif", cwd=cwd)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- 1. YAML tags

POLICY_TAGS = {
    "int": ("rules:\n  PPK302:\n    parameters:\n      max_global_tables: !!int abc\n", 4, "!!int"),
    "bool": ("rules:\n  PPK101:\n    enabled: !!bool maybe\n", 3, "!!bool"),
    "timestamp": ("waivers:\n  - rule: PPK101\n    key: DEV/*\n    reason: r\n    expires: !!timestamp x\n", 5,
                  "!!timestamp"),
    "python": ("description: !!python/object/apply:os.system [echo pwned]\n", 1, "!!python/object/apply:os.system"),
    "local": ("identities:\n  technical_accounts:\n    patterns: [!Ref x]\n", 3, "!Ref"),
    "non-specific": ("description: ! text\n", 1, "(!)"),
    "root": ("!!map\nrules: {}\n", 1, "!!map"),
}


@pytest.mark.parametrize("case", sorted(POLICY_TAGS))
def test_policy_tags_refused(cli, estate, case):
    text, line, shown = POLICY_TAGS[case]
    write(estate / "policy.yaml", text)
    one_error(scan(cli, estate, "--policy", "policy.yaml"), f"policy.yaml:{line}:", "YAML tags are not supported", shown)


def test_estate_file_tag_refused(cli, estate):
    write(estate / "policykit.yaml", "name: !Ref orders\nsolutions: [Orders]\nenvironments:\n  PRD: {metadata: prd.yaml}\n")
    one_error(scan(cli, estate), "policykit.yaml:1:", "YAML tags are not supported (!Ref)")


@pytest.mark.parametrize("line,tagged", [
    (1, "environment: {display_name: Contoso PRD, type: !!bool maybe}"),
    (7, "    licenses: !!set {ENTERPRISEPACK}"),
    (16, "  fxo_OrdersSharePoint: !!int shared-sharepointonl-0a1b2c3d"),
])
def test_snapshot_tags_refused(cli, estate, line, tagged):
    lines = (estate / "prd.yaml").read_text(encoding="utf-8").splitlines()
    lines[line - 1] = tagged
    write(estate / "prd.yaml", "\n".join(lines) + "\n")
    one_error(scan(cli, estate), f"prd.yaml:{line}:", "YAML tags are not supported")


def test_rule_yaml_tag_refused(tmp_path):
    folder = shutil.copytree(REPO / "rules" / "PPK101-connection-reference-personal-account", tmp_path / "PPK901")
    text = (folder / "rule.yaml").read_text(encoding="utf-8")
    write(folder / "rule.yaml", text.replace("severity: error", "severity: !!python/name:os.system error", 1))
    with pytest.raises(InputError) as caught:
        load_rule(folder, "pack/PPK901", "test")
    assert caught.value.file == "pack/PPK901/rule.yaml" and caught.value.line
    assert "YAML tags are not supported" in str(caught.value)


def test_untagged_values_that_crashed_the_constructors():
    """Dates stay the text written (no rounding to microseconds, no crash on 2024-13-45); a
    number Python cannot convert is an error at its line."""
    parsed = parse_yaml(b"users:\n  - upn: a@contoso.com\n    created_time: 2025-01-14T09:02:41.1187305Z\n"
                        b"    since: 2024-13-45\n    on: yes\n", file="prd.yaml")
    user = parsed.value["users"][0]
    assert user["created_time"] == "2025-01-14T09:02:41.1187305Z"
    assert user["since"] == "2024-13-45"
    assert user["on"] is True  # a YAML 1.1 boolean value; the key stays the text written
    with pytest.raises(InputError, match=r"prd\.yaml:2: invalid value .*4300 digits"):
        parse_yaml(b"environment:\n  type: " + b"9" * 5000 + b"\n", file="prd.yaml")


def test_policy_expires_must_be_a_date_string(cli, estate):
    write(estate / "policy.yaml", "waivers:\n  - {rule: PPK101, key: 'PRD/*', reason: r, expires: 20270331}\n")
    one_error(scan(cli, estate, "--policy", "policy.yaml"), "policy.yaml:2:", "must be a date")


# --------------------------------------------------------------------------- 2. duplicate keys

def test_snapshot_second_connection_references_refused(cli, estate):
    """A second connection_references: would replace the first and hide PPK101's finding."""
    text = (estate / "prd.yaml").read_text(encoding="utf-8")
    write(estate / "prd.yaml", text + "connection_references:\n  fxo_OrdersDataverse: shared-commondataser-0a1b2c3e\n")
    one_error(scan(cli, estate), "prd.yaml:18:", "duplicate key 'connection_references'", "first at line 15")


def test_policy_second_rules_refused(cli, estate):
    write(estate / "policy.yaml", "rules:\n  PPK101: {enabled: false}\ndescription: x\nrules:\n  PPK104: {enabled: false}\n")
    one_error(scan(cli, estate, "--policy", "policy.yaml"), "policy.yaml:4:", "duplicate key 'rules'", "first at line 1")


def test_estate_file_duplicate_refused(cli, estate):
    write(estate / "policykit.yaml", "name: orders\nsolutions: [Orders]\nenvironments:\n  PRD: {metadata: prd.yaml}\n"
                                     "  PRD: {metadata: other.yaml}\n")
    one_error(scan(cli, estate), "policykit.yaml:5:", "duplicate key 'PRD'")


def test_yaml_keys_compared_as_written():
    """'1' and 1 are one key; 1, 1.0 and true are three (they were one Python key before)."""
    with pytest.raises(InputError, match=r"x\.yaml:3: duplicate key '1' \(first at line 2\)"):
        parse_yaml(b"map:\n  1: a\n  '1': b\n", file="x.yaml")
    assert parse_yaml(b"1: a\n1.0: b\ntrue: c\n", file="x.yaml").value == {"1": "a", "1.0": "b", "true": "c"}
    with pytest.raises(InputError, match=r"x\.yaml:2: YAML merge keys"):
        parse_yaml(b"a: 1\n<<: {a: 2}\n", file="x.yaml")


def test_settings_second_environment_variables_refused(cli, estate):
    """A second "EnvironmentVariables" would hide the secret in the first from PPK503."""
    text = json.dumps(SETTINGS, indent=2)
    text = text[:-2] + ',\n  "EnvironmentVariables": []\n}\n'
    write(estate / "settings.json", text)
    second = text.count("\n", 0, text.rindex('"EnvironmentVariables"')) + 1
    assert second > 10
    one_error(scan(cli, estate, "--settings", "PRD=settings.json"), f"settings.json:{second}:",
              "duplicate key 'EnvironmentVariables'", "first at line 2")


def test_export_row_repeated_key_refused(cli, estate):
    shutil.copytree(EXPORT, estate / "dev")
    path = estate / "dev" / "systemusers.json"
    text = path.read_text(encoding="utf-8")
    write(path, text.replace('"fullname": "Megan Bowen",', '"fullname": "Megan Bowen",\n      "fullname": "Someone Else",', 1))
    line = text[: text.index('"fullname": "Megan Bowen"')].count("\n") + 2
    one_error(scan(cli, estate, "--env", "DEV=dev"), f"systemusers.json:{line}:", "duplicate key 'fullname'")


def test_json_duplicate_found_through_escapes_and_nesting():
    with pytest.raises(InputError, match=r"f\.json:2: duplicate key 'Value' \(first at line 1\)"):
        parse_json(b'{"EnvironmentVariables": [{"SchemaName": "a", "Value": {"x": [1]},\n'
                   b'  "\\u0056alue": "s"}],\n "ConnectionReferences": [], "Value": 1}', file="f.json")
    with pytest.raises(InputError, match=r"f\.json:4: duplicate key 'a'"):
        parse_json(b'[{"a": 1},\n {"a": 1},\n {"b": {"a": 1,\n  "a": [2]}}]', file="f.json")


def test_json_key_lines_survive_the_new_scan():
    data = b'{\n "a": "x\\"{[\\\\",\n "b": {\n  "c": [1, {"d": "}"}],\n  "e": "\\u007b"\n }\n}\n'
    parsed = parse_json(data, file="f.json")
    b = parsed.value["b"]
    assert [parsed.key_line(parsed.value, "a"), parsed.key_line(parsed.value, "b")] == [2, 3]
    assert [parsed.key_line(b, "c"), parsed.key_line(b, "e"), parsed.line_of(b["c"][1])] == [4, 5, 4]


PRETTY = ('{\r\n  "value": [\r\n    {\r\n      "name": "x\\"{[\\\\",\r\n      "n": -1.5e+3,\r\n'
          '      "ok": true,\r\n      "none": null,\r\n      "tags": [],\r\n      "props": {},\r\n'
          '      "nested": {\r\n        "list": [\r\n          "}",\r\n          2\r\n        ]\r\n'
          '      }\r\n    }\r\n  ]\r\n}\r\n')


def _lines(parsed) -> list:
    row = parsed.value["value"][0]
    return [parsed.line_of(parsed.value["value"]), parsed.line_of(row),
            *(parsed.key_line(row, k) for k in row), parsed.line_of(row["nested"]["list"]),
            parsed.key_line(row["nested"], "list")]


def test_pretty_printed_json_gets_the_lines_of_the_token_scan():
    """Pretty-printed files (every export) take the one-expression path; the lines are the ones the
    token scan gives, CRLF, escapes and brackets inside strings included."""
    from policykit import parsing
    pretty = parse_json(PRETTY.encode(), file="f.json")
    assert parsing._pretty_positions(PRETTY) == parsing._scan_positions(PRETTY, "f.json", None)
    assert _lines(pretty) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11]
    compact = parse_json(json.dumps(json.loads(PRETTY), indent=1).replace('"tags": []', '"tags": [], "x": 1')
                         .encode(), file="f.json")   # a line with two keys: the token scan
    assert compact.key_line(compact.value["value"][0], "x") == compact.key_line(compact.value["value"][0], "tags")


def test_pretty_printed_duplicate_is_found_even_beside_a_line_of_two_keys():
    """A missed key on a two-key line and a key json.loads dropped must not cancel out."""
    text = PRETTY.replace('"ok": true,', '"ok": true, "none": 1,').replace('"tags": [],', '"tags": [],\r\n "tags": 1,')
    with pytest.raises(InputError, match=r"f\.json:7: duplicate key 'none' \(first at line 6\)"):
        parse_json(text.encode(), file="f.json")
    with pytest.raises(InputError, match=r"f\.json:9: duplicate key 'tags' \(first at line 8\)"):
        parse_json(PRETTY.replace('"tags": [],', '"tags": [],\r\n "tags": 1,').encode(), file="f.json")


@pytest.mark.parametrize("depth", [250, 1500])
def test_pretty_printed_nesting_past_the_limit_names_its_line(depth):
    data = ("".join("  " * i + '{"a":\n' for i in range(depth)) + "1" + "}" * depth).encode()
    with pytest.raises(InputError, match=r"JSON nested deeper than 200 levels") as caught:
        parse_json(data, file="deep.json")
    assert caught.value.line == 201


@pytest.mark.parametrize("data,fragment", [
    (b'{"a": NaN}', "NaN is not a JSON value"),
    (b'{"a":\n ' + b"1" * 5000 + b"}", "more than 4300 digits"),
])
def test_json_values_python_cannot_take(data, fragment):
    with pytest.raises(InputError, match=fragment) as caught:
        parse_json(data, file="f.json")
    assert caught.value.line == data.count(b"\n") + 1


# --------------------------------------------------------------------------- 3. memory

def _peak(call) -> tuple[int, float]:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        call()
        return tracemalloc.get_traced_memory()[1], time.perf_counter() - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("body", ["a", "\\n", '\\"', "é"])
def test_one_long_string_costs_little_memory(body):
    """A 20 MB settings value: peak at most 20 times the file (it was ~136 times) and < 5 s."""
    value = body * (20_000_000 // len(body.encode()))
    data = json.dumps({"EnvironmentVariables": [{"SchemaName": "x", "Value": "@"}]}).replace("@", value).encode()
    del value
    peak, seconds = _peak(lambda: parse_json(data, file="settings.json"))
    assert peak <= 20 * len(data), (peak / len(data), "times the file")
    assert seconds < 5, seconds


@pytest.mark.parametrize("body", ["a", "\\n", '\\"'])
def test_one_long_string_in_a_pretty_printed_file_costs_little_memory(body):
    """The same on the pretty-printed path (one regular expression over every line)."""
    value = body * (20_000_000 // len(body.encode()))
    data = json.dumps({"EnvironmentVariables": [{"SchemaName": "x", "Value": "@"}]}, indent=2).replace("@", value).encode()
    del value
    peak, seconds = _peak(lambda: parse_json(data, file="settings.json"))
    assert peak <= 20 * len(data), (peak / len(data), "times the file")
    assert seconds < 5, seconds


def test_many_strings_and_escapes_stay_linear():
    row = '{"SchemaName": "x\\\\", "Value": "\\"a\\"\\\\"},\n'
    small = ('{"EnvironmentVariables": [' + row * 20_000 + "{}]}").encode()
    large = ('{"EnvironmentVariables": [' + row * 200_000 + "{}]}").encode()
    seconds = []
    for data in (small, large):
        start = time.perf_counter()
        parse_json(data, file="s.json")
        seconds.append(time.perf_counter() - start)
    assert seconds[1] < max(20 * seconds[0], 1.0), seconds  # 10 times the input, not 100 times the time
    parsed = parse_json(large, file="s.json")
    last = parsed.value["EnvironmentVariables"][-2]
    assert parsed.line_of(last) == 200_000 and parsed.key_line(last, "Value") == 200_000


# --------------------------------------------------------------------------- 4. user patterns

EVIL = "(a+)+$"
VICTIM = "a" * 35 + "!"


def test_catastrophic_technical_pattern_does_not_hang(tmp_path):
    """End to end in a subprocess (a backtracking engine would never return): the policy's
    technical-account pattern against a 36-character user name from the snapshot."""
    estate = tmp_path
    shutil.copytree(ORDERS, estate / "Orders")
    write(estate / "prd.yaml", f"environment: {{type: Production}}\nusers:\n  - upn: {VICTIM}@contoso.com\n"
                               f"    name: {VICTIM}\n")
    write(estate / "policy.yaml", f"identities:\n  technical_accounts:\n    patterns: ['{EVIL}', '(x+x+)+y']\n")
    write(estate / "policykit.yaml", "solutions: [Orders]\npolicy: policy.yaml\nenvironments:\n  PRD: {metadata: prd.yaml}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "policykit", "scan", "--fail-on", "never"], cwd=estate, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert time.perf_counter() - start < 30


def test_catastrophic_patterns_are_linear():
    for pattern, text in [(EVIL, VICTIM), ("(x+x+)+y", "x" * 5000), ("(a|a)*$", "a" * 10_000 + "!"),
                          (r"(\w|\d)+$", "1" * 10_000 + "!"), ("(.*a){20}", "a" * 5000)]:
        start = time.perf_counter()
        search(pattern, text)
        assert time.perf_counter() - start < 1, pattern


def test_regex_match_uses_the_linear_engine():
    functions = BaseFunctions()
    options = jmespath.Options(custom_functions=functions)
    assert jmespath.search(f"regex_match('{EVIL}', display_name)", {"display_name": VICTIM}, options=options) is False
    assert jmespath.search("regex_match('(?i)^fixture', display_name)", {"display_name": "FIXTURE x"}, options=options)
    with pytest.raises(RuleError, match="does not support"):
        jmespath.search("regex_match('(?=a)a', 'a')", {}, options=options)
    with pytest.raises(RuleError, match="repeat count is too large"):
        jmespath.search("regex_match('a{99999999999}', 'a')", {}, options=options)


def test_ppk104_naming_pattern_runs_on_the_linear_engine(cli, estate):
    customizations = estate / "Orders" / "Other" / "Customizations.xml"
    text = customizations.read_text(encoding="utf-8")
    write(customizations, text.replace("Fixture Orders SharePoint", VICTIM))
    write(estate / "policy.yaml", f"rules:\n  PPK104:\n    parameters: {{display_name_pattern: '{EVIL}'}}\n")
    start = time.perf_counter()
    run = cli("scan", "--policy", "policy.yaml", "--format", "json", "--fail-on", "never", cwd=estate)
    assert run.code == 0, run.err
    assert "the display name does not match the naming convention" in run.out
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("pattern,fragment", [
    ("(?i)^(?!admin)svc_", "lookarounds"),
    (r"(\w)\1", "backreferences"),
    ("a{99999999999}", "repeat count is too large"),
    ("(x{1000}){1000}", "at most 1000"),
    ("(", "not a valid regular expression"),
    (r"\pL", "not a valid regular expression"),
    ("(?!)", "to match nothing"),
])
def test_policy_pattern_refused_with_file_and_line(cli, estate, pattern, fragment):
    write(estate / "policy.yaml", "identities:\n  platform_applications:\n    name_patterns:\n"
                                  f"      - '(?i)^# '\n      - {json.dumps(pattern)}\n")
    with pytest.raises(PolicyError, match=fragment) as caught:
        load_policy(estate / "policy.yaml", "policy.yaml")
    assert (caught.value.file, caught.value.line) == ("policy.yaml", 5)
    assert caught.value.message.startswith("identities.platform_applications.name_patterns[1] ")
    one_error(scan(cli, estate, "--policy", "policy.yaml"), "policy.yaml:5:", fragment)


def test_every_default_pattern_runs_on_the_linear_engine():
    default = parse_yaml((REPO / "policies" / "default.yaml").read_bytes(), file="default.yaml").value
    ids = default["identities"]
    found = ids["technical_accounts"]["patterns"] + ids["platform_applications"]["name_patterns"]
    # The rules' parameter defaults live in each rule.yaml (policies/default.yaml sets none).
    rules = {d.name[:6]: {"parameters": load_rule(d, d.name, "test").parameters}
             for d in (REPO / "rules").glob("PPK[15]0[0-9]-*")}
    found += [v for k, v in rules["PPK104"]["parameters"].items() if k.startswith("generated_") or k.endswith("_pattern")]
    found += list(rules["PPK104"]["parameters"]["connector_aliases"].values())
    found += rules["PPK501"]["parameters"]["ignore_value_patterns"] + rules["PPK503"]["parameters"]["ignore_value_patterns"]
    assert len(found) > 20
    for pattern in found:
        assert pattern_problem(pattern) is None, pattern
    assert search(rules["PPK104"]["parameters"]["connector_aliases"]["shared_sql"], "Orders SQL")
    assert compile_pattern("(?i)tech[-_.]?user") is compile_pattern("(?i)tech[-_.]?user")  # cached


def test_pattern_edge_cases():
    assert search("a", "\ud800a")  # a lone surrogate from a JSON escape does not crash the matcher
    assert not search(r"[^\s\S]", "anything") and search("", "")
    with pytest.raises(PatternError):
        compile_pattern(["not", "a", "string"])  # type: ignore[arg-type]
    assert pattern_problem(["x"]) == "must be a string"
