"""The bundled example estate, end to end: the findings `make demo` shows, SARIF accepted by
Microsoft's validator, deterministic bytes, and a document that matches its JSON Schema."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest
import sarif_validator
from conftest import EXAMPLE, REPO, require_validator

CONFIG = "examples/lunch-order/policykit.yaml"


@pytest.fixture(scope="module")
def sarif_text(tmp_path_factory) -> str:
    from policykit.cli import main
    out = tmp_path_factory.mktemp("sarif") / "lunch-order.sarif"
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        code = main(["scan", "--config", CONFIG, "--format", "sarif", "--output", str(out)])
    finally:
        os.chdir(cwd)
    assert code == 1
    return out.read_text(encoding="utf-8")


def test_example_findings(cli):
    run = cli("scan", "--config", CONFIG, cwd=REPO)
    assert run.code == 1, run.err
    found = {(line.split()[2], line.rsplit("[", 1)[-1].rstrip("]")) for line in run.out.splitlines()
             if " ERROR " in line or " WARNING " in line or " NOTE " in line}
    for expected in [("PPK101", "DEV"), ("PPK102", "DEV"), ("PPK201", "PRD"), ("PPK203", "PRD"),
                     ("PPK401", "PRD"), ("PPK402", "DEV")]:
        assert expected in found, (expected, run.out)
    assert "PowerAppsDataPlaneBackend" not in run.out  # Microsoft's platform app user is exempt
    assert "0 rule failures; 0 input failures" in run.out


def test_example_sarif_passes_the_official_validator(sarif_text, tmp_path):
    require_validator()
    path = tmp_path / "lunch-order.sarif"
    path.write_text(sarif_text, encoding="utf-8")
    for kind in ("Sarif", "Ghas"):
        bad = sarif_validator.failures(sarif_validator.validate(path, kind), kind)
        assert not bad, f"{kind}:\n" + sarif_validator.describe(bad)


def test_example_sarif_matches_schema_and_points_into_the_repository(sarif_text):
    log = json.loads(sarif_text)
    schema = json.loads((REPO / "tests" / "data" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(log)
    for result in log["runs"][0]["results"]:
        loc = result["locations"][0]["physicalLocation"]
        assert (REPO / loc["artifactLocation"]["uri"]).is_file(), loc
        assert loc["region"]["startLine"] >= 1


def test_example_sarif_is_deterministic(sarif_text, tmp_path, cli):
    again = tmp_path / "again.sarif"
    cli("scan", "--config", CONFIG, "--format", "sarif", "--output", again, cwd=REPO)
    assert again.read_text(encoding="utf-8") == sarif_text


def test_example_document_matches_its_schema(cli):
    run = cli("doc", "--config", CONFIG, cwd=REPO)
    assert run.code == 0, run.err
    document = json.loads(run.out)
    schema = json.loads((REPO / "docs" / "document.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(document)
    kinds = {u["name"]: u["kind"] for e in document["environments"] for u in e["users"]}
    assert kinds["AppUser_Dataverse_PRD"] == "application"
    assert kinds["# PowerAppsDataPlaneBackend"] == "platform"
    assert kinds["Megan Bowen"] == "person"


def test_example_readme_shows_real_findings():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "PPK201" in readme and "TechUser_Sharepoint_PRD" in readme
    assert (EXAMPLE / "README.md").is_file()


def test_readme_lists_every_builtin_rule(cli):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for line in cli("rules", "--no-plugins").out.splitlines():
        rule_id, level, name = line.split()[:3]
        assert f"| [{rule_id}](rules/{rule_id}-{name}/README.md) | {level} | `{name}` |" in readme, rule_id


def test_example_readme_shows_the_current_output(cli):
    """The example's README pastes the real report: it must not drift from what the scan says."""
    run = cli("scan", "--config", CONFIG, cwd=REPO)
    assert run.out.strip() in (EXAMPLE / "README.md").read_text(encoding="utf-8")


def test_main_readme_quotes_the_current_output(cli):
    """The findings the README's quick start shows are lines the scan prints today."""
    run = cli("scan", "--config", CONFIG, cwd=REPO)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quoted = [line for line in readme.splitlines() if line.startswith("examples/lunch-order/")]
    assert quoted, "the README quotes no finding"
    assert [line for line in quoted if line not in run.out.splitlines()] == []
