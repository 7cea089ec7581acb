"""Output safety (issue 10, "Nothing lost, nothing crashes"): whatever names and bytes the inputs
hold, every report is valid UTF-8, SARIF and JSON Lines parse with a strict JSON parser, errors
are one short line each, nothing reaches the terminal raw, and an internal failure is one line
and exit code 2, never a traceback.

One class per section, each driven through the CLI in-process with a hostile but realistic
input: the small ``estate`` of conftest (solution Orders, snapshot PRD with one PPK101 error)
plus a deployment settings file, a flow, a file name or a plugin built in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest import RULES, require_validator

from policykit import hookimpl
from policykit.cli import write_atomic
from policykit.errors import (
    InputError,
    PolicyKitError,
    escape_controls,
    jmespath_error_line,
    one_line,
)
from policykit.models import Rule
from policykit.reporters.sarif import fingerprint

R1ALERTS = RULES / "_fixtures" / "solutions" / "R1Alerts"
FORMATS = ("text", "markdown", "sarif", "json")
SUFFIX = {"text": "txt", "markdown": "md", "sarif": "sarif", "json": "jsonl"}

#: What must never reach a terminal or a report raw: C0 controls but LF (TAB included), DEL, C1,
#: bidi controls, line/paragraph separators, lone surrogates.
RAW_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
#: The longest stderr line we accept: "policykit: error: " + one_line's 300 (+ a short suffix).
MAX_ERROR_LINE = 360


# --------------------------------------------------------------------------- helpers


def settings_file(path: Path, *logical_names: str) -> Path:
    """A deployment settings file as pac writes it.  The names go in as JSON source text, so
    ``\\ud800`` stays a JSON escape in the file, as it would in a real (hostile) file."""
    refs = ",\n".join(
        f'    {{"LogicalName": "{name}", "ConnectionId": "",\n'
        f'     "ConnectorId": "/providers/Microsoft.PowerApps/apis/shared_sharepointonline"}}'
        for name in logical_names)
    path.write_text('{\n  "EnvironmentVariables": [],\n  "ConnectionReferences": [\n' + refs + "\n  ]\n}\n",
                    encoding="utf-8")
    return path


def strict_utf8(data: bytes) -> str:
    return data.decode("utf-8", errors="strict")


def strict_json(data: bytes) -> object:
    """Parse like a strict JSON parser: Python's json accepts a lone ``\\ud800`` escape, strict
    parsers (Go's, serde_json, .NET's) reject it, so any surrogate left after parsing fails."""
    value = json.loads(strict_utf8(data))

    def walk(v: object) -> None:
        if isinstance(v, str):
            assert not re.search("[\ud800-\udfff]", v), f"lone surrogate in {v!r}"
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)

    walk(value)
    return value


def json_lines(data: bytes) -> list[dict]:
    return [strict_json(line.encode()) for line in strict_utf8(data).splitlines()]


def assert_no_raw_controls(text: str, what: str = "output") -> None:
    bad = RAW_UNSAFE.search(text)
    assert bad is None, f"raw {bad.group()!r} in {what}: {text[max(bad.start() - 60, 0):bad.end() + 60]!r}"


def assert_clean_stderr(err: str) -> list[str]:
    """One short, escaped line per message; no traceback; returns the error lines."""
    assert "Traceback" not in err
    assert_no_raw_controls(err, "stderr")
    lines = err.splitlines()
    for line in lines:
        assert len(line) <= MAX_ERROR_LINE, line
    return [line for line in lines if line.startswith("policykit: error:")]


def check_report(fmt: str, data: bytes) -> str:
    """The report is valid UTF-8 (strict JSON for sarif and json) with nothing raw in it."""
    text = strict_utf8(data)
    if fmt == "sarif":
        strict_json(data)
    elif fmt == "json":
        json_lines(data)
    else:
        assert_no_raw_controls(text, f"{fmt} report")
    assert not re.search("[\ud800-\udfff]", text)
    return text


def non_utf8(folder: Path, name: bytes) -> Path:
    """A path whose last part holds bytes that are not UTF-8 (Linux allows them); skip where the
    file system refuses such names (macOS, Windows)."""
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + name))
    try:
        path.touch()
        path.unlink()
    except (OSError, UnicodeError):
        pytest.skip("this file system does not accept non-UTF-8 names")
    return path


# --------------------------------------------------------------------------- 1. lone surrogates


@pytest.mark.parametrize("fmt", FORMATS)
def test_lone_surrogate_in_settings_every_format(cli, estate, fmt):
    settings_file(estate / "settings.json", "fxo_OrdersSharePoint", "cr_x\\ud800")
    out = f"report.{SUFFIX[fmt]}"
    run = cli("scan", "--settings", "PRD=settings.json", "--format", fmt, "-o", out, cwd=estate)
    assert run.code == 1, run.err  # PPK101's error; PPK107 notes cr_x\ud800
    assert_clean_stderr(run.err)
    text = check_report(fmt, (estate / out).read_bytes())
    if fmt == "text":
        assert '"cr_x\\ud800"' in text  # escaped, visibly
    elif fmt == "markdown":
        assert "cr\\_x\\\\ud800" in text
    elif fmt == "sarif":
        messages = [r["message"]["text"] for r in json.loads(text)["runs"][0]["results"]]
        assert any("cr_x\ufffd" in m for m in messages), messages
    else:
        assert any(r["key"].endswith("cr_x\ufffd") for r in json_lines(text.encode()))
    # stdout too: same report, no crash on the way out
    run = cli("scan", "--settings", "PRD=settings.json", "--format", fmt, cwd=estate)
    assert run.code == 1 and run.out.strip(), run.err


def test_lone_surrogate_fingerprints_match_between_sarif_and_json(cli, estate):
    settings_file(estate / "settings.json", "cr_x\\ud800", "cr_x\\ud801")
    cli("scan", "--settings", "PRD=settings.json", "--format", "sarif", "-o", "r.sarif", cwd=estate)
    cli("scan", "--settings", "PRD=settings.json", "--format", "json", "-o", "r.jsonl", cwd=estate)
    sarif = strict_json((estate / "r.sarif").read_bytes())
    from_sarif = sorted(r["partialFingerprints"]["policykit/v1"] for r in sarif["runs"][0]["results"])
    from_json = sorted(r["fingerprint"] for r in json_lines((estate / "r.jsonl").read_bytes()))
    assert from_sarif == from_json
    assert len(set(from_json)) == 3  # PPK101 + two PPK107: \ud800 and \ud801 stay distinct


def test_fingerprint_and_write_atomic_accept_lone_surrogates(tmp_path):
    assert fingerprint("PPK107", "cr_x\ud800") != fingerprint("PPK107", "cr_x\ud801")
    # Ordinary keys hash as before (plain UTF-8): baselines survive the change.
    import hashlib
    plain = hashlib.sha256("PPK101\0PRD/Orders/fxo_é".encode()).hexdigest()[:32]
    assert fingerprint("PPK101", "PRD/Orders/fxo_é") == plain
    write_atomic(str(tmp_path / "out.txt"), "cr_x\ud800\n")
    assert (tmp_path / "out.txt").read_bytes() == "cr_x\ufffd\n".encode()


def test_lone_surrogate_and_terminal_escapes_in_a_flow(cli, tmp_path):
    """A flow's connectionName with a lone surrogate, an OSC 8 hyperlink and a bidi override:
    PPK105 quotes it in its message."""
    shutil.copytree(R1ALERTS, tmp_path / "R1Alerts")
    flow = next((tmp_path / "R1Alerts" / "Workflows").glob("Alerts-Escalate-*.json"))
    source = flow.read_text(encoding="utf-8")
    hostile = "shared_sp\\ud800\\u001b]8;;https://evil.example/\\u0007click\\u001b]8;;\\u0007\\u202eexe.fdp"
    assert '"connectionName": "shared_sharepointonline_1"' in source
    flow.write_text(source.replace('"connectionName": "shared_sharepointonline_1"',
                                   f'"connectionName": "{hostile}"'), encoding="utf-8")
    for fmt in FORMATS:
        run = cli("scan", "R1Alerts", "--format", fmt, "--fail-on", "warning", "-o", f"r.{SUFFIX[fmt]}", cwd=tmp_path)
        assert run.code == 1, run.err
        assert_clean_stderr(run.err)
        text = check_report(fmt, (tmp_path / f"r.{SUFFIX[fmt]}").read_bytes())
        if fmt == "text":
            assert "shared_sp\\ud800\\x1b]8;;https://evil.example/\\x07click" in text
            assert "\\u202eexe.fdp" in text


def test_doc_with_lone_surrogate_is_strict_json(cli, estate):
    settings_file(estate / "settings.json", "cr_x\\ud800\\u202e\\u009b31m")
    run = cli("doc", "--settings", "PRD=settings.json", "-o", "doc.json", cwd=estate)
    assert run.code == 0, run.err
    data = (estate / "doc.json").read_bytes()
    assert_no_raw_controls(strict_utf8(data), "doc output")  # C1 and bidi as \u escapes
    doc = strict_json(data)
    names = [r["logical_name"] for r in _settings_refs(doc)]
    assert "cr_x\ufffd\u202e\u009b31m" in names


def _settings_refs(doc: dict) -> list[dict]:
    found: list[dict] = []

    def walk(v: object) -> None:
        if isinstance(v, dict):
            if isinstance(v.get("logical_name"), str):
                found.append(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(doc)
    return found


# --------------------------------------------------------------------------- 2. non-UTF-8 names


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_utf8_file_names(cli, estate, fmt):
    settings = non_utf8(estate, b"deploymentSettings-\xff\xfe.json")
    settings_file(settings, "fxo_Gone")
    report = non_utf8(estate, b"report-\xe9." + SUFFIX[fmt].encode())
    run = cli("scan", "--settings", f"PRD={settings.name}", "--format", fmt, "-o", report.name, cwd=estate)
    assert run.code == 1, run.err
    assert_clean_stderr(run.err)
    text = check_report(fmt, report.read_bytes())
    if fmt == "sarif":
        uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                for r in json.loads(text)["runs"][0]["results"]]
        assert "deploymentSettings-%FF%FE.json" in uris  # the very bytes, percent-encoded
    elif fmt == "text":
        assert "deploymentSettings-\\xff\\xfe.json:" in text


def test_non_utf8_solution_folder_evidence_and_input_failure(cli, estate):
    folder = non_utf8(estate, b"Orders-\xe9")
    (estate / "Orders").rename(folder)
    (estate / "policykit.yaml").unlink()
    broken = non_utf8(estate, b"broken-\xff.json")
    broken.write_text('{"ConnectionReferences": [\n', encoding="utf-8")
    run = cli("scan", folder.name, "--env", "PRD=prd.yaml", "--settings", f"PRD={broken.name}", "--format", "sarif",
              "--evidence", "--reproducible", "-o", "evidence.sarif", cwd=estate)
    assert run.code == 2, run.err
    errors = assert_clean_stderr(run.err)
    assert any("broken-\\xff.json" in e for e in errors), errors
    log = strict_json((estate / "evidence.sarif").read_bytes())
    uris = {a["location"]["uri"] for a in log["runs"][0]["artifacts"]}
    assert "Orders-%E9/Other/Solution.xml" in uris


# --------------------------------------------------------------------------- 3. internal failures


def test_internal_error_is_one_line_exit_2(cli, estate, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyError("connections\n\x1b[2Jforged line")

    monkeypatch.setattr("policykit.cli.scan", crash)
    run = cli("scan", cwd=estate)
    assert run.code == 2
    errors = assert_clean_stderr(run.err)
    assert run.err.count("\n") == 1 and len(errors) == 1
    assert errors[0].startswith("policykit: error: internal error: KeyError: connections\\n\\x1b[2J")
    assert errors[0].endswith("(run with --debug for the trace)")

    for args in (("--debug", "scan"), ("scan", "--debug")):
        run = cli(*args, cwd=estate)
        assert run.code == 2
        assert "Traceback" in run.err and "KeyError" in run.err
        assert run.err.splitlines()[-1].startswith("policykit: error: internal error: KeyError")


def test_keyboard_interrupt_is_130(cli, estate, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("policykit.cli.scan", interrupted)
    assert cli("scan", cwd=estate).code == 130


@pytest.mark.parametrize("query", [
    "(" * 5000 + "solutions" + ")" * 5000,
    "solutions" + "[]" * 20000,
    "!" * 5000 + "solutions",
], ids=["parentheses", "flatten", "not"])
def test_deeply_nested_query_refused(cli, estate, query):
    run = cli("doc", "-q", query, cwd=estate)
    assert run.code == 2
    errors = assert_clean_stderr(run.err)
    assert errors == [errors[0]] and "nested too deeply" in errors[0], run.err
    assert run.out == ""


def test_long_dotted_query_does_not_crash(cli, estate):
    run = cli("doc", "-q", ".".join(["@"] * 100_000) + ".schema_version", cwd=estate)
    assert run.code in (0, 2), run.err
    assert_clean_stderr(run.err)


@pytest.mark.parametrize("query, fragment", [
    ("solutions[", "Incomplete expression (at column 10)"),
    ("solutions[?name == 'x", "Unclosed ' delimiter (at column 19)"),
    ("solutions]]", 'Parse error at column 9, token "]" (RBRACKET)'),
])
def test_jmespath_errors_are_one_line(cli, estate, query, fragment):
    run = cli("doc", "-q", query, cwd=estate)
    assert run.code == 2
    errors = assert_clean_stderr(run.err)
    assert len(run.err.splitlines()) == 1 and fragment in errors[0], run.err
    assert "^" not in run.err


def test_unwritable_output_is_one_line(cli, estate):
    (estate / "report.sarif").mkdir()
    run = cli("scan", "--format", "sarif", "-o", "report.sarif", cwd=estate)
    assert run.code == 2
    errors = assert_clean_stderr(run.err)
    assert any("cannot write report.sarif" in e for e in errors), run.err


# --------------------------------------------------------------------------- 4. one line per error


def test_one_line_escapes_and_cuts():
    assert one_line("a\x1b[31mb\r\nc\td\x00\x9b\u202e\u2066\u200f\u2028z") == \
        "a\\x1b[31mb\\r\\nc\\td\\x00\\x9b\\u202e\\u2066\\u200f\\u2028z"
    assert one_line("bad \ud800 and \udcff") == "bad \\ud800 and \\xff"  # surrogateescape: the byte
    assert one_line("  café ✓ 日本  ") == "café ✓ 日本"
    long = one_line("x" * 299 + "\x1b" + "y" * 50)
    assert len(long) <= 300 and long.endswith("…") and "\\x1" not in long  # never half an escape
    assert one_line("x" * 300) == "x" * 300
    assert len(one_line("é" * 1000, 40)) == 40
    assert one_line(one_line("a\nb\x1b")) == one_line("a\nb\x1b")
    assert escape_controls("line\nnext \x1b]8;;u\x07") == "line\\nnext \\x1b]8;;u\\x07"


def test_errors_format_through_one_line():
    error = InputError("malformed JSON:\nline two \x1b[2J", file="dev/\u202esettings.json", line=3)
    assert str(error) == "dev/\\u202esettings.json:3: malformed JSON:\\nline two \\x1b[2J"
    assert len(str(PolicyKitError("x" * 5000))) <= 300


def test_jmespath_error_line():
    import jmespath
    from jmespath.exceptions import JMESPathError
    with pytest.raises(JMESPathError) as info:
        jmespath.compile("a $ b")
    assert jmespath_error_line(info.value) == "Bad jmespath expression: Unknown token $ (at column 2)"


def hostile_folder(root: Path) -> Path:
    """A folder name with an OSC 8 hyperlink, a CR and a bidi override (all legal on Linux)."""
    folder = root / "dev\x1b]8;;file:evil\x07\r\u202esgnittes"
    try:
        folder.mkdir()
    except OSError:
        pytest.skip("this file system does not accept control characters in names")
    return folder


def test_input_failure_lines_are_escaped_and_short(cli, estate):
    folder = hostile_folder(estate)
    deep = folder / ("d" * 200) / ("e" * 200)
    deep.mkdir(parents=True)
    (deep / "settings.json").write_text('{"ConnectionReferences": [\n  {"LogicalName": "x\x1b[2J"\n',
                                        encoding="utf-8")
    settings = (deep / "settings.json").relative_to(estate)
    for fmt in FORMATS:
        run = cli("scan", "--settings", f"PRD={settings}", "--format", fmt, "-o", f"r.{SUFFIX[fmt]}", cwd=estate)
        assert run.code == 2, run.err
        errors = assert_clean_stderr(run.err)
        assert len(errors) == 1 and "dev\\x1b]8;;file:evil\\x07\\r\\u202esgnittes" in errors[0]
        assert errors[0].endswith("…")  # the path alone is over 400 characters
        text = check_report(fmt, (estate / f"r.{SUFFIX[fmt]}").read_bytes())
        if fmt == "text":
            failed = [line for line in text.splitlines() if line.startswith("INPUT FAILED")]
            assert len(failed) == 1 and len(failed[0]) <= 320
        if fmt == "sarif":
            notes = json.loads(text)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
            failed = [n["message"]["text"] for n in notes if n["level"] == "error"]
            assert len(failed) == 1 and "\n" not in failed[0] and len(failed[0]) <= 301


class _BrokenRulePlugin:
    """A plugin rule whose JMESPath does not compile: jmespath's message spans three lines."""

    @hookimpl
    def policykit_rules(self):
        return [Rule(id="ZZ001", name="broken\x1b[2J", title="broken", severity="warning",
                     query="environments[?name == 'PRD", message="x")]


def test_rule_failure_lines(cli, estate, monkeypatch):
    import policykit.plugins as plugins_module
    original = plugins_module.get_plugin_manager

    def with_broken(extra=(), entry_points=True):
        pm = original(extra, entry_points)
        pm.register(_BrokenRulePlugin(), name="broken")
        return pm

    monkeypatch.setattr(plugins_module, "get_plugin_manager", with_broken)
    monkeypatch.setattr("policykit.scanner.get_plugin_manager", with_broken)
    for fmt in FORMATS:
        run = cli("scan", "--format", fmt, "-o", f"r.{SUFFIX[fmt]}", cwd=estate)
        assert run.code == 2, run.err
        errors = assert_clean_stderr(run.err)
        assert [e for e in errors if "rule ZZ001 failed" in e], run.err
        text = check_report(fmt, (estate / f"r.{SUFFIX[fmt]}").read_bytes())
        if fmt == "text":
            failed = [line for line in text.splitlines() if line.startswith("RULE FAILED")]
            assert len(failed) == 1 and "ZZ001" in failed[0]
        if fmt == "markdown":
            failed = [line for line in text.splitlines() if line.startswith("- **Rule failed**")]
            assert len(failed) == 1 and "Parse error" not in failed[0]


def test_usage_error_is_one_escaped_line(cli, estate, capsys):
    run = cli("scan", "--env", "PRD\x1b]8;;https://evil.example/\x07=nope", cwd=estate)
    assert run.code == 2
    errors = assert_clean_stderr(run.err)
    assert errors == ["policykit: error: --env PRD\\x1b]8;;https://evil.example/\\x07: path not found: nope"]
    with pytest.raises(SystemExit) as exit_info:  # argparse's own errors too
        cli("scan", "--max-file-mb", "1\x1b[2J", cwd=estate)
    assert exit_info.value.code == 2
    errors = assert_clean_stderr(capsys.readouterr().err)
    assert errors == ["policykit: error: argument --max-file-mb: not a whole number: '1\\x1b[2J'"]


# --------------------------------------------------------------------------- 5. human formats


FORGED = "fxo_Gone\\nprd.yaml:1: ERROR PPK101 forged finding\\r\\u001b[2K\\u001b]8;;https://evil.example/\\u0007"


def test_line_feed_in_a_name_cannot_forge_a_finding_line(cli, estate):
    settings_file(estate / "settings.json", FORGED)
    run = cli("scan", "--settings", "PRD=settings.json", cwd=estate)
    assert run.code == 1, run.err
    assert_no_raw_controls(run.out, "text report")
    findings = [line for line in run.out.splitlines() if re.match(r"\S+:\d+: (ERROR|WARNING|NOTE) ", line)]
    assert len(findings) == 2  # PPK101, PPK107: no third, forged line
    assert not any(line.startswith("prd.yaml:1:") for line in run.out.splitlines())
    assert "fxo_Gone\\nprd.yaml:1: ERROR PPK101 forged finding\\r\\x1b[2K\\x1b]8;;https://evil.example/\\x07" in run.out


def test_markdown_escapes_controls_and_keeps_markdown_escaping(cli, estate):
    settings_file(estate / "settings.json", FORGED + "|`<b>@admins\\u202e")
    run = cli("scan", "--settings", "PRD=settings.json", "--format", "markdown", cwd=estate)
    assert run.code == 1, run.err
    assert_no_raw_controls(run.out, "markdown report")
    row = next(line for line in run.out.splitlines() if line.startswith("| :information_source:"))
    assert row.count(" | ") == 4  # the pipe did not add a cell
    assert "\\\\x1b\\[2K" in row and "\\|\\`\\<b\\>@\u200badmins\\\\u202e" in row
    assert "<br>prd.yaml:1: ERROR PPK101 forged" in row  # the line feed renders as a break


def test_json_formats_stay_json_escaped(cli, estate):
    settings_file(estate / "settings.json", FORGED)
    run = cli("scan", "--settings", "PRD=settings.json", "--format", "json", cwd=estate)
    keys = [r["key"] for r in json_lines(run.out.encode())]
    assert any(k.endswith("fxo_Gone\nprd.yaml:1: ERROR PPK101 forged finding\r\x1b[2K\x1b]8;;https://evil.example/\x07")
               for k in keys)
    assert len(run.out.splitlines()) == 2


# --------------------------------------------------------------------------- validator


@pytest.mark.skipif(sys.platform != "linux", reason="non-UTF-8 file names")
def test_hostile_sarif_passes_microsofts_validator(cli, estate, tmp_path):
    require_validator()
    import sarif_validator
    settings = non_utf8(estate, b"deploymentSettings-\xff.json")
    settings_file(settings, "cr_x\\ud800", FORGED)
    run = cli("scan", "--settings", f"PRD={settings.name}", "--format", "sarif", "-o", "hostile.sarif", cwd=estate)
    assert run.code == 1, run.err
    strict_json((estate / "hostile.sarif").read_bytes())
    findings = sarif_validator.validate(estate / "hostile.sarif", "Sarif")
    bad = sarif_validator.failures(findings, "Sarif")
    assert not bad, sarif_validator.describe(bad)
