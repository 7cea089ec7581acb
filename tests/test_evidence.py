"""The evidence a security reviewer accepts (policykit/evidence.py, docs/evidence.md).

The example estate's bundle (``--evidence-bundle``) is produced, every hash of its manifest and of
its in-toto statement is recomputed from the files, its SARIF passes Microsoft's validator, and
its HTML report is rendered in a real Chromium (tests/browser.py) with a screenshot in
``test-artifacts/``. Then what the evidence records: the effective policy as SARIF
``ruleConfigurationOverrides``, the hashes of the rule set, the git checkout (from a local
repository made here; nothing leaves the machine), its absence, and a collected environment's
``collection.json``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
import sarif_validator
from browser import Dom, render
from conftest import EXAMPLE, REPO, require_validator

from policykit import evidence
from policykit.evidence import (
    MANIFEST_NAME,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    repository_uri,
    verify,
)

CONFIG = "examples/lunch-order/policykit.yaml"
ARTIFACTS = REPO / "test-artifacts"
PIPELINE_ENV = {
    "TF_BUILD": "True", "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
    "SYSTEM_TEAMPROJECT": "PowerPlatform", "SYSTEM_DEFINITIONID": "42", "BUILD_DEFINITIONNAME": "policykit",
    "SYSTEM_PHASEID": "3a3a3a3a-1b1b-4c4c-8d8d-5e5e5e5e5e5e", "SYSTEM_PHASENAME": "Scan",
    "BUILD_SOURCEBRANCH": "refs/heads/main", "BUILD_BUILDID": "1234",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def validate(path: Path, kinds=sarif_validator.KINDS) -> None:
    require_validator()
    for kind in kinds:
        bad = sarif_validator.failures(sarif_validator.validate(path, kind), kind)
        assert not bad, f"{kind}:\n" + sarif_validator.describe(bad)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    """The example's evidence bundle, made from the repository root as CI would."""
    import os

    from policykit.cli import main
    folder = tmp_path_factory.mktemp("evidence") / "bundle"
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        code = main(["scan", "--config", CONFIG, "--evidence-bundle", str(folder), "--reproducible",
                     "--format", "json", "-o", str(folder.parent / "findings.jsonl")])
    finally:
        os.chdir(cwd)
    assert code == 1  # the example has open errors; the bundle is written all the same
    return folder


# --------------------------------------------------------------------------- the bundle


def test_bundle_is_verified_by_its_manifest(bundle_dir):
    names = sorted(p.name for p in bundle_dir.iterdir())
    assert names == ["SHA256SUMS", "policykit.sarif", "predicate.json", "report.html", "statement.intoto.json"]
    lines = (bundle_dir / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    assert [line.split("  ")[1] for line in lines] == [n for n in names if n != MANIFEST_NAME]
    for line in lines:  # recomputed here, not by the code under test
        digest, name = line.split("  ")
        assert sha((bundle_dir / name).read_bytes()) == digest, name
    assert verify(bundle_dir) == []
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "--check", "--strict", MANIFEST_NAME], cwd=bundle_dir,
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


def test_manifest_catches_a_changed_file(bundle_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    (copy / "report.html").write_bytes((copy / "report.html").read_bytes().replace(b"PPK101", b"PPK102", 1))
    (copy / "extra.txt").write_text("x")
    assert verify(copy) == ["report.html: SHA-256 differs", "extra.txt: not in SHA256SUMS"]


def test_statement_subjects_are_the_inputs_and_the_predicate_names_the_reports(bundle_dir):
    statement = json.loads((bundle_dir / "statement.intoto.json").read_text(encoding="utf-8"))
    assert statement["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == PREDICATE_TYPE and PREDICATE_TYPE.startswith("https://")
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert "examples/lunch-order/solutions/LunchOrder_1_0_0_3.zip" in subjects
    assert "examples/lunch-order/policy.yaml" in subjects and "examples/lunch-order/policykit.yaml" in subjects
    assert "examples/lunch-order/environments/dev/systemusers.json" in subjects
    for name, digest in subjects.items():
        assert sha((REPO / name).read_bytes()) == digest, name
    predicate = statement["predicate"]
    assert predicate == json.loads((bundle_dir / "predicate.json").read_text(encoding="utf-8"))
    for report in predicate["reports"]:
        assert sha((bundle_dir / report["name"]).read_bytes()) == report["digest"]["sha256"]
    assert [r["name"] for r in predicate["reports"]] == ["policykit.sarif", "report.html"]
    counts = predicate["summary"]
    assert counts["findings"] == {"error": 9, "warning": 0, "note": 1, "waived": 1}
    assert counts["complete"] is True and counts["waivers"] == {"active": 1, "expiring": 0, "expired": 0, "stale": 0}
    assert counts["rules"]["passed"] + counts["rules"]["open_findings"] <= counts["rules"]["run"]
    assert predicate["command_line"][:3] == ["policykit", "scan", "--config"]
    assert "started_at" not in predicate  # --reproducible
    (declared,) = predicate["waivers"]
    assert (declared["owner"], declared["ticket"], declared["expires"], declared["state"]) == \
        ("alex.wilber@contoso.com", "CHG0107342", "2027-03-31", "active")


def test_bundle_sarif_records_the_evidence_and_passes_the_validator(bundle_dir, tmp_path):
    log = json.loads((bundle_dir / "policykit.sarif").read_text(encoding="utf-8"))
    run = log["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["commandLine"].startswith("policykit scan --config examples/lunch-order/policykit.yaml")
    assert invocation["arguments"][0] == "scan"
    facts = invocation["properties"]["policykit/evidence"]
    assert facts["tool"]["name"] == "PolicyKit" and facts["judged_on"] and facts["warn_expiry_days"] == 30
    assert {a["location"]["uri"] for a in run["artifacts"]} >= {"examples/lunch-order/policy.yaml"}
    waived = [r for r in run["results"] if r.get("suppressions")]
    assert len(waived) == 1 and waived[0]["suppressions"][0]["properties"]["ticket"] == "CHG0107342"
    validate(bundle_dir / "policykit.sarif", ("Sarif", "Ghas"))


def test_bundle_is_the_same_bytes_when_made_again(bundle_dir, tmp_path, cli):
    args = json.loads((bundle_dir / "predicate.json").read_text(encoding="utf-8"))["command_line"][1:]
    before = {p.name: p.read_bytes() for p in bundle_dir.iterdir()}
    shutil.rmtree(bundle_dir)
    run = cli(*args, cwd=REPO)
    assert run.code == 1, run.err
    assert {p.name: p.read_bytes() for p in bundle_dir.iterdir()} == before


def test_bundle_html_in_chromium(bundle_dir):
    """The bundle's report is the page reviewers read: rendered, no console message, a screenshot."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "evidence-bundle-report.html"
    shutil.copy(bundle_dir / "report.html", page)
    shot = ARTIFACTS / "evidence-bundle-report.png"
    rendered = render(page, screenshot=shot, window=(1280, 3000))
    print(f"\nevidence bundle report: {page}\nscreenshot: {shot}")
    assert rendered.console == [], rendered.console
    dom = Dom(rendered.dom)
    text = dom.text
    for expected in ["Provenance", "Command line", "policykit scan --config examples/lunch-order/policykit.yaml",
                     "Waivers judged on", "policies/default.yaml", "policykit/data/connectors.json", "Rule pack",
                     "Waivers in the policy", "in force", "owner: alex.wilber@contoso.com", "CHG0107342",
                     "approved by: isabella.rossi@contoso.com"]:
        assert expected in text, expected
    assert dom.tags("script") == [] and dom.event_handlers() == []
    assert rendered.screenshot == shot and shot.stat().st_size > 50_000


# --------------------------------------------------------------------------- the rule set, hashed


def test_the_rule_set_is_hashed(bundle_dir):
    predicate = json.loads((bundle_dir / "predicate.json").read_text(encoding="utf-8"))
    default = predicate["policy"]["default"]
    assert default["sha256"] == sha((REPO / "policies" / "default.yaml").read_bytes())
    assert predicate["policy"]["files"][0] == default
    assert predicate["policy"]["files"][1] == {"name": "examples/lunch-order/policy.yaml",
                                               "sha256": sha((EXAMPLE / "policy.yaml").read_bytes())}
    data = resources.files("policykit").joinpath("data")
    catalogs = {c["name"]: c["sha256"] for c in predicate["rule_set"]["catalogs"]}
    assert catalogs["policykit/data/connectors.json"] == sha(data.joinpath("connectors.json").read_bytes())
    assert catalogs["policykit/data/licenses.json"] == sha(data.joinpath("licenses.json").read_bytes())
    (pack,) = [p for p in predicate["rule_set"]["packs"] if p["name"] == "policykit"]
    assert pack["version"] and len(pack["rules"]) >= 37
    folders = {p.name.split("-")[0]: p for p in (REPO / "rules").iterdir() if (p / "rule.yaml").is_file()}
    for rule_id, digest in pack["rules"].items():
        assert digest == sha((folders[rule_id] / "rule.yaml").read_bytes()), rule_id
    lines = "".join(f"{d}  {i}\n" for i, d in sorted(pack["rules"].items()))
    assert pack["sha256"] == sha(lines.encode("utf-8"))


# --------------------------------------------------------------------------- policy, git, collections


def git(folder: Path, *args: str) -> str:
    run = subprocess.run(["git", "-C", str(folder), "-c", "user.name=PolicyKit Test", "-c", "user.email=t@example.invalid",
                          "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True)
    return run.stdout.strip()


@pytest.fixture
def repo_estate(estate) -> Path:
    """The small estate in a git checkout of its own, with a policy that overrides three rules and
    a remote whose URL holds a token (it must never reach a report)."""
    if not shutil.which("git"):
        pytest.fail("git is not installed")
    (estate / "policy.yaml").write_text(
        "rules:\n  PPK104: {enabled: false}\n  PPK201: {severity: warning, environments: ['type:Production']}\n"
        "  PPK203: {parameters: {admin_role_names: [System Administrator, Contoso Admin]}}\n", encoding="utf-8")
    (estate / "policykit.yaml").write_text("name: orders\npolicy: policy.yaml\nsolutions: [Orders]\nenvironments:\n"
                                           "  PRD: {metadata: prd.yaml}\n", encoding="utf-8")
    git(estate, "init", "-q", "-b", "main")
    git(estate, "config", "remote.origin.url", "https://x-access-token:ghs_SECRET@github.com/contoso/power-platform.git")
    git(estate, "add", "-A")
    git(estate, "commit", "-q", "-m", "estate")
    return estate


def test_effective_policy_and_version_control_in_the_sarif(cli, repo_estate, monkeypatch):
    for name, value in PIPELINE_ENV.items():
        monkeypatch.setenv(name, value)
    out = repo_estate / "evidence.sarif"
    run = cli("scan", "--format", "sarif", "--evidence", "-o", out, "--fail-on", "never", cwd=repo_estate)
    assert run.code == 0, run.err
    text = out.read_text(encoding="utf-8")
    assert "ghs_SECRET" not in text and "x-access-token" not in text
    log = json.loads(text)
    run_ = log["runs"][0]
    assert run_["versionControlProvenance"] == [{
        "repositoryUri": "https://github.com/contoso/power-platform.git", "revisionId": git(repo_estate, "rev-parse", "HEAD"),
        "branch": "main", "properties": {"modified": False}, "mappedTo": {"uriBaseId": "%SRCROOT%"}}]
    overrides = {o["descriptor"]["id"]: o for o in run_["invocations"][0]["ruleConfigurationOverrides"]}
    assert overrides["PPK104"]["configuration"] == {"enabled": False} and "index" not in overrides["PPK104"]["descriptor"]
    assert overrides["PPK104"]["properties"] == {"defaultLevel": "note", "setIn": "policy.yaml:2"}
    assert overrides["PPK201"]["configuration"] == {"level": "warning", "properties": {
        "environments": ["type:Production"], "inScope": ["PRD"]}}
    assert overrides["PPK203"]["configuration"] == {"parameters": {"admin_role_names": ["System Administrator",
                                                                                        "Contoso Admin"]}}
    assert overrides["PPK203"]["properties"]["defaultParameters"] == {"admin_role_names": ["System Administrator",
                                                                                            "System Customizer"]}
    assert set(overrides) == {"PPK104", "PPK201", "PPK203"}
    validate(out)


def test_uncommitted_changes_are_recorded(repo_estate):
    (repo_estate / "prd.yaml").write_text((repo_estate / "prd.yaml").read_text(encoding="utf-8") + "\n",
                                          encoding="utf-8")
    vc = evidence.version_control(repo_estate, {})
    assert vc["modified"] is True and vc["branch"] == "main"


def test_no_git_or_no_checkout_leaves_version_control_out(cli, estate, monkeypatch):
    assert evidence.version_control(estate, {}) is None  # a folder outside any checkout
    monkeypatch.setattr(evidence.shutil, "which", lambda name: None)
    assert evidence.version_control(REPO, {}) is None  # git not installed
    out = estate / "e.sarif"
    run = cli("scan", "--format", "sarif", "--evidence", "-o", out, "--fail-on", "never", cwd=estate)
    assert run.code == 0, run.err
    log = json.loads(out.read_text(encoding="utf-8"))
    assert "versionControlProvenance" not in log["runs"][0]
    assert log["runs"][0]["invocations"][0]["properties"]["policykit/evidence"]["version_control"] is None


def test_version_control_of_this_checkout():
    if not (REPO / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout")
    vc = evidence.version_control(REPO, {})
    assert vc["revisionId"] == git(REPO, "rev-parse", "HEAD")


@pytest.mark.parametrize("remote,uri", [
    ("https://x-access-token:ghs_abc@github.com/contoso/x.git", "https://github.com/contoso/x.git"),
    ("https://contoso@dev.azure.com/contoso/PP/_git/x", "https://dev.azure.com/contoso/PP/_git/x"),
    ("git@github.com:contoso/x.git", "ssh://github.com/contoso/x.git"),
    ("ssh://git@ssh.dev.azure.com:22/v3/contoso/PP/x", "ssh://ssh.dev.azure.com:22/v3/contoso/PP/x"),
    ("/srv/git/x.git", None), ("../x", None), ("", None),
])
def test_repository_uri_never_keeps_credentials(remote, uri):
    assert repository_uri(remote) == uri


def test_ci_variables_name_the_repository_when_the_checkout_has_no_remote(repo_estate):
    git(repo_estate, "config", "--unset", "remote.origin.url")
    assert "repositoryUri" not in evidence.version_control(repo_estate, {})
    vc = evidence.version_control(repo_estate, {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "contoso/x"})
    assert vc["repositoryUri"] == "https://github.com/contoso/x"


def test_collected_environment_records_when_and_by_whom(cli, tmp_path):
    dev = tmp_path / "dev"
    shutil.copytree(EXAMPLE / "environments" / "dev", dev)
    (dev / "collection.json").write_text(json.dumps({
        "tool": {"name": "policykit collect", "version": "0.9.0"},
        "identity": {"method": "azure-cli", "tid": "tenant-guid", "oid": "object-guid"},
        "collected_at": "2026-12-01T06:00:00Z", "files": {"users.json": {"status": "collected", "records": 5}},
        "requests": []}), encoding="utf-8")
    shutil.copytree(EXAMPLE / "solutions", tmp_path / "solutions")
    (tmp_path / "policykit.yaml").write_text("name: c\nsolutions: [solutions]\nenvironments:\n  DEV: {metadata: dev}\n",
                                             encoding="utf-8")
    out = tmp_path / "bundle"
    run = cli("scan", "--evidence-bundle", out, "--reproducible", "--fail-on", "never", cwd=tmp_path)
    assert run.code == 0, run.err
    predicate = json.loads((out / "predicate.json").read_text(encoding="utf-8"))
    assert predicate["collections"] == [{"environment": "DEV", "collected_at": "2026-12-01T06:00:00Z",
                                         "identity": {"method": "azure-cli", "oid": "object-guid", "tid": "tenant-guid"},
                                         "tool": {"name": "policykit collect", "version": "0.9.0"}}]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "2026-12-01T06:00:00Z" in page and "tid: tenant-guid" in page
    assert verify(out) == []


def test_evidence_flag_with_html_and_its_limits(cli, estate):
    run = cli("scan", "--format", "html", "--evidence", "-o", estate / "r.html", "--fail-on", "never", cwd=estate)
    assert run.code == 0 and "<h3>Provenance</h3>" in (estate / "r.html").read_text(encoding="utf-8")
    bad = cli("scan", "--format", "markdown", "--evidence", cwd=estate)
    assert bad.code == 2 and "--evidence applies to --format sarif or html" in bad.err
