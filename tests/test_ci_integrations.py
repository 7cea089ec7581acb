"""The CI integrations (docs/ci/*.yml, .pre-commit-hooks.yaml) run commands the CLI accepts.

Each file is read with ``yaml.safe_load``; every shell command it runs that starts with
``policykit`` is extracted, its CI variables (``${{ ... }}``, ``$(...)``, ``$VAR``) replaced with
plain values, and given to the real parser, with every option spelled out in full (argparse would
accept an abbreviation that a later option could make ambiguous).  Then the wiring: the SARIF
the GitHub scan writes is the file upload-sarif uploads, with the same category; the Azure scan
writes its SARIF at the root of the artifact named ``CodeAnalysisLogs``; both end with a gate.
Finally the commands are run, in order, on a copy of the lunch-order example.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLE, REPO

from policykit.cli import make_parser

GITHUB = REPO / "docs" / "ci" / "github-actions.yml"
AZURE = REPO / "docs" / "ci" / "azure-pipelines.yml"
PRE_COMMIT = REPO / ".pre-commit-hooks.yaml"
CI_FILES = (GITHUB, AZURE, PRE_COMMIT)

#: Shell operators that separate commands, and those that redirect (they take the next word).
SEPARATORS = {";", "&&", "||", "|", "&"}
REDIRECTS = {">", ">>", "<"}


@dataclass
class Command:
    """One ``policykit`` command line found in a CI file."""

    where: str                 # file and step, for messages and test ids
    argv: list[str]            # after variable replacement, without redirections
    stdout: str | None = None  # the file its standard output is redirected to, if any
    step: dict[str, Any] = field(default_factory=dict)
    index: int = 0             # the step's position in its file

    def option(self, name: str) -> str | None:
        args = parse(self.argv)
        return getattr(args, name.lstrip("-").replace("-", "_"), None)


# --------------------------------------------------------------------------- reading the files


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Replace CI variables with their value in ``variables``, or with their name.

    GitHub expressions ``${{ env.X }}`` / ``${{ matrix.x }}``, Azure macros ``$(Build.X)`` and
    shell variables ``$X`` / ``${X}`` all become plain words, so the same variable gives the same
    word wherever it appears (in a command and in a task input alike).
    """
    def expression(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        name = expr.split(".", 1)[1] if expr.startswith("env.") else expr
        return variables.get(name, name)

    for _ in range(5):  # variables may refer to variables
        before = text
        text = re.sub(r"\$\{\{(.*?)\}\}", expression, text)
        text = re.sub(r"\$\(([A-Za-z_][\w.]*)\)", lambda m: variables.get(m.group(1), m.group(1)), text)
        text = re.sub(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)",
                      lambda m: variables.get(m.group(1) or m.group(2), m.group(1) or m.group(2)), text)
        if text == before:
            break
    return text


def shell_commands(script: str) -> Iterator[tuple[list[str], str | None]]:
    """Each simple command of a shell script: its words, and where its stdout goes."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words, stdout, tokens = [], None, iter(list(lexer))
        for token in tokens:
            if token in SEPARATORS:
                yield words, stdout
                words, stdout = [], None
            elif token in REDIRECTS:
                target = next(tokens, None)
                stdout = target if token != "<" else stdout
            else:
                words.append(token)
        yield words, stdout


def policykit_argv(words: list[str]) -> list[str] | None:
    """``policykit ...`` or ``python -m policykit ...`` as ``["policykit", ...]``; else None."""
    if words[:1] == ["policykit"]:
        return words
    if len(words) >= 3 and words[1:3] == ["-m", "policykit"] and "python" in words[0]:
        return ["policykit", *words[3:]]
    return None


def github_steps() -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Every step of the workflow, with the env it sees (workflow, job, step)."""
    workflow = load(GITHUB)
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            env = {**(workflow.get("env") or {}), **(job.get("env") or {}), **(step.get("env") or {})}
            yield step, {k: str(v) for k, v in env.items()}


def azure_steps(variables: Mapping[str, str] | None = None) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    pipeline = load(AZURE)
    declared = pipeline.get("variables") or {}
    if isinstance(declared, list):  # the list form: [{name, value}, ...]
        declared = {v["name"]: v["value"] for v in declared if "name" in v}
    env = {**{k: str(v) for k, v in declared.items()}, **(variables or {})}
    for step in pipeline["steps"]:
        yield step, env


def step_commands(path: Path, variables: Mapping[str, str] | None = None) -> list[Command]:
    """Every ``policykit`` command that a CI file runs, in order."""
    if path == PRE_COMMIT:
        return [Command(f"{path.name}:{hook['id']}", shlex.split(hook["entry"]) + [str(a) for a in hook.get("args", [])],
                        step=hook, index=i) for i, hook in enumerate(load(path))]
    steps = github_steps() if path == GITHUB else azure_steps(variables)
    script_keys = ("run",) if path == GITHUB else ("script", "bash", "pwsh", "powershell")
    commands = []
    for index, (step, env) in enumerate(steps):
        env = {**env, **(variables or {})}
        for key in script_keys:
            for words, stdout in shell_commands(substitute(str(step.get(key, "")), env)):
                argv = policykit_argv(words)
                if argv:
                    name = step.get("name") or step.get("displayName") or f"step {index}"
                    commands.append(Command(f"{path.name}:{name}", argv, stdout, step, index))
    return commands


def parse(argv: list[str]) -> argparse.Namespace:
    return make_parser().parse_args(argv[1:])


def subparser(name: str) -> argparse.ArgumentParser:
    parser = make_parser()
    for action in parser._actions:  # argparse keeps the sub-parsers in a private action
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise AssertionError("no sub-commands")


ALL = [c for path in CI_FILES for c in step_commands(path)]


# --------------------------------------------------------------------------- every command


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_every_file_is_yaml_and_runs_policykit(path: Path) -> None:
    assert load(path), f"{path} is empty"
    assert step_commands(path), f"{path} runs no policykit command"


@pytest.mark.parametrize("command", ALL, ids=lambda c: c.where)
def test_command_parses(command: Command, capsys) -> None:
    try:
        args = parse(command.argv)
    except SystemExit as exc:
        pytest.fail(f"{command.where}: {shlex.join(command.argv)} is refused ({exc.code}): {capsys.readouterr().err}")
    assert args.command == "scan"


@pytest.mark.parametrize("command", ALL, ids=lambda c: c.where)
def test_command_options_spelled_in_full(command: Command) -> None:
    known = subparser(command.argv[1])._option_string_actions
    for word in command.argv[2:]:
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            assert option in known, f"{command.where}: unknown or abbreviated option {option}"


def test_substitute() -> None:
    assert substitute('--output "$(Build.ArtifactStagingDirectory)/x.sarif"', {}) == '--output "Build.ArtifactStagingDirectory/x.sarif"'
    assert substitute("${{ env.CAT }} $CAT ${CAT} ${{ matrix.estate }}", {"CAT": "c"}) == "c c c matrix.estate"


def test_shell_commands_split_operators_and_redirections() -> None:
    got = list(shell_commands('policykit scan --format markdown >> "$OUT" && echo "a;b" | tee x\nls'))
    assert got == [(["policykit", "scan", "--format", "markdown"], "$OUT"), (["echo", "a;b"], None),
                   (["tee", "x"], None), (["ls"], None)]


# --------------------------------------------------------------------------- GitHub Actions


def github_job() -> dict[str, Any]:
    (job,) = load(GITHUB)["jobs"].values()
    return job


def sarif_scans(commands: list[Command]) -> list[Command]:
    return [c for c in commands if c.option("format") == "sarif"]


def runs_after_failure(condition: Any) -> bool:
    return isinstance(condition, str) and any(f in condition for f in ("always()", "!cancelled()", "failure()",
                                                                      "succeededOrFailed()"))


def test_github_permissions() -> None:
    permissions = {**(load(GITHUB).get("permissions") or {}), **(github_job().get("permissions") or {})}
    assert permissions.get("security-events") == "write"
    assert permissions.get("contents") == "read"


def test_github_uploads_the_sarif_the_scan_writes() -> None:
    commands = step_commands(GITHUB)
    (scan,) = sarif_scans(commands)
    uploads = [(i, s, env) for i, (s, env) in enumerate(github_steps())
               if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    assert len(uploads) == 1, "one upload-sarif step"
    index, upload, env = uploads[0]
    assert upload["uses"].endswith("@v3")
    inputs = {k: substitute(str(v), env) for k, v in upload["with"].items()}
    assert inputs["sarif_file"] == scan.option("output")
    assert scan.option("fail_on") == "never", "findings must not stop the job before the upload"
    # The SARIF's own automationDetails.id wins over upload-sarif's category: keep them equal.
    assert scan.option("category") and inputs["category"].rstrip("/") == scan.option("category").rstrip("/")
    assert index > scan.index
    assert runs_after_failure(upload.get("if")), "upload even when the scan exits 2"


def test_github_job_summary_is_markdown() -> None:
    summaries = [c for c in step_commands(GITHUB) if c.stdout in ("GITHUB_STEP_SUMMARY",)]
    assert len(summaries) == 1
    assert summaries[0].option("format") == "markdown"
    assert runs_after_failure(summaries[0].step.get("if"))


def test_github_gate_comes_last() -> None:
    commands = step_commands(GITHUB)
    gate = commands[-1]
    assert gate.option("fail_on") in ("error", "warning", "note")
    assert gate.index > max(c.index for c in sarif_scans(commands))


# --------------------------------------------------------------------------- Azure Pipelines


def artifact_publications(variables: Mapping[str, str] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(artifact name, published folder, step) of each artifact publishing task."""
    out = []
    for step, env in azure_steps(variables):
        task = str(step.get("task", ""))
        inputs = {k: substitute(str(v), {**env, **(variables or {})}) for k, v in (step.get("inputs") or {}).items()}
        if task.startswith("PublishBuildArtifacts@"):
            out.append((inputs.get("ArtifactName", "drop"), inputs["PathtoPublish"], step))
        elif task.startswith("PublishPipelineArtifact@"):
            out.append((inputs.get("artifact") or inputs.get("artifactName", ""),
                        inputs.get("targetPath") or inputs.get("path", ""), step))
    return out


def test_azure_uses_python_and_installs_policykit() -> None:
    steps = [s for s, _ in azure_steps()]
    assert any(str(s.get("task", "")).startswith("UsePythonVersion@") for s in steps)
    assert any("pip install" in str(s.get("script", "")) and "policykit" in str(s.get("script", "")) for s in steps)


def test_azure_publishes_the_sarif_as_code_analysis_logs() -> None:
    (scan,) = sarif_scans(step_commands(AZURE))
    output = scan.option("output")
    assert output.endswith(".sarif")
    published = [(folder, step) for name, folder, step in artifact_publications() if name == "CodeAnalysisLogs"]
    assert len(published) == 1, "one artifact named CodeAnalysisLogs"
    folder, step = published[0]
    # The Scans tab reads *.sarif at the artifact's root: the file must sit directly in the folder.
    assert Path(output).parent == Path(folder)
    assert runs_after_failure(step.get("condition")), "publish even when the scan exits 2"
    assert scan.option("fail_on") == "never"


def test_azure_gate_comes_last() -> None:
    commands = step_commands(AZURE)
    gate = commands[-1]
    assert gate.option("fail_on") in ("error", "warning", "note")
    assert gate.index > max(c.index for c in sarif_scans(commands))
    assert gate.step.get("condition") is None, "the gate runs only while the build is green"


# --------------------------------------------------------------------------- pre-commit


def test_pre_commit_hook() -> None:
    (hook,) = load(PRE_COMMIT)
    assert hook["id"] == "policykit" and hook["name"]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert shlex.split(hook["entry"]) == ["policykit", "scan"]
    assert parse(step_commands(PRE_COMMIT)[0].argv).fail_on == "error"
    files = re.compile(hook["files"])  # pre-commit matches with re.search
    for path in ("policykit.yaml", "policy.yml", "solutions/LunchOrder_1_0_0_3.zip", "src/Expenses/Other/Solution.xml",
                 "src/Expenses/Workflows/Flow-1.json", "config/prd/deploymentSettings.json",
                 "environments/dev/connections.json", "estates/hr/environments/prd.yaml"):
        assert files.search(path), path
    for path in ("README.md", "src/app.py", "docs/ci/github-actions.yml"):
        assert not files.search(path), path


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def example(tmp_path: Path, monkeypatch) -> Path:
    """The lunch-order example with its policykit.yaml at the root, as in a user's repository."""
    shutil.copytree(EXAMPLE, tmp_path / "repo")
    monkeypatch.delenv("TF_BUILD", raising=False)  # the SARIF then carries the GitHub category
    return tmp_path / "repo"


def run_all(cli: Callable, commands: list[Command], cwd: Path) -> dict[str, Any]:
    """Run the commands in order like the CI would; stdout redirections become files."""
    codes = {}
    for command in commands:
        result = cli(*command.argv[1:], cwd=cwd)
        if command.stdout:
            with open(cwd / command.stdout, "a", encoding="utf-8") as fh:
                fh.write(result.out)
        codes[command.where] = (result.code, result.out)
    return codes


def expected_gate(sarif: dict[str, Any]) -> int:
    return 1 if any(r["level"] == "error" for r in sarif["runs"][0]["results"]) else 0


def test_github_commands_end_to_end(cli, example) -> None:
    commands = step_commands(GITHUB)
    codes = run_all(cli, commands, example)
    (scan,) = sarif_scans(commands)
    assert codes[scan.where][0] == 0
    sarif = json.loads((example / scan.option("output")).read_text(encoding="utf-8"))
    assert sarif["runs"][0]["automationDetails"]["id"] == scan.option("category").rstrip("/") + "/"
    assert (example / "GITHUB_STEP_SUMMARY").read_text(encoding="utf-8").startswith("## PolicyKit: lunch-order\n")
    assert codes[commands[-1].where][0] == expected_gate(sarif)


def test_azure_commands_end_to_end(cli, example) -> None:
    variables = {"Build.ArtifactStagingDirectory": "staging", "Agent.TempDirectory": "agent-temp"}
    commands = step_commands(AZURE, variables)
    codes = run_all(cli, commands, example)
    (name_folder,) = [folder for name, folder, _ in artifact_publications(variables) if name == "CodeAnalysisLogs"]
    logs = sorted(p.name for p in (example / name_folder).iterdir())
    assert logs == ["policykit.sarif"]
    sarif = json.loads((example / name_folder / "policykit.sarif").read_text(encoding="utf-8"))
    assert (example / "agent-temp" / "policykit.md").is_file()
    assert codes[commands[-1].where][0] == expected_gate(sarif)


def test_pre_commit_command_end_to_end(cli, example) -> None:
    (command,) = step_commands(PRE_COMMIT)
    sarif = json.loads(cli("scan", "--format", "sarif", cwd=example).out)
    assert cli(*command.argv[1:], cwd=example).code == expected_gate(sarif)
