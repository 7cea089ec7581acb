"""Tests of the SARIF and text reporters.

The SARIF log is checked three ways: by Microsoft's validator (``Sarif.Multitool``; kinds
Sarif, Ghas and GHAzDO), by the SARIF 2.1.0 JSON schema (``tests/data/sarif-2.1.0.json``,
copied from ``@microsoft/sarif-multitool-linux`` 5.7.0, which ships the SDK's schema), and by
direct assertions on the properties GitHub code scanning relies on.  The validator does not
check the schema itself (an invalid ``level`` passes it), hence the separate schema test.

A missing validator binary FAILS the validator tests (CI always has it, via the Makefile),
unless POLICYKIT_SKIP_SARIF_VALIDATOR=1.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from policykit.models import (
    Finding,
    InputFailure,
    Rule,
    RuleFailure,
    ScanResult,
    Source,
)
from policykit.reporters import sarif as sarif_reporter
from policykit.reporters import to_sarif, to_text
from policykit.reporters.sarif import AzurePipeline

sys.path.insert(0, str(Path(__file__).parent))
import sarif_validator
from conftest import require_validator

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-2.1.0.json"
HELP_BASE = "https://github.com/contoso/policykit/blob/main/docs/rules/"
PIPELINE = AzurePipeline(
    organization="contoso",
    project="Power Platform",
    definition_id=42,
    definition_name="policykit-scan",
    phase_id="6f3d1a2b-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    phase_name="Scan",
    branch="refs/heads/main",
    build_id=1234,
)


def help_markdown(rule_id: str, name: str, what: str) -> str:
    return f"""# {rule_id} {name}

## What it does

{what}

## Why is this bad?

A flow that runs as a **person** stops when that person leaves, and it acts with *all* of
their rights. See [connection references](https://learn.microsoft.com/power-apps/maker/data-platform/create-connection-reference).

## Example

```json
{{"connectionReferences": {{"shared_sql": {{"account": "alice@contoso.com"}}}}}}
```

## How to fix

Use a `service principal` connection and share it with the flow's owners.
"""


def make_rules() -> list[Rule]:
    return [
        Rule(
            id="PPK101", name="connection-reference-personal-account",
            title="Connection reference uses a personal account", severity="error",
            query="q", message="m", security_severity=8.8, precision="very-high",
            tags=("connections",), cwe=(284,),
            help_markdown=help_markdown("PPK101", "connection-reference-personal-account",
                                        "Flags connection references bound to a **personal** account."),
        ),
        Rule(
            id="PPK205", name="environment-without-dlp", title="No DLP policy covers the environment",
            severity="warning", query="q", message="m", tags=("dlp", "governance"),
            help_markdown=help_markdown("PPK205", "environment-without-dlp",
                                        "Flags environments that no `DLP` policy covers."),
        ),
        Rule(  # never fires: must still be listed, so GitHub closes its fixed alerts
            id="PPK310", name="flow-owner-disabled", title="Flow owner account is disabled",
            severity="note", query="q", message="m",
            help_markdown=help_markdown("PPK310", "flow-owner-disabled", "Flags flows whose owner is disabled."),
        ),
    ]


def make_scan() -> ScanResult:
    findings = [
        Finding("PPK101", "error", "Connection reference 'shared_sql' uses alice@contoso.com",
                "connref/shared_sql", Source("solutions/Contoso Core.zip", 37, "Other/Customizations.xml")),
        Finding("PPK101", "error", "Connection reference 'shared_office365' uses bob@contoso.com.",
                "connref/shared_office365", Source("solutions/unpacked/connrefs.json", 12), environment="prod"),
        # A policy override to "warning": sarif-om's serializer would drop it (class default).
        Finding("PPK101", "warning", "Connection reference 'shared_teams' uses carol@contoso.com",
                "connref/shared_teams", Source("solutions/unpacked/connrefs.json", 30)),
        Finding("PPK205", "warning", "Environment 'Prod' is covered by no DLP policy",
                "env/prod", Source("estate/environments.yaml", 4)),
        Finding("PPK205", "warning", "Environment 'Dev' is covered by no DLP policy",
                "env/dev", Source("estate/environments.yaml", 9), waived="Sandbox, approved by CISO"),
        Finding("PPK205", "warning", "Environment 'Test' is covered by no DLP policy", "env/test", None),
    ]
    return ScanResult(
        rules=make_rules(),
        findings=findings,
        rule_failures=[RuleFailure("PPK999", "invalid JMESPath: unexpected token")],
        input_failures=[InputFailure("not valid JSON", "solutions/Broken.zip", 3, "Workflows/flow.json")],
        skipped=[("PPK400", "needs tenant settings")],
        inputs=["estate/environments.yaml", "solutions/Contoso Core.zip", "solutions/unpacked/connrefs.json"],
        estate_name="contoso",
    )


def render(scan: ScanResult | None = None, **kwargs: Any) -> str:
    options = {"tool_version": "0.3.1", "information_uri": "https://github.com/contoso/policykit",
               "help_uri_base": HELP_BASE, **kwargs}
    return to_sarif(scan or make_scan(), **options)


@pytest.fixture(scope="module")
def log() -> dict[str, Any]:
    return json.loads(render())


@pytest.fixture(scope="module")
def run(log: dict[str, Any]) -> dict[str, Any]:
    return log["runs"][0]


# --------------------------------------------------------------------------- validator


@pytest.fixture(scope="module")
def validate(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], list[dict[str, Any]]]:
    """Validate a rendered log with one rule kind; a missing validator fails the test."""
    require_validator()
    folder = tmp_path_factory.mktemp("sarif with space")  # paths with spaces must work too

    def run_validator(text: str, kind: str) -> list[dict[str, Any]]:
        path = folder / f"log-{hashlib.sha256(text.encode()).hexdigest()[:12]}.sarif"
        path.write_text(text, encoding="utf-8")
        return sarif_validator.validate(path, kind)

    return run_validator


def test_validator_sarif_kind_no_errors_no_warnings(validate) -> None:
    findings = validate(render(), "Sarif")
    assert findings == [], sarif_validator.describe(findings)


def test_validator_ghas_no_errors(validate) -> None:
    findings = validate(render(), "Ghas")
    assert sarif_validator.count(findings, "error") == 0, sarif_validator.describe(findings)


def test_validator_ghazdo_no_errors_with_pipeline(validate) -> None:
    findings = validate(render(azure_pipeline=PIPELINE), "GHAzDO")
    assert sarif_validator.count(findings, "error") == 0, sarif_validator.describe(findings)


def test_validator_all_kinds_clean_with_pipeline(validate) -> None:
    findings = validate(render(azure_pipeline=PIPELINE), "Sarif;Ghas")
    assert findings == [], sarif_validator.describe(findings)


def test_validator_ghazdo_without_pipeline_only_wants_pipeline_details(validate) -> None:
    """Outside Azure DevOps the GitHub category cannot satisfy GHAzDO1019/1020: nothing else."""
    findings = validate(render(), "GHAzDO")
    assert {f["ruleId"] for f in findings} <= {"GHAzDO1019", "GHAzDO1020"}, sarif_validator.describe(findings)


def test_validator_catches_broken_logs(validate) -> None:
    """Guard against a silently passing validator: it exits 0 even on garbage."""
    broken = json.loads(render())
    del broken["runs"][0]["results"][0]["locations"]  # GH1001/GH1015
    broken["runs"][0]["results"][1]["ruleIndex"] = 99  # SARIF1009
    ghas = validate(json.dumps(broken), "Ghas")
    assert sarif_validator.count(ghas, "error") >= 1, sarif_validator.describe(ghas)
    sarif = validate(json.dumps(broken), "Sarif")
    assert any(f["ruleId"] == "SARIF1009" for f in sarif), sarif_validator.describe(sarif)
    garbage = validate("not json", "Sarif")
    assert sarif_validator.count(garbage, "error") >= 1


# --------------------------------------------------------------------------- schema


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("pipeline", [None, PIPELINE])
def test_schema_valid(schema_validator, pipeline) -> None:
    errors = [e.message for e in schema_validator.iter_errors(json.loads(render(azure_pipeline=pipeline)))]
    assert errors == []


def test_schema_rejects_invalid_level(schema_validator, log) -> None:
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["level"] = "critical"
    assert not schema_validator.is_valid(broken)


# --------------------------------------------------------------------------- log structure


def test_log_header(log) -> None:
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1


def test_driver(run) -> None:
    driver = run["tool"]["driver"]
    assert driver["name"] == "PolicyKit"
    assert driver["semanticVersion"] == "0.3.1"
    assert driver["informationUri"] == "https://github.com/contoso/policykit"
    assert [r["id"] for r in driver["rules"]] == ["PPK101", "PPK205", "PPK310"]


def test_rule_metadata(run) -> None:
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["name"] == "connection-reference-personal-account"
    assert rule["shortDescription"]["text"] == "Connection reference uses a personal account"
    assert rule["fullDescription"]["text"] == "Flags connection references bound to a personal account."
    assert rule["helpUri"] == HELP_BASE + "PPK101-connection-reference-personal-account/README.md"
    assert rule["help"]["markdown"].startswith("# PPK101")
    text = rule["help"]["text"]
    assert "**" not in text and "```" not in text and "## " not in text
    assert "connection references (https://learn.microsoft.com/" in text
    assert '    {"connectionReferences"' in text  # code stays, indented
    assert rule["defaultConfiguration"] == {"level": "error"}
    props = rule["properties"]
    assert props["tags"] == ["connections", "external/cwe/cwe-284", "security"]
    assert props["precision"] == "very-high"
    assert props["problem.severity"] == "error"
    assert props["security-severity"] == "8.8" and isinstance(props["security-severity"], str)


def test_security_severity_only_for_security_rules(run) -> None:
    rules = run["tool"]["driver"]["rules"]
    assert "security-severity" not in rules[1]["properties"]
    assert rules[2]["properties"]["problem.severity"] == "recommendation"


def test_security_severity_format() -> None:
    assert sarif_reporter.security_severity(7) == "7.0"
    assert sarif_reporter.security_severity(9.34) == "9.3"
    assert sarif_reporter.security_severity(0) == "0.1"
    assert sarif_reporter.security_severity(12) == "10.0"


def test_tags_capped_keeping_security_and_cwe() -> None:
    rule = make_rules()[0]
    rule.tags = tuple(f"tag-{i:02d}" for i in range(30))
    rule.cwe = (284, 522)
    tags = sarif_reporter._tags(rule)
    assert len(tags) == 20
    assert {"security", "external/cwe/cwe-284", "external/cwe/cwe-522"} <= set(tags)


def test_full_description_limits() -> None:
    rule = make_rules()[0]
    rule.help_markdown = "# PPK101 x\n\n## What it does\n\n" + "word " * 400
    text = sarif_reporter.full_description(rule)
    assert len(text) <= 1024 and text.endswith("...")
    rule.help_markdown = ""
    assert sarif_reporter.full_description(rule) == rule.title


def test_results_are_active_findings_in_order(run) -> None:
    results = run["results"]
    assert [(r["ruleId"], r["ruleIndex"]) for r in results] == [
        ("PPK101", 0), ("PPK101", 0), ("PPK101", 0), ("PPK205", 1), ("PPK205", 1)]
    messages = " ".join(r["message"]["text"] for r in results)
    assert "Dev" not in messages  # the waived finding


def test_every_result_keeps_explicit_level(run) -> None:
    levels = [r.get("level") for r in run["results"]]
    assert levels == ["error", "error", "warning", "warning", "warning"]
    # The policy's "warning" override survives even though it equals sarif-om's default.
    teams = next(r for r in run["results"] if "shared_teams" in r["message"]["text"])
    assert teams["level"] == "warning"


def test_result_messages_are_sentences(run) -> None:
    for result in run["results"]:
        assert result["message"]["text"].endswith(".")
        assert not result["message"]["text"].endswith("..")


def test_exactly_one_location_with_line(run) -> None:
    for result in run["results"]:
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"]
        assert physical["region"]["startLine"] >= 1


def test_zip_entry_location(run) -> None:
    result = next(r for r in run["results"] if "alice" in r["message"]["text"])
    assert result["message"]["text"].endswith("uses alice@contoso.com (in Other/Customizations.xml).")
    (location,) = result["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "solutions/Contoso%20Core.zip"
    assert location["physicalLocation"]["region"] == {"startLine": 1}
    assert location["logicalLocations"] == [{"kind": "resource", "name": "Other/Customizations.xml"}]
    assert location["properties"] == {"entryLine": 37}


def test_plain_file_location_and_environment(run) -> None:
    result = next(r for r in run["results"] if "bob" in r["message"]["text"])
    location = result["locations"][0]
    assert location["physicalLocation"]["region"] == {"startLine": 12}
    assert "logicalLocations" not in location
    assert result["properties"] == {"environment": "prod"}


def test_finding_without_source_points_at_first_input(run) -> None:
    result = next(r for r in run["results"] if "Test" in r["message"]["text"])
    physical = result["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "estate/environments.yaml"}, "region": {"startLine": 1}}


def test_finding_without_source_or_inputs_becomes_notification() -> None:
    scan = make_scan()
    scan.inputs = []
    run = json.loads(render(scan))["runs"][0]
    assert all("Test" not in r["message"]["text"] for r in run["results"])
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any(n["level"] == "warning" and "env/test" in n["message"]["text"] for n in notes)


def test_fingerprints(run) -> None:
    expected = hashlib.sha256(b"PPK205\0env/prod").hexdigest()[:32]
    result = next(r for r in run["results"] if "Prod" in r["message"]["text"])
    assert result["partialFingerprints"] == {"policykit/v1": expected}
    fingerprints = [r["partialFingerprints"]["policykit/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints)


def test_fingerprints_ignore_lines() -> None:
    scan = make_scan()
    moved = [with_line(f, 500) for f in scan.findings]
    before = [r["partialFingerprints"] for r in json.loads(render(scan))["runs"][0]["results"]]
    scan.findings = moved
    after = [r["partialFingerprints"] for r in json.loads(render(scan))["runs"][0]["results"]]
    assert sorted(map(str, before)) == sorted(map(str, after))


def with_line(finding: Finding, line: int) -> Finding:
    source = finding.source
    if source is None:
        return finding
    return Finding(finding.rule_id, finding.level, finding.message, finding.key,
                   Source(source.file, line, source.entry), finding.environment, finding.waived)


def test_invocation_and_notifications(run) -> None:
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    rule_failure, input_failure, skipped = notes
    assert rule_failure == {"level": "error", "associatedRule": {"id": "PPK999"},
                            "message": {"text": "rule PPK999 failed: invalid JMESPath: unexpected token."}}
    assert input_failure["level"] == "error"
    assert input_failure["message"]["text"] == (
        "could not read solutions/Broken.zip:Workflows/flow.json:3: not valid JSON.")
    assert input_failure["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "solutions/Broken.zip"
    assert skipped["level"] == "note" and skipped["associatedRule"] == {"id": "PPK400"}
    assert "Time" not in json.dumps(invocation)  # no timestamps: output must be reproducible


def test_complete_scan_is_successful() -> None:
    scan = make_scan()
    scan.rule_failures, scan.input_failures, scan.skipped = [], [], []
    (invocation,) = json.loads(render(scan))["runs"][0]["invocations"]
    assert invocation == {"executionSuccessful": True}


def test_automation_details() -> None:
    assert json.loads(render())["runs"][0]["automationDetails"] == {"id": "policykit/contoso/"}
    by_category = json.loads(render(category="policykit/prod"))["runs"][0]["automationDetails"]
    assert by_category == {"id": "policykit/prod/"}
    azure = json.loads(render(azure_pipeline=PIPELINE))["runs"][0]["automationDetails"]
    assert azure["id"] == ("azuredevops/pipeline/build/contoso/Power%20Platform/42/"
                           "6f3d1a2b-1c2d-4e5f-8a9b-0c1d2e3f4a5b/refs%2Fheads%2Fmain/1234")
    assert azure["properties"]["azuredevops/pipeline/build/buildDefinitionId"] == "42"


def test_azure_pipeline_from_env() -> None:
    env = {
        "TF_BUILD": "True", "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
        "SYSTEM_TEAMPROJECT": "Power Platform", "SYSTEM_DEFINITIONID": "42",
        "BUILD_DEFINITIONNAME": "policykit-scan", "SYSTEM_PHASEID": PIPELINE.phase_id.upper(),
        "SYSTEM_PHASENAME": "Scan", "BUILD_SOURCEBRANCH": "refs/heads/main", "BUILD_BUILDID": "1234",
    }
    assert AzurePipeline.from_env(env) == PIPELINE
    assert AzurePipeline.from_env({**env, "SYSTEM_COLLECTIONURI": "https://contoso.visualstudio.com/"}) == PIPELINE
    assert AzurePipeline.from_env({**env, "TF_BUILD": ""}) is None
    assert AzurePipeline.from_env({**env, "SYSTEM_PHASEID": "not-a-guid"}) is None
    assert AzurePipeline.from_env({k: v for k, v in env.items() if k != "BUILD_BUILDID"}) is None


def test_artifact_uri() -> None:
    assert sarif_reporter.artifact_uri("./a b/c#d%.json") == "a%20b/c%23d%25.json"
    assert sarif_reporter.artifact_uri("dir\\sub\\é.yaml") == "dir/sub/%C3%A9.yaml"


def test_byte_identical_and_order_independent() -> None:
    first = render()
    assert render() == first
    scan = make_scan()
    scan.rules.reverse()
    scan.findings.reverse()
    assert render(scan) == first
    assert first.endswith("}\n") and not first.endswith("\n\n")
    assert first.startswith('{\n  "$schema"')


def test_objects_keep_every_given_value_and_leave_out_none() -> None:
    """An explicit value equal to what SARIF assumes (``level: "warning"``, ``enabled: false``, an
    empty list) stays: a policy's override to "warning" must not fall back to the rule's level."""
    given = sarif_reporter._obj({"level": "warning", "enabled": False, "rules": [], "rank": None, "properties": {}})
    assert given == {"level": "warning", "enabled": False, "rules": [], "properties": {}}


def test_property_bag_merges_additional_properties() -> None:
    assert sarif_reporter._bag({"precision": "high"}, tags=["a"]) == {"tags": ["a"], "precision": "high"}
    assert sarif_reporter._bag({"precision": "high"}) == {"precision": "high"}
    with pytest.raises(ValueError, match="tags"):
        sarif_reporter._bag({"tags": ["b"]}, tags=["a"])


def test_lone_surrogates_are_replaced_in_keys_and_strings() -> None:
    cleaned = sarif_reporter._clean({"k\udc80": ["v\ud800", 1, None, True, {"x": "caf\xe9"}]})
    assert cleaned == {"k\ufffd": ["v\ufffd", 1, None, True, {"x": "caf\xe9"}]}
    json.dumps(cleaned).encode("utf-8")  # encodes: nothing a strict parser refuses


def empty_scan() -> ScanResult:
    return ScanResult(rules=make_rules(), findings=[], inputs=["estate/environments.yaml"])


def test_empty_scan_keeps_results_array_and_rules() -> None:
    run = json.loads(render(empty_scan()))["runs"][0]
    assert run["results"] == []  # GH1014: the array is required even when empty
    assert len(run["tool"]["driver"]["rules"]) == 3
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_validator_empty_scan(validate) -> None:
    findings = validate(render(empty_scan()), "Sarif;Ghas")
    assert findings == [], sarif_validator.describe(findings)


# --------------------------------------------------------------------------- text


def test_text_report() -> None:
    text = to_text(make_scan())
    lines = text.splitlines()
    assert lines[0] == "Errors (2):"
    assert ("solutions/Contoso Core.zip:Other/Customizations.xml:37: ERROR PPK101 "
            "Connection reference 'shared_sql' uses alice@contoso.com") in lines
    assert "estate/environments.yaml:4: WARNING PPK205 Environment 'Prod' is covered by no DLP policy" in lines
    assert "<no location>: WARNING PPK205 Environment 'Test' is covered by no DLP policy" in lines
    assert "Dev" not in text
    assert text.index("Errors (2):") < text.index("Warnings (3):")
    summary = next(line for line in lines if line.startswith("5 problems"))
    assert "(2 errors, 3 warnings, 0 notes)" in summary and "1 waived" in summary
    assert "1 rule failure" in summary and "1 input failure" in summary
    assert "RULE FAILED PPK999: invalid JMESPath: unexpected token" in lines
    assert "INPUT FAILED solutions/Broken.zip:Workflows/flow.json:3: not valid JSON" in lines
    assert "SKIPPED PPK400: needs tenant settings" in lines
    assert "\033[" not in text
    assert to_text(make_scan()) == text


def test_text_report_color_and_empty() -> None:
    assert "\033[31;1mERROR\033[0m" in to_text(make_scan(), color=True)
    empty = to_text(ScanResult(rules=make_rules(), findings=[]))
    assert empty.startswith("0 problems (0 errors, 0 warnings, 0 notes); 0 waived; 3 rules run;")
