"""CI from any folder: SARIF URIs relative to the repository root (``--root``, default the git top
level) wherever the scan runs, finding keys and fingerprints without a working-directory path,
report files with the user's normal permissions, and the composite GitHub Action (``action.yml``)
and the Azure Pipelines template (``ci/azure-pipelines/policykit.yml``) run step by step.

Neither GitHub nor Azure DevOps can be reached from a test: the action and the template are
parsed, their expressions and macros replaced with local values, and each shell step executed
with bash in a copy of the example estate, in a subfolder of a git work tree. Steps that are not
shell (setup-python, upload-sarif, PublishBuildArtifacts) are checked for their wiring instead;
``pip install`` is recorded by a stand-in ``python`` rather than run (no package index).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLE, REPO, RULES

from policykit.cli import write_atomic

ACTION = REPO / "action.yml"
TEMPLATE = REPO / "ci" / "azure-pipelines" / "policykit.yml"
PPK503_FIRES = RULES / "PPK503-secret-in-deployment-settings" / "fixtures" / "fires"
PPK107_FIRES = RULES / "PPK107-deployment-settings-unknown-reference" / "fixtures" / "fires"


def json_lines(cli, cwd: Path, *args: str) -> list[dict[str, Any]]:
    run = cli("scan", *args, "--format", "json", "--fail-on", "never", cwd=cwd)
    assert run.code == 0, run.err
    return [json.loads(line) for line in run.out.splitlines()]


def sarif(cli, cwd: Path, out: Path, *args: str) -> dict[str, Any]:
    run = cli("scan", *args, "--format", "sarif", "--output", out, "--fail-on", "never", cwd=cwd)
    assert run.code == 0, run.err
    return json.loads(out.read_text(encoding="utf-8"))


def uris(log: dict[str, Any]) -> list[str]:
    return [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree (a ``.git`` folder is enough) holding the example under estates/lunch/ and
    the PPK503 and PPK107 fixtures (their keys name a settings file) under estates/secrets/."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root / "estates" / "lunch")
    shutil.copytree(PPK503_FIRES, root / "estates" / "secrets")
    shutil.copytree(PPK107_FIRES, root / "estates" / "unknown")
    fixture_solutions = RULES / "_fixtures" / "solutions"
    for estate in ("secrets", "unknown"):  # the fixtures name the shared solutions by a relative path
        config = root / "estates" / estate / "policykit.yaml"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("../../../_fixtures/solutions/", fixture_solutions.as_posix() + "/"), encoding="utf-8")
    (root / ".git").mkdir()
    return root


# --------------------------------------------------------------------------- keys and fingerprints


@pytest.mark.parametrize("estate", ["lunch", "secrets", "unknown"])
def test_keys_and_fingerprints_do_not_depend_on_the_working_directory(cli, repo, estate):
    folder = repo / "estates" / estate
    runs = [json_lines(cli, cwd, "--config", folder / "policykit.yaml") for cwd in (repo, folder, folder.parent, REPO)]
    assert runs[0], "the estate has findings"
    keys = [[(f["rule_id"], f["key"], f["fingerprint"]) for f in run] for run in runs]
    assert keys[1:] == [keys[0]] * 3
    for rule_id, key, _ in keys[0]:
        assert "estates/" not in key and str(repo) not in key, (rule_id, key)


def test_settings_file_keys_are_relative_to_the_estate_file(cli, repo):
    secrets = json_lines(cli, repo, "--config", "estates/secrets/policykit.yaml")
    assert {f["key"] for f in secrets if f["rule_id"] == "PPK503"} == {
        "deploymentSettings.json/fxc_PartnerClientSecret", "deploymentSettings.json/fxc_StorageConnection"}
    unknown = json_lines(cli, repo, "--config", "estates/unknown/policykit.yaml")
    assert {f["key"] for f in unknown if f["rule_id"] == "PPK107"} == {
        "PRD/deploymentSettings.json/fxi_InvoiceSharePoint", "PRD/deploymentSettings.json/fxi_InvoicesOutlook"}


def test_without_an_estate_file_keys_are_relative_to_the_git_top_level(cli, repo):
    folder = repo / "estates" / "secrets"
    solution = str(RULES / "_fixtures" / "solutions" / "R3Clean")  # no estate file: PATHs and --settings
    from_root = json_lines(cli, repo, solution, "--settings", f"TEST={folder / 'deploymentSettings.json'}")
    from_folder = json_lines(cli, folder, solution, "--settings", "TEST=deploymentSettings.json")
    assert [f["key"] for f in from_root] == [f["key"] for f in from_folder]
    assert {f["key"] for f in from_root} == {"estates/secrets/deploymentSettings.json/fxc_PartnerClientSecret",
                                             "estates/secrets/deploymentSettings.json/fxc_StorageConnection"}


# --------------------------------------------------------------------------- SARIF URIs


def test_sarif_is_the_same_from_every_folder(cli, repo, tmp_path):
    config = repo / "estates" / "lunch" / "policykit.yaml"
    logs = [sarif(cli, cwd, tmp_path / f"{i}.sarif", "--config", config)
            for i, cwd in enumerate((repo, config.parent, config.parent / "environments"))]
    assert logs[1] == logs[0] and logs[2] == logs[0]
    run = logs[0]["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"description": {
        "text": "The root of the repository (policykit scan --root): every URI is relative to it."}}}
    assert uris(logs[0]) and all(u.startswith("estates/lunch/") for u in uris(logs[0]))
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    locations += [loc["physicalLocation"]["artifactLocation"] for n in run["invocations"][0].get(
        "toolExecutionNotifications", []) for loc in n.get("locations", [])]
    assert locations and all(loc["uriBaseId"] == "%SRCROOT%" for loc in locations)
    # GitHub's line hashes are still computed, from the files where the scan read them.
    assert any("primaryLocationLineHash" in r["partialFingerprints"] for r in run["results"])


def test_evidence_artifacts_are_rooted_too(cli, repo, tmp_path):
    config = repo / "estates" / "lunch" / "policykit.yaml"
    log = sarif(cli, config.parent, tmp_path / "e.sarif", "--config", "policykit.yaml", "--evidence", "--reproducible")
    artifacts = log["runs"][0]["artifacts"]
    assert artifacts and all(a["location"]["uriBaseId"] == "%SRCROOT%" for a in artifacts)
    assert all(a["location"]["uri"].startswith("estates/lunch/") for a in artifacts)


def test_explicit_root(cli, repo, tmp_path):
    config = repo / "estates" / "lunch" / "policykit.yaml"
    inside = sarif(cli, repo, tmp_path / "a.sarif", "--config", config, "--root", repo / "estates")
    assert all(u.startswith("lunch/") for u in uris(inside))
    beside = sarif(cli, repo, tmp_path / "b.sarif", "--config", config, "--root", repo / "estates" / "secrets")
    assert all(u.startswith("../lunch/") for u in uris(beside))
    run = cli("scan", "--config", config, "--format", "sarif", "--root", repo / "nowhere", cwd=repo)
    assert run.code == 2 and "--root: folder not found" in run.err


def test_outside_a_git_work_tree_the_root_is_the_working_directory(cli, tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "plain")
    log = sarif(cli, tmp_path, tmp_path / "p.sarif", "--config", "plain/policykit.yaml")
    assert all(u.startswith("plain/") for u in uris(log))


# --------------------------------------------------------------------------- file modes


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="no file modes")
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_reports_get_the_users_normal_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_atomic(str(tmp_path / "report.sarif"), "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.sarif").stat().st_mode) == mode


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="no file modes")
def test_a_replaced_report_keeps_its_mode(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o664)
    write_atomic(str(target), "new\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o664 and target.read_text(encoding="utf-8") == "new\n"


# --------------------------------------------------------------------------- running CI files locally


def stand_in_python(folder: Path) -> Path:
    """A ``python`` that records ``python -m pip ...`` in $PIP_LOG and runs anything else."""
    folder.mkdir(exist_ok=True)
    script = folder / "python"
    script.write_text(f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> "$PIP_LOG"; exit 0; fi\n'
                      f'exec "{sys.executable}" "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return folder


def shell_env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    stubs = stand_in_python(tmp_path / "stubs")
    path = os.pathsep.join([str(stubs), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "PYTHONPATH": str(REPO), "PIP_LOG": str(tmp_path / "pip.log"),
            "SOURCE_DATE_EPOCH": "1700000000", **extra}


def run_bash(script: str, cwd: Path, env: dict[str, str], flags: tuple[str, ...]) -> int:
    return subprocess.run(["bash", "--noprofile", "--norc", *flags, "-c", script], cwd=cwd, env=env,
                          timeout=300, check=False).returncode


class GitHubRunner:
    """Runs ``action.yml``'s steps: ``${{ ... }}`` evaluated for the expressions it uses."""

    def __init__(self, workspace: Path, tmp_path: Path, inputs: dict[str, str]) -> None:
        action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
        self.steps = action["runs"]["steps"]
        self.inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()} | inputs
        self.workspace, self.tmp = workspace, tmp_path
        self.outputs: dict[str, dict[str, str]] = {}
        self.files = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_STEP_SUMMARY": tmp_path / "summary.md"}

    def value(self, expression: str) -> str:
        expression = expression.strip()
        if expression.startswith("inputs."):
            return self.inputs[expression[len("inputs."):]]
        if expression == "github.action_path":
            return str(REPO)
        match = re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+)", expression)
        if match:
            return self.outputs.get(match.group(1), {}).get(match.group(2), "")
        raise AssertionError(f"an expression the test does not know: {expression}")

    def text(self, value: Any) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: self.value(m.group(1)), str(value))

    def run(self, step: dict[str, Any]) -> int:
        for path in self.files.values():
            path.write_text("", encoding="utf-8") if path.name == "output" else path.touch()
        env = shell_env(self.tmp, {k: self.text(v) for k, v in (step.get("env") or {}).items()}
                        | {k: str(v) for k, v in self.files.items()})
        cwd = self.workspace / self.text(step.get("working-directory", "."))
        code = run_bash(self.text(step["run"]), cwd, env, ("-eo", "pipefail"))
        lines = self.files["GITHUB_OUTPUT"].read_text(encoding="utf-8").splitlines()
        self.outputs[step.get("id", "")] = dict(line.split("=", 1) for line in lines if "=" in line)
        return code


def test_action_is_a_composite_action_with_documented_inputs():
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite" and action["name"] and action["description"]
    assert all(spec.get("description") for spec in action["inputs"].values())
    for step in action["runs"]["steps"]:
        assert "run" not in step or step["shell"] == "bash", "composite steps must name their shell"
        assert "${{" not in str(step.get("run", "")), "inputs reach scripts through env, never spliced into them"
    uses = [s["uses"] for s in action["runs"]["steps"] if "uses" in s]
    assert uses == ["actions/setup-python@v5", "github/codeql-action/upload-sarif@v3"]


def test_action_runs_from_a_subfolder(repo, tmp_path):
    runner = GitHubRunner(repo, tmp_path, {"working-directory": "estates/lunch", "category": "policykit/lunch"})
    codes = {}
    for step in runner.steps:
        if "run" in step:
            codes[step["name"]] = runner.run(step)
    assert (tmp_path / "pip.log").read_text(encoding="utf-8").split() == ["-m", "pip", "install", str(REPO)]
    assert codes == {"Install PolicyKit": 0, "Scan (SARIF)": 0, "Job summary": 0, "Gate": 1}
    sarif_path = Path(runner.outputs["scan"]["sarif"])
    assert sarif_path == repo / "estates" / "lunch" / "policykit.sarif"
    log = json.loads(sarif_path.read_text(encoding="utf-8"))
    assert uris(log) and all(u.startswith("estates/lunch/") for u in uris(log)), "relative to the repository root"
    assert log["runs"][0]["automationDetails"]["id"] == "policykit/lunch/"
    upload = next(s for s in runner.steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert runner.text(upload["with"]["sarif_file"]) == str(sarif_path)
    assert runner.text(upload["with"]["category"]) == "policykit/lunch"
    assert "!cancelled()" in upload["if"]
    assert (tmp_path / "summary.md").read_text(encoding="utf-8").startswith("## PolicyKit: lunch-order\n")
    # With the SARIF as baseline the gate passes: every error is known already.
    gate = next(s for s in runner.steps if s.get("name") == "Gate")
    runner.inputs["baseline"] = str(sarif_path)
    assert runner.run(gate) == 0
    runner.inputs.update(baseline="", **{"fail-on": "never"})
    assert runner.run(gate) == 0


def test_action_summary_by_control(repo, tmp_path):
    runner = GitHubRunner(repo, tmp_path, {"working-directory": "estates/lunch", "summary-by": "control"})
    summary = next(s for s in runner.steps if s.get("name") == "Job summary")
    assert runner.run(summary) == 0
    assert "### Findings by control" in (tmp_path / "summary.md").read_text(encoding="utf-8")


class AzureRunner:
    """Runs the template's ``bash`` steps: ``${{ parameters.x }}`` and ``$(Macro)`` replaced."""

    def __init__(self, sources: Path, tmp_path: Path, parameters: dict[str, str]) -> None:
        template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
        self.steps = template["steps"]
        self.parameters = {p["name"]: str(p.get("default", "")) for p in template["parameters"]} | parameters
        self.macros = {"Build.SourcesDirectory": str(sources), "Build.ArtifactStagingDirectory": str(tmp_path / "staging"),
                       "Agent.TempDirectory": str(tmp_path / "agent-temp")}
        self.tmp = tmp_path

    def text(self, value: Any) -> str:
        for _ in range(2):  # a parameter's default may hold a macro
            value = re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: self.parameters[m.group(1)], str(value))
            value = re.sub(r"\$\(([\w.]+)\)", lambda m: self.macros.get(m.group(1), m.group(0)), value)
        return value

    def run(self, step: dict[str, Any]) -> tuple[int, Path]:
        env = shell_env(self.tmp, {k: self.text(v) for k, v in (step.get("env") or {}).items()})
        cwd = Path(self.text(step.get("workingDirectory", self.macros["Build.SourcesDirectory"])))
        return run_bash(self.text(step["bash"]), cwd, env, ()), cwd


def test_azure_template_runs_from_a_subfolder(repo, tmp_path):
    (tmp_path / "agent-temp").mkdir()
    runner = AzureRunner(repo, tmp_path, {"workingDirectory": "$(Build.SourcesDirectory)/estates/lunch"})
    codes = {s["displayName"]: runner.run(s)[0] for s in runner.steps if "bash" in s}
    assert codes == {"Install PolicyKit": 0, "Scan (SARIF)": 0, "Build summary": 0, "Gate": 1}
    assert (tmp_path / "pip.log").read_text(encoding="utf-8").split() == [
        "-m", "pip", "install", "git+https://github.com/policykit/power-policykit@main"]
    (publish,) = [s for s in runner.steps if str(s.get("task", "")).startswith("PublishBuildArtifacts@")]
    folder = Path(runner.text(publish["inputs"]["PathtoPublish"]))
    assert publish["inputs"]["ArtifactName"] == "CodeAnalysisLogs" and publish["condition"] == "succeededOrFailed()"
    assert sorted(p.name for p in folder.iterdir()) == ["policykit.sarif"], "at the artifact's root: the Scans tab"
    log = json.loads((folder / "policykit.sarif").read_text(encoding="utf-8"))
    assert uris(log) and all(u.startswith("estates/lunch/") for u in uris(log))
    assert (tmp_path / "agent-temp" / "policykit.md").read_text(encoding="utf-8").startswith("## PolicyKit:")
    gate = next(s for s in runner.steps if s.get("displayName") == "Gate")
    assert gate.get("condition") is None, "the gate runs only while the build is green"
    runner.parameters["baseline"] = str(folder / "policykit.sarif")
    assert runner.run(gate)[0] == 0
