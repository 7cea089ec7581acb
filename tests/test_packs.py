"""Rule packs as a product: local YAML packs, `policykit test`, `policykit validate`, scaffolding,
and the example pack copied out of the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

PYTHON_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def policykit(*args, cwd: Path) -> subprocess.CompletedProcess:
    """``policykit ARGS`` in a fresh process, as a user runs it (the repository on PYTHONPATH only)."""
    return subprocess.run([sys.executable, "-m", "policykit", *map(str, args)], cwd=cwd, env=PYTHON_ENV,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def northwind(tmp_path, cli) -> Path:
    """A local pack with one scaffolded rule, and an estate whose policy names it."""
    assert cli("new-rule", "NW001", "--pack", "rules/northwind", "--name", "no-twitter", cwd=tmp_path).code == 0
    (tmp_path / "rules" / "northwind" / "pack.yaml").write_text("name: northwind\nversion: 2.1.0\n")
    shutil.copy(tmp_path / "rules/northwind/NW001-no-twitter/fixtures/fires/prd.yaml", tmp_path / "prd.yaml")
    (tmp_path / "policy.yaml").write_text("rule_packs: [rules/northwind/]\n")
    (tmp_path / "policykit.yaml").write_text("policy: policy.yaml\nenvironments:\n  PRD: {metadata: prd.yaml}\n")
    return tmp_path


def _rule_yaml(root: Path) -> Path:
    return root / "rules/northwind/NW001-no-twitter/rule.yaml"


# --------------------------------------------------------------------------- local packs

def test_policy_names_a_local_pack_and_its_rules_run(cli, northwind):
    run = cli("scan", "--format", "json", cwd=northwind)
    assert run.code == 0, run.err      # a warning: below --fail-on error
    found = [json.loads(line) for line in run.out.splitlines()]
    assert [(f["rule_id"], f["key"], f["file"], f["line"]) for f in found if f["rule_id"] == "NW001"] == [
        ("NW001", "PRD/conn-tw", "prd.yaml", 5)]
    listed = cli("rules", "--policy", "policy.yaml", cwd=northwind).out
    nw001 = next(line for line in listed.splitlines() if line.startswith("NW001 "))
    assert nw001.startswith("NW001  warning  no-twitter") and nw001.endswith("[northwind 2.1.0]")
    assert "[policykit 0.1.0]" in listed


def test_estate_file_names_a_local_pack(cli, northwind):
    (northwind / "policykit.yaml").write_text("rule_packs: [rules/northwind]\nenvironments:\n  PRD: {metadata: prd.yaml}\n")
    (northwind / "policy.yaml").unlink()
    run = cli("scan", "--format", "json", cwd=northwind)
    assert '"rule_id":"NW001"' in run.out
    assert "NW001" in cli("rules", "-c", "policykit.yaml", cwd=northwind).out


def test_local_pack_parameters_are_set_by_the_policy(cli, northwind):
    (northwind / "policy.yaml").write_text("rule_packs: [rules/northwind/]\nrules:\n  NW001:\n"
                                           "    parameters: {connectors: [shared_sharepointonline]}\n")
    run = cli("scan", "--format", "json", cwd=northwind)
    assert [json.loads(line)["key"] for line in run.out.splitlines() if '"NW001"' in line] == ["PRD/conn-sp"]


def test_the_same_pack_named_twice_loads_once_and_a_clash_names_both(cli, northwind):
    (northwind / "policykit.yaml").write_text("policy: policy.yaml\nrule_packs: [rules/northwind/]\n"
                                              "environments:\n  PRD: {metadata: prd.yaml}\n")
    assert cli("scan", cwd=northwind).code == 0
    shutil.copytree(northwind / "rules/northwind", northwind / "rules/copy")
    (northwind / "policy.yaml").write_text("rule_packs: [rules/northwind/, rules/copy/]\n")
    run = cli("scan", cwd=northwind)
    assert run.code == 2 and "rule id NW001 is defined twice: by pack northwind" in run.err
    assert "and by pack northwind (rules/copy/NW001-no-twitter/rule.yaml)" in run.err


def test_a_folder_without_rules_is_an_error(cli, northwind):
    (northwind / "empty").mkdir()
    (northwind / "policy.yaml").write_text("rule_packs: [empty]\n")
    run = cli("scan", cwd=northwind)
    assert run.code == 2 and "rule pack empty holds no rule folder" in run.err


# --------------------------------------------------------------------------- policykit test

def test_test_passes_a_scaffolded_rule(cli, northwind):
    run = cli("test", "rules/northwind", cwd=northwind)
    assert (run.code, run.out) == (0, "northwind::NW001 no-twitter PASSED (fires, silent)\n==== 1 passed ====\n")


def test_test_reports_missing_and_unexpected_keys_as_a_diff(cli, northwind):
    expect = northwind / "rules/northwind/NW001-no-twitter/fixtures/fires/expect.yaml"
    expect.write_text("keys:\n  - PRD/conn-other\n")
    run = cli("test", "rules/northwind", cwd=northwind)
    assert run.code == 1
    assert run.out == ("northwind::NW001 no-twitter FAILED (fires, silent)\n"
                       "  fires:\n"
                       "    finding keys (- expected, not found; + found, not expected):\n"
                       "    - PRD/conn-other\n"
                       "    + PRD/conn-tw\n"
                       "==== 0 passed, 1 failed ====\n")
    run = cli("test", "rules/northwind", "--format", "json", cwd=northwind)
    report = json.loads(run.out)
    assert run.code == 1 and (report["passed"], report["failed"]) == (0, 1)
    fires = report["rules"][0]["fixtures"][0]
    assert (fires["name"], fires["missing"], fires["unexpected"]) == ("fires", ["PRD/conn-other"], ["PRD/conn-tw"])


@pytest.mark.parametrize("change,fragment", [
    (lambda f: shutil.rmtree(f / "fixtures/silent"), "no silent* fixture"),
    (lambda f: shutil.rmtree(f / "fixtures/fires"), "no fires* fixture"),
    (lambda f: (f / "fixtures/fires/expect.yaml").unlink(), "no expect.yaml listing the finding keys"),
    (lambda f: (f / "fixtures/fires/expect.yaml").write_text("count: 1\n"), "expect.yaml lists no keys"),
    (lambda f: (f / "fixtures/silent/expect.yaml").write_text("keys: [PRD/conn-tw]\n"),
     "a silent fixture must expect no keys"),
    (lambda f: (f / "fixtures/silent/expect.yaml").write_text("kyes: []\n"), "unknown key 'kyes'"),
    (lambda f: (f / "fixtures/silent/prd.yaml").write_text((f / "fixtures/fires/prd.yaml").read_text()),
     "+ PRD/conn-tw"),
    (lambda f: (f / "rule.yaml").write_text((f / "rule.yaml").read_text().replace(
        "contains(param('connectors'), connector)", "starts_with(connector, `1`)")), "rule failed:"),
    (lambda f: (f / "fixtures/fires/prd.yaml").write_text("environment: {type: Production\n"),
     "prd.yaml:2: malformed YAML"),
])
def test_test_is_strict(cli, northwind, change, fragment):
    change(northwind / "rules/northwind/NW001-no-twitter")
    run = cli("test", "rules/northwind", cwd=northwind)
    assert run.code == 1 and "FAILED" in run.out and fragment in run.out, run.out + run.err
    assert "Traceback" not in run.out + run.err


def test_test_without_rules_is_exit_2(cli, tmp_path):
    (tmp_path / "pack").mkdir()
    run = cli("test", "pack", cwd=tmp_path)
    assert run.code == 2 and "holds no rule folder" in run.err
    run = cli("test", "-k", "NOPE1", cwd=tmp_path)
    assert run.code == 2 and "no rule to test matches NOPE1" in run.err


def test_test_defaults_to_every_loaded_pack(cli, northwind):
    run = cli("test", "-k", "ppk203", "-k", "NW001", "--policy", "policy.yaml", cwd=northwind)
    assert run.code == 0, run.out
    assert [line.split()[0] for line in run.out.splitlines()[:-1]] == ["northwind::NW001", "policykit::PPK203"]


# --------------------------------------------------------------------------- policykit validate

@pytest.mark.parametrize("old,new,fragment", [
    ("contains(param('connectors'), connector)", "contains(param('connectors'), conector)",
     "query: 'environments[].connections[].conector': the document has no field 'conector' here; "
     "did you mean 'connector'?"),
    ("environments[].connections", "environments.connections",
     "query: 'environments.connections' reads a field of a list, which is always null"),
    ("param('connectors')", "param('connector')", "the query reads param('connector'), which parameters: does not declare"),
    ("signed\n  in as {account}", "signed\n  in as {acount}", "message placeholder {acount} is not a field of the objects"),
    ("query: environments", "query: environments[?", "invalid JMESPath"),
])
def test_validate_finds_what_would_fail_in_silence(cli, northwind, old, new, fragment):
    path = _rule_yaml(northwind)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    run = cli("validate", "rules/northwind", cwd=northwind)
    assert run.code == 1, run.out
    assert f"rules/northwind/NW001-no-twitter/rule.yaml: NW001: {fragment}" in run.out, run.out


def test_validate_checks_schema_readme_and_goes_on(cli, northwind):
    assert cli("new-rule", "NW002", "--pack", "rules/northwind", cwd=northwind).code == 0
    assert cli("validate", "rules/northwind", cwd=northwind).out == "==== 2 rules checked, 0 problems ====\n"
    path = _rule_yaml(northwind)
    path.write_text(path.read_text().replace("severity: warning", "severity: critical"))
    readme = northwind / "rules/northwind/NW002-forbidden-connector/README.md"
    readme.write_text(readme.read_text().replace("## Why is this bad?", "## Why"))
    run = cli("validate", "rules/northwind", cwd=northwind)
    assert run.code == 1
    assert ("rules/northwind/NW001-no-twitter/rule.yaml: NW001: rules/northwind/NW001-no-twitter/rule.yaml:6: "
            "severity must be one of error, warning, note (got 'critical')") in run.out
    assert "NW002-forbidden-connector/rule.yaml: NW002: README.md lacks the section '## Why is this bad?'" in run.out
    assert run.out.endswith("==== 2 rules checked, 2 problems ====\n")
    report = json.loads(cli("validate", "rules/northwind", "--format", "json", cwd=northwind).out)
    assert report["checked"] == 2 and [p["rule"] for p in report["problems"]] == ["NW001", "NW002"]


def test_validate_the_builtin_and_the_enrichment_fields(cli):
    run = cli("validate", REPO / "rules")
    assert run.code == 0 and run.out.startswith("==== ") and "0 problems" in run.out, run.out


def test_a_checkout_rules_folder_is_the_builtin_pack_and_a_stale_install_is_named(cli, tmp_path):
    """From a clone, ``policykit validate rules`` means the built-in pack (installed as a copy by
    ``pip install .``), not a second pack clashing with it rule by rule; a checkout whose rules
    differ from the installed copy says so instead of validating rules the user did not write."""
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "rules", checkout / "rules")
    (checkout / "policykit").mkdir()
    (checkout / "policykit" / "builtin.py").write_text("")
    shutil.copy(REPO / "pyproject.toml", checkout / "pyproject.toml")
    same = cli("validate", checkout / "rules")
    assert same.code == 0 and "0 problems" in same.out and "defined twice" not in same.out, same.out + same.err
    readme = next((checkout / "rules").glob("PPK101-*/README.md"))
    readme.write_text(readme.read_text(encoding="utf-8") + "\nEdited in the checkout.\n", encoding="utf-8")
    stale = cli("validate", checkout / "rules")
    assert stale.code == 2, stale.out + stale.err
    assert "not the ones installed" in stale.err and "pip install" in stale.err and stale.err.count("\n") == 1


def test_one_builtin_rule_folder_names_the_pack_and_the_rule_option(cli):
    """``policykit test rules/PPK603-…`` from a clone: one rule of the built-in pack would load a
    second time and clash; the one-line answer says how to test it (the pack, and --rule)."""
    folder = next((REPO / "rules").glob("PPK603-*"))
    for command in ("test", "validate"):
        run = cli(command, folder)
        assert run.code == 2 and "defined twice" not in run.err, run.out + run.err
        assert "one rule of PolicyKit's built-in pack" in run.err and "--rule PPK603" in run.err
        assert run.err.count("\n") == 1
    assert cli("test", REPO / "rules", "--rule", "PPK603").code == 0


# --------------------------------------------------------------------------- doc --param, scaffolding

def test_doc_query_reads_params(cli, northwind):
    run = cli("doc", "-c", "policykit.yaml", "-q",
              "environments[].connections[?contains(param('connectors'), connector)][].key",
              "--param", "connectors=[shared_twitter, shared_x]", cwd=northwind)
    assert run.code == 0 and json.loads(run.out) == ["PRD/conn-tw"]
    assert json.loads(cli("doc", "-c", "policykit.yaml", "-q", "param('n')", "--param", "n=3", cwd=northwind).out) == 3
    run = cli("doc", "-c", "policykit.yaml", "-q", "param('n')", "--param", "n", cwd=northwind)
    assert run.code == 2 and "--param wants NAME=VALUE" in run.err


def test_new_rule_refuses_bad_ids_and_existing_rules(cli, northwind):
    run = cli("new-rule", "NW 1", "--pack", "rules/northwind", cwd=northwind)
    assert run.code == 2 and "rule id must be" in run.err
    run = cli("new-rule", "NW001", "--pack", "rules/northwind", cwd=northwind)
    assert run.code == 2 and "already exists" in run.err


def test_new_pack_is_installable_shaped_and_its_tests_run_policykit_test(tmp_path):
    run = policykit("new-pack", "northwind-hr", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    root = tmp_path / "northwind-hr"
    assert 'northwind-hr = "policykit_northwind_hr"' in (root / "pyproject.toml").read_text()
    assert (root / "policykit_northwind_hr/rules/NOR001-forbidden-connector/rule.yaml").is_file()
    run = policykit("test", ".", cwd=root)
    assert run.returncode == 0 and "policykit_northwind_hr::NOR001 forbidden-connector PASSED" in run.stdout, run
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=root,
                           env=PYTHON_ENV, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0 and "2 passed" in tests.stdout, tests.stdout + tests.stderr


def test_new_pack_builds_a_wheel_policykit_finds_once_installed(tmp_path):
    """The scaffold is a package, not only a folder: it builds into a wheel (offline, with the
    build backend it names) that carries its rules, and once that wheel is installed PolicyKit
    finds the pack through its entry point, with no path given."""
    assert policykit("new-pack", "northwind-hr", cwd=tmp_path).returncode == 0
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", "dist",
                            "./northwind-hr"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((tmp_path / "dist").glob("policykit_northwind_hr-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "policykit_northwind_hr/rules/NOR001-forbidden-connector/rule.yaml" in names
    assert "policykit_northwind_hr/rules/NOR001-forbidden-connector/README.md" in names
    site = tmp_path / "site"
    installed = subprocess.run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env = {**PYTHON_ENV, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    listed = subprocess.run([sys.executable, "-m", "policykit", "rules"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    line = next((x for x in listed.stdout.splitlines() if x.startswith("NOR001 ")), "")
    assert line.endswith("[policykit-northwind-hr 0.1.0]"), listed.stdout + listed.stderr


def _tracked(folder: str) -> list[str]:
    """The files a fresh clone has under ``folder`` (tracked, or new and not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", folder], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if (REPO / line).is_file()]


def test_copied_example_pack_with_a_new_yaml_rule_passes_policykit_test(tmp_path):
    """The issue's 'done when': copy plugins_example/ from a clone to an empty folder, add a YAML
    rule, and `policykit test` proves it — with nothing pointing back into the repository."""
    copy = tmp_path / "contoso-pack"
    for name in _tracked("plugins_example"):
        target = copy / Path(name).relative_to("plugins_example")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    rule = copy / "policykit_contoso/rules/CTS003-connection-reference-prefix"
    (rule / "fixtures/fires").mkdir(parents=True)
    (rule / "fixtures/silent").mkdir(parents=True)
    (rule / "rule.yaml").write_text(
        "id: CTS003\nname: connection-reference-prefix\n"
        "title: Connection reference display name without the organization's prefix\nseverity: note\n"
        "parameters:\n  prefix:\n    type: string\n    default: 'Fixture '\n    doc: Every display name starts with it.\n"
        "query: solutions[].connection_references[?!starts_with(display_name || '', param('prefix'))][]\n"
        "message: Connection reference {logical_name} of {solution} is named \"{display_name}\".\n")
    (rule / "README.md").write_text("# CTS003 connection-reference-prefix\n\n## What it does\n\nChecks the prefix.\n\n"
                                    "## Why is this bad?\n\nUnsorted names.\n\n## Example\n\n`Orders SharePoint`.\n\n"
                                    "## How to fix\n\nRename it.\n")
    for fixture, prefix, keys in (("fires", "Contoso ", "[FixtureOrders/fxo_OrdersDataverse, "
                                                       "FixtureOrders/fxo_OrdersSharePoint]"),
                                  ("silent", "Fixture ", "[]")):
        (rule / "fixtures" / fixture / "policykit.yaml").write_text(
            "policy: policy.yaml\nsolutions: [../../../_fixtures/solutions/Orders]\n")
        (rule / "fixtures" / fixture / "policy.yaml").write_text(
            f"rules:\n  CTS003:\n    parameters: {{prefix: '{prefix}'}}\n")
        (rule / "fixtures" / fixture / "expect.yaml").write_text(f"keys: {keys}\n")
    run = policykit("test", ".", cwd=copy)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "policykit_contoso::CTS003 connection-reference-prefix PASSED (fires, silent)" in run.stdout
    assert run.stdout.endswith("==== 3 passed ====\n")
    run = policykit("validate", ".", cwd=copy)
    assert run.returncode == 0 and "3 rules checked, 0 problems" in run.stdout, run.stdout + run.stderr


def test_installed_package_carries_the_schemas_and_the_typed_marker():
    import policykit
    installed = Path(policykit.__file__).resolve().parent
    assert (installed / "py.typed").is_file() and (installed / "rule_schema.json").is_file()
    if installed.parent == REPO:
        assert (REPO / "docs" / "document.schema.json").is_file()
        pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
        assert '"docs/document.schema.json" = "policykit/document.schema.json"' in pyproject
    else:
        assert (installed / "document.schema.json").is_file()


def test_public_api_for_pack_authors():
    import policykit
    for name in ("hookimpl", "load_rule_dir", "load_pack_dir", "BaseFunctions", "load_estate", "scan", "RulePack"):
        assert name in policykit.__all__ and hasattr(policykit, name), name
    from policykit.hookspecs import policykit_document_fields, policykit_load_input
    assert "Return None, quickly" in policykit_load_input.__doc__
    assert "$defs" in policykit_document_fields.__doc__


def test_rule_schema_is_a_json_schema_every_rule_fits():
    """The schema the loader checks with is a real JSON Schema (editors use it): every rule.yaml of
    the repository validates against it with the reference implementation too."""
    import jsonschema
    import yaml
    schema = json.loads((REPO / "policykit" / "rule_schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    files = sorted(REPO.glob("rules/*/rule.yaml")) + sorted(REPO.glob("plugins_example/*/rules/*/rule.yaml"))
    assert len(files) > 30
    for path in files:
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "X1", "name": "x", "title": "t", "severity": "error", "query": "q",
                             "message": "m", "parameters": {"p": {"type": "string", "default": ""}}}, schema)
