"""The public corpus loads exactly: every solution and settings file, field by field against
the ground truth in MANIFEST.json. Corpus location: $POLICYKIT_CORPUS, default ../shared/corpus."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import CORPUS, MANIFEST, corpus_estate, needs_corpus

from policykit.loaders.solution import load_solution
from policykit.scanner import Estate, build, display_path

pytestmark = needs_corpus


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def corpus_document():
    estate = corpus_estate()
    built = build(estate, entry_points=False)
    # The loaders' output for every file, copies included: the scan keeps one copy of each
    # solution version (test_copies_are_scanned_once), the ground truth lists them all.
    loaded = [load_solution(p, display_path(p)) for p in estate.solutions]
    return built.document, built.input_failures, built.inputs, loaded


def _facts(solution: dict) -> dict:
    """The normalized solution in MANIFEST.json's vocabulary."""
    flows = [f for f in solution["flows"] if f["category"] == 5]
    return {
        "unique_name": solution["unique_name"],
        "version": solution["version"],
        "managed": solution["managed"],
        "publisher_prefix": solution["publisher"]["prefix"],
        "connection_references": sorted(r["logical_name"] for r in solution["connection_references"]),
        "roles": sorted(
            ({"name": r["name"], "privileges": len(r["privileges"]),
              "levels": dict(sorted(Counter(p["level"] for p in r["privileges"]).items()))}
             for r in solution["roles"]), key=lambda r: (r["name"], r["privileges"])),
        "cloud_flows": len(flows),
        "cloud_flow_connection_reference_uses": sorted({n for f in flows for n in f["connection_references"]}),
        "flows_with_unbound_connection": sum(
            1 for f in flows if any(e["logical_name"] is None for e in f["connection_reference_entries"])),
        "canvas_apps": len(solution["canvas_apps"]),
        "environment_variables": sorted(v["schema_name"] for v in solution["environment_variables"]),
        "secret_type_environment_variables": sorted(
            v["schema_name"] for v in solution["environment_variables"] if v["is_secret_type"]),
    }


def _expected(entry: dict) -> dict:
    exp = {k: entry[k] for k in ("unique_name", "version", "managed", "publisher_prefix", "cloud_flows",
                                 "flows_with_unbound_connection", "canvas_apps")}
    for k in ("connection_references", "cloud_flow_connection_reference_uses", "environment_variables",
              "secret_type_environment_variables"):
        exp[k] = sorted(entry[k])
    exp["roles"] = sorted(({"name": r["name"], "privileges": r["privileges"],
                            "levels": dict(sorted(r["levels"].items()))} for r in entry["roles"]),
                          key=lambda r: (r["name"], r["privileges"]))
    return exp


def _diff(path: str, got: dict, expected: dict) -> list[str]:
    lines = []
    for key in expected:
        if got.get(key) != expected[key]:
            lines.append(f"{path}: {key}\n    expected {expected[key]!r}\n    got      {got.get(key)!r}")
    return lines


def test_every_input_loads(corpus_document):
    _document, failures, _inputs, _loaded = corpus_document
    assert not failures, "\n".join(f"{f.file}:{f.entry}:{f.line}: {f.message}" for f in failures)


def test_solutions_match_manifest_field_by_field(corpus_document, manifest):
    *_, loaded = corpus_document
    by_path = {}
    for solution in loaded:
        by_path[solution["path"]] = solution
    problems = []
    for entry in manifest["solutions"] + manifest["extracted_solutions"]:
        solution = next((s for p, s in by_path.items() if p.endswith(entry["path"])), None)
        if solution is None:
            problems.append(f"{entry['path']}: not loaded")
            continue
        assert solution["form"] == entry["form"], entry["path"]
        problems += _diff(entry["path"], _facts(solution), _expected(entry))
    assert not problems, "\n".join(problems)


def test_totals(corpus_document, manifest):
    *_, loaded = corpus_document
    totals = manifest["totals"]
    entries = [s for s in loaded if not any(
        s["path"].endswith(e["path"]) for e in manifest["extracted_solutions"])]
    privileges = [p for s in entries for r in s["roles"] for p in r["privileges"]]
    assert len(entries) == totals["solutions"]
    assert sum(1 for s in entries if s["form"] == "zip") == totals["solution_zips"]
    assert sum(1 for s in entries if s["form"] == "unpacked") == totals["unpacked_roots"]
    assert len(privileges) == totals["privileges"]
    assert dict(Counter(p["level"] for p in privileges)) == totals["privilege_levels"]
    assert sum(len(s["roles"]) for s in entries) == totals["roles"]


def test_copies_are_scanned_once(corpus_document):
    """The corpus holds zip + unpacked pairs of one solution version: the document keeps the first
    of each, and a notice names every copy left out. Different versions stay apart."""
    document, _failures, _inputs, loaded = corpus_document
    versions = Counter((s["unique_name"].lower(), s["version"]) for s in loaded)
    kept = Counter((s["unique_name"].lower(), s["version"]) for s in document["solutions"])
    assert set(kept) == set(versions) and set(kept.values()) == {1}
    copies = sum(versions.values()) - len(versions)
    assert copies > 0  # the corpus has such pairs: the test must see some
    notes = [n for n in document["notices"] if "is a copy of" in n["message"]]
    assert len(notes) == copies
    for note in notes:
        assert note["source"]["file"] and " is scanned once: " in note["message"]


def test_deployment_settings_match_manifest(corpus_document, manifest):
    document, *_ = corpus_document
    problems = []
    for i, entry in enumerate(manifest["deployment_settings"]):
        settings = next(s for s in document["settings"] if s["environment"] == f"S{i}")
        refs = settings["connection_references"]
        got = {
            "connection_references": len(refs),
            "connection_references_with_connection_id": sum(1 for r in refs if r["connection_id"]),
            "connection_ids_that_are_placeholders": sum(1 for r in refs if r["is_placeholder"]),
            "environment_variables": len(settings["environment_variables"]),
        }
        problems += _diff(entry["path"], got, {k: entry[k] for k in got})
    assert not problems, "\n".join(problems)


def test_legacy_packages_load_as_flows_outside_solutions(manifest):
    legacy = [CORPUS / e["path"] for e in manifest["non_solution_packages"] if "legacy" in e["kind"]]
    built = build(Estate(solutions=legacy), entry_points=False)
    document = built.document
    assert not built.input_failures
    assert len(document["packages"]) == len(legacy)
    flows = [f for p in document["packages"] for f in p["flows"]]
    assert flows and all(f["solution"] is None for f in flows)
    # No flow of a legacy package can use a connection reference: every connection bypasses them.
    assert all(not f["connection_references"] for f in flows)
    assert sum(1 for f in flows if f["unbound_connections"]) >= 4


def test_whole_corpus_scan_has_no_rule_errors(cli):
    run = cli("scan", CORPUS, "--fail-on", "never", "--format", "text")
    assert run.code == 0, run.err
    assert "0 rule failures; 0 input failures" in run.out


def test_pac_solution_clone_layout_is_read_through_its_cdsproj():
    """`pac solution clone` puts a .cdsproj beside the tree it names in <SolutionRootPath>."""
    projects = sorted(CORPUS.rglob("*.cdsproj"))
    assert projects
    for project in projects:
        via_project = build(Estate(solutions=[project.parent]), entry_points=False)
        assert not via_project.input_failures, via_project.input_failures
        (solution,) = via_project.document["solutions"]
        assert solution["form"] in ("unpacked", "extracted") and solution["unique_name"]
