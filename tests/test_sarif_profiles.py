"""Code-scanning grade SARIF from real scans: GitHub's line hashes, stable fingerprints, the
code-scanning and evidence profiles, result caps, and the official validator on the example
and on the whole public corpus (kinds Sarif, Ghas and GHAzDO)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import sarif_validator
import yaml
from conftest import CORPUS, EXAMPLE, REPO, RULES, require_validator
from hypothesis import given, settings
from hypothesis import strategies as st

from policykit.models import Finding, Rule, ScanResult, Source
from policykit.reporters.linehash import line_hashes
from policykit.reporters.sarif import to_sarif
from policykit.scanner import load_estate, scan

CONFIG = "examples/lunch-order/policykit.yaml"
PIPELINE_ENV = {
    "TF_BUILD": "True", "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
    "SYSTEM_TEAMPROJECT": "PowerPlatform", "SYSTEM_DEFINITIONID": "42", "BUILD_DEFINITIONNAME": "policykit",
    "SYSTEM_PHASEID": "3a3a3a3a-1b1b-4c4c-8d8d-5e5e5e5e5e5e", "SYSTEM_PHASENAME": "Scan",
    "BUILD_SOURCEBRANCH": "refs/heads/main", "BUILD_BUILDID": "1234",
}


def _sarif(cli, tmp_path: Path, *args: str, cwd: Path = REPO) -> dict:
    out = tmp_path / f"{hashlib.sha1(repr(args).encode()).hexdigest()[:8]}.sarif"
    run = cli("scan", *args, "--format", "sarif", "--output", out, "--fail-on", "never", cwd=cwd)
    assert run.code == 0, run.err
    return json.loads(out.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- GitHub's line hash

@pytest.mark.parametrize("text,expected", [
    ("", ["c129715d7a2bc9a3:1"]),
    (" a\nb\n  \t\tc\n d", ["271789c17abda88f:1", "54703d4cd895b18:1", "180aee12dab6264:1", "a23a3dc5e078b07b:1"]),
    (" hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End",
     ["8b7cf3e952e7aeb2:1", "b1ae1287ec4718d9:1", "bff680108adb0fcc:1", "c6805c5e1288b612:1",
      "b86d3392aea1be30:1", "e6ceba753e1a442:1"]),
    ("alpha\nbeta\nalpha\n", ["8d07ce75f7b3af45:1", "ca140c3f893ffa65:1", "26f09ff008857193:1", "c129715d7a2bc9a3:1"]),
    (" a l p h a \r\n\tbeta\r\nalpha\r\n",
     ["8d07ce75f7b3af45:1", "ca140c3f893ffa65:1", "26f09ff008857193:1", "c129715d7a2bc9a3:1"]),
], ids=["empty", "newlines-a", "newlines-b", "lf", "crlf-and-whitespace"])
def test_line_hash_matches_the_upload_action(text, expected):
    """Vectors from github/codeql-action's fingerprints tests."""
    assert list(line_hashes(text).values()) == expected


def test_identical_windows_are_counted():
    """Lines whose next 100 characters are the same get the same hash, told apart by ``:n``."""
    hashes = line_hashes("x\n" * 120)
    assert hashes[1] == hashes[2].replace(":2", ":1") and hashes[2].endswith(":2")
    assert hashes[3].endswith(":3") and len(hashes) == 121


def test_results_carry_the_line_hash_of_their_line(cli, tmp_path):
    log = _sarif(cli, tmp_path, "--config", CONFIG)
    results = log["runs"][0]["results"]
    assert results
    for result in results:
        loc = result["locations"][0]["physicalLocation"]
        path = REPO / loc["artifactLocation"]["uri"]
        if path.suffix == ".zip":
            assert "primaryLocationLineHash" not in result["partialFingerprints"]
            continue
        expected = line_hashes(path.read_text(encoding="utf-8"))[loc["region"]["startLine"]]
        assert result["partialFingerprints"]["primaryLocationLineHash"] == expected


# --------------------------------------------------------------------------- stable identity

def test_policykit_fingerprint_survives_reindenting_and_moved_lines(cli, tmp_path):
    fixture = RULES / "PPK101-connection-reference-personal-account" / "fixtures" / "fires"
    work = tmp_path / "estate"
    shutil.copytree(fixture, work)
    orders = (RULES / "_fixtures" / "solutions" / "Orders").as_posix()
    (work / "policykit.yaml").write_text(f"solutions: [{orders}]\nenvironments:\n  PRD: {{metadata: prd.yaml}}\n")
    before = _sarif(cli, tmp_path, cwd=work)["runs"][0]["results"]
    prd = work / "prd.yaml"
    data = yaml.safe_load(prd.read_text(encoding="utf-8"))
    # The same facts, sections in another order, re-indented, lines moved down.
    reordered = {k: data[k] for k in reversed(list(data))}
    prd.write_text("# reformatted\n\n\n" + yaml.safe_dump(reordered, indent=4, sort_keys=False), encoding="utf-8")
    after = _sarif(cli, tmp_path, cwd=work)["runs"][0]["results"]
    assert [r["partialFingerprints"]["policykit/v1"] for r in before] == \
        [r["partialFingerprints"]["policykit/v1"] for r in after]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in before] != \
        [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after]


def test_category_and_automation_details(cli, tmp_path):
    assert _sarif(cli, tmp_path, "--config", CONFIG)["runs"][0]["automationDetails"]["id"] == "policykit/lunch-order/"
    custom = _sarif(cli, tmp_path, "--config", CONFIG, "--category", "policykit/prd-only")
    assert custom["runs"][0]["automationDetails"]["id"] == "policykit/prd-only/"


# --------------------------------------------------------------------------- profiles

def test_code_scanning_profile_leaves_out_waived_and_pass_results(cli, tmp_path):
    log = _sarif(cli, tmp_path, "--config", CONFIG)
    results = log["runs"][0]["results"]
    assert all("suppressions" not in r and r.get("kind", "fail") != "pass" for r in results)
    assert "artifacts" not in log["runs"][0]
    assert "startTimeUtc" not in log["runs"][0]["invocations"][0]
    assert len(log["runs"]) == 1


def test_evidence_profile(cli, tmp_path, monkeypatch):
    log = _sarif(cli, tmp_path, "--config", CONFIG, "--evidence")
    run = log["runs"][0]
    waived = [r for r in run["results"] if "suppressions" in r]
    assert waived, "the example's policy waives a finding"
    assert waived[0]["suppressions"] == [{
        "justification": waived[0]["suppressions"][0]["justification"], "kind": "external", "status": "accepted",
        "location": {"physicalLocation": {"artifactLocation": {"uri": "examples/lunch-order/policy.yaml",
                                                                "uriBaseId": "%SRCROOT%"},
                                          "region": {"startLine": 15}}},
        "properties": {"owner": "alex.wilber@contoso.com", "ticket": "CHG0107342", "expires": "2027-03-31",
                       "approvedBy": "isabella.rossi@contoso.com", "rule": "PPK101", "environment": "DEV",
                       "keyPattern": "DEV/Expenses/cr123_ExpensesSharePoint"}}]
    artifacts = {a["location"]["uri"]: a for a in run["artifacts"]}
    for uri, artifact in artifacts.items():
        digest = hashlib.sha256((REPO / uri).read_bytes()).hexdigest()
        assert artifact["hashes"]["sha-256"] == digest, uri
    assert artifacts["examples/lunch-order/policy.yaml"]["roles"] == ["policy"]
    assert artifacts["examples/lunch-order/policykit.yaml"]["roles"] == ["userSpecifiedConfiguration"]
    assert artifacts["examples/lunch-order/solutions/LunchOrder_1_0_0_3.zip"]["roles"] == ["analysisTarget"]
    assert "examples/lunch-order/environments/dev/systemusers.json" in artifacts
    invocation = run["invocations"][0]
    assert invocation["startTimeUtc"] <= invocation["endTimeUtc"]
    assert run["tool"]["driver"]["semanticVersion"]


def test_evidence_is_reproducible_on_request(cli, tmp_path, monkeypatch):
    first = _sarif(cli, tmp_path / "a", "--config", CONFIG, "--evidence", "--reproducible")
    assert "startTimeUtc" not in first["runs"][0]["invocations"][0]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    second = _sarif(cli, tmp_path / "b", "--config", CONFIG, "--evidence")
    for log in (first, second):  # the command lines differ (--reproducible, the output path): recorded
        invocation = log["runs"][0]["invocations"][0]
        del invocation["commandLine"], invocation["arguments"]
    assert first == second


def test_evidence_needs_sarif(cli):
    run = cli("scan", "--config", CONFIG, "--evidence", "--format", "text", cwd=REPO)
    assert run.code == 2 and "--evidence" in run.err


def test_results_are_capped_keeping_the_most_severe():
    rule = Rule(id="T1", name="t", title="T", severity="note", query="x", message="m")
    findings = [Finding("T1", "note" if i % 2 else "error", f"m{i}", f"k{i}", Source("f.yaml", i + 1))
                for i in range(10)]
    log = json.loads(to_sarif(ScanResult(rules=[rule], findings=findings), tool_version="1", information_uri="u",
                              help_uri_base="h", max_results=4))
    run = log["runs"][0]
    assert [r["level"] for r in run["results"]] == ["error"] * 4
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any("6 results were left out" in n["message"]["text"] for n in notes)


# --------------------------------------------------------------------------- the official validator

def _validate(path: Path, kinds=("Sarif", "Ghas", "GHAzDO")) -> None:
    require_validator()
    for kind in kinds:
        bad = sarif_validator.failures(sarif_validator.validate(path, kind), kind)
        assert not bad, f"{kind}:\n" + sarif_validator.describe(bad)


@pytest.mark.parametrize("target", ["example", "corpus"])
def test_validator_accepts_example_and_corpus_for_all_kinds(cli, tmp_path, monkeypatch, target):
    if target == "corpus" and not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    args = ("--config", CONFIG) if target == "example" else (str(CORPUS),)
    for name, value in PIPELINE_ENV.items():   # GHAzDO wants the Azure Pipelines run's identity
        monkeypatch.setenv(name, value)
    log = _sarif(cli, tmp_path, *args, "--evidence")
    path = tmp_path / f"{target}.sarif"
    path.write_text(json.dumps(log), encoding="utf-8")
    assert log["runs"][0]["automationDetails"]["id"].startswith("azuredevops/pipeline/build/contoso/")
    schema = json.loads((REPO / "tests" / "data" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(log)
    _validate(path)
    for name in PIPELINE_ENV:
        monkeypatch.delenv(name)
    plain = tmp_path / f"{target}-github.sarif"
    plain.write_text(json.dumps(_sarif(cli, tmp_path, *args)), encoding="utf-8")
    _validate(plain, ("Sarif", "Ghas"))


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=" \t\r\nab{}\":,é€\U0001F600", max_size=400),
       picks=st.lists(st.integers(min_value=1, max_value=60), max_size=8))
def test_hashes_of_some_lines_equal_the_full_computation(text, picks):
    """The fast path (only the lines results point at) gives exactly the reference values."""
    from policykit.reporters.linehash import hashes_of_lines
    reference = line_hashes(text)
    wanted = set(picks) | set(list(reference)[-2:])
    assert hashes_of_lines(text, wanted) == {n: reference[n] for n in wanted if n in reference}


def test_sarif_is_the_same_with_the_reference_line_hashes(monkeypatch):
    """Byte for byte, the example's SARIF does not depend on which line-hash path computed it."""
    from policykit.reporters import linehash

    def render() -> str:
        result = scan(load_estate(EXAMPLE / "policykit.yaml"), entry_points=False)
        return to_sarif(result, tool_version="0", information_uri="https://example.invalid/p",
                        help_uri_base="https://example.invalid/p/rules/", source_root=REPO)

    monkeypatch.chdir(REPO)
    fast = render()
    monkeypatch.setattr(linehash, "hashes_of_lines",
                        lambda text, lines: {n: h for n, h in linehash.line_hashes(text).items() if n in lines})
    assert render() == fast and "primaryLocationLineHash" in fast


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from(["{\n", "a\n", '  "x": 1,\n', "\r\n", "\t}\n", "\n", "ab"]), max_size=600),
       picks=st.lists(st.integers(min_value=1, max_value=600), max_size=8))
def test_hashes_of_repetitive_lines_count_like_the_reference(parts, picks):
    """Repetitive text, where many lines start the same 100 units (JSON exports are like that):
    each line's count is how many lines up to it start that way, as in the reference."""
    from policykit.reporters.linehash import hashes_of_lines
    text = "".join(parts)
    reference = line_hashes(text)
    wanted = set(picks) | set(list(reference)[-3:])
    assert hashes_of_lines(text, wanted) == {n: reference[n] for n in wanted if n in reference}


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from(["{\n", "a\n", '  "x": 1,\n', "\r\n", "\t}\n", "\n", "ab", "c" * 45, " " * 30]),
                      max_size=400),
       picks=st.lists(st.integers(min_value=1, max_value=400), max_size=40))
def test_candidate_lines_count_like_the_reference(parts, picks):
    """Counts come from candidate lines, picked out by their first row and by their length:
    repeated short lines, lines of 100 units and more, windows across CRLF and spaces and into the
    end mark, and every line wanted at once all count as in the reference."""
    from policykit.reporters import linehash
    text = "".join(parts)
    reference = line_hashes(text)
    for wanted in (set(picks) | set(list(reference)[-3:]), set(reference)):
        assert linehash.hashes_of_lines(text, wanted) == {n: reference[n] for n in wanted if n in reference}


def test_copies_of_a_file_are_hashed_once_with_each_copys_lines(tmp_path, monkeypatch):
    """users.json is the same bytes in every environment's export: one computation serves every
    copy, and each copy still gets exactly its own lines; a file that is not UTF-8 gets none."""
    from policykit.reporters import linehash
    text = "".join(f'{{\n  "userPrincipalName": "user{i % 7}@contoso.com"\n}},\n' for i in range(300))
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "users.json").write_text(text, encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    calls = []
    real = linehash.hashes_of_lines
    monkeypatch.setattr(linehash, "hashes_of_lines", lambda t, lines: calls.append(lines) or real(t, lines))
    wanted = {"a/users.json": {2, 500}, "b/users.json": {2, 899}, "latin1.txt": {1}}
    got = linehash.files_line_hashes(tmp_path, wanted)
    reference = line_hashes(text)
    assert calls == [{2, 500, 899}]
    assert got == {"a/users.json": {2: reference[2], 500: reference[500]},
                   "b/users.json": {2: reference[2], 899: reference[899]}, "latin1.txt": None}


@pytest.mark.parametrize("count", [3, 40])
def test_few_and_many_wanted_lines_count_alike(count):
    """A few wanted lines and many agree with the reference on a file whose lines repeat."""
    from policykit.reporters.linehash import hashes_of_lines
    text = "".join(f'{{\n  "name": "x{i % 5}",\n  "id": {i // 50}\n}},\n' for i in range(400))
    reference = line_hashes(text)
    wanted = set(range(1, len(reference), max(1, len(reference) // count)))
    assert hashes_of_lines(text, wanted) == {n: reference[n] for n in wanted}
