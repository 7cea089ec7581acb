"""Benchmarks: report numbers, assert nothing (tests never assert on wall-clock time).

    .venv/bin/python bench/bench_scan.py            # synthetic estates of growing size + the corpus
    .venv/bin/python bench/bench_scan.py --corpus ../shared/corpus

The synthetic part builds the normalized document and runs every built-in rule for estates of
10, 100 and 1000 solutions (each with 5 connection references and 3 flows) in 3 environments with
one connection and one technical user per reference: time per solution should stay flat, since
the joins are dictionary lookups, not nested scans.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from policykit.document import EnvironmentInput, build_document
from policykit.engine import functions_class, run_rules
from policykit.plugins import get_plugin_manager
from policykit.policy import load_policy
from policykit.scanner import Estate, discover_solutions, scan

SRC = {"file": "bench", "line": 1}


def _solution(i: int) -> dict:
    refs = [{"logical_name": f"s{i}_ref{j}", "display_name": f"Solution {i} ref {j}",
             "connector_id": "/providers/Microsoft.PowerApps/apis/shared_sharepointonline",
             "connector": "shared_sharepointonline", "custom_connector_id": None, "description": None,
             "source": SRC} for j in range(5)]
    flows = [{"id": f"{i:08x}-0000-4000-8000-{j:012x}", "name": f"Flow {i}.{j}", "category": 5, "state": 1,
              "status": 2, "json_file": None, "definition_source": None, "metadata_source": SRC, "source": SRC,
              "connection_references": [f"s{i}_ref{j}"], "connection_reference_entries": [],
              "connectors": ["shared_sharepointonline", "shared_commondataserviceforapps"], "triggers": [],
              "actions": [], "unbound_connections": [], "uses_http": False, "parameters": []} for j in range(3)]
    return {"unique_name": f"Solution{i}", "display_name": f"Solution {i}", "version": "1.0.0.0", "managed": 0,
            "form": "zip", "publisher": {"unique_name": "bench", "prefix": "s"}, "root_components": [],
            "connection_references": refs, "roles": [], "flows": flows, "canvas_apps": [], "app_modules": [],
            "entities": [], "environment_variables": [], "source": SRC, "path": f"Solution{i}.zip"}


def _environment(name: str, solutions: list[dict]) -> EnvironmentInput:
    users, connections, bindings, workflows = [], [], [], []
    for s in solutions:
        for ref in s["connection_references"]:
            upn = f"techuser_{ref['logical_name']}_{name}@contoso.com"
            users.append({"id": upn, "upn": upn, "display_name": upn, "enabled": True, "user_type": "Member",
                          "licenses": [{"sku_id": "6fd2c87f-b296-42f0-b197-1e91e994b900", "disabled_plans": []}],
                          "source": SRC})
            connections.append({"id": f"conn-{ref['logical_name']}", "connector": "shared_sharepointonline",
                                "display_name": None, "account": upn, "created_by": {}, "status": "Connected",
                                "parameter_set": None, "created_time": None, "source": SRC})
            bindings.append({"logical_name": ref["logical_name"], "connection_id": f"conn-{ref['logical_name']}",
                             "source": SRC})
        workflows += [{"id": f["id"], "name": f["name"], "owner_id": None, "state": 1, "source": SRC}
                      for f in s["flows"]]
    raw = {"format": "snapshot", "id": None, "display_name": name, "type": "Production", "url": None,
           "source": SRC, "available": ["connection_references", "connections", "graph_users", "workflows"],
           "systemusers": [], "teams": [], "roles": [], "graph_users": users, "skus": [],
           "connections": connections, "connection_references": bindings, "workflows": workflows,
           "process_licenses": []}
    return EnvironmentInput(name=name, raw=raw)


def synthetic(sizes: list[int]) -> None:
    policy = load_policy()
    pm = get_plugin_manager(entry_points=False)
    rules = sorted((r for rs in pm.hook.policykit_rules() for r in rs), key=lambda r: r.id)
    functions = functions_class(pm.hook.policykit_jmespath_functions())
    print(f"{'solutions':>9} {'references':>10} {'build s':>8} {'rules s':>8} {'µs/reference':>13} findings")
    for n in sizes:
        solutions = [_solution(i) for i in range(n)]
        envs = [_environment(e, solutions) for e in ("DEV", "TST", "PRD")]
        started = time.perf_counter()
        document = build_document(solutions, envs, policy)
        built = time.perf_counter()
        findings, failures, _ = run_rules(document, rules, policy, functions)
        done = time.perf_counter()
        refs = n * 5 * len(envs)
        print(f"{n:>9} {refs:>10} {built - started:>8.3f} {done - built:>8.3f} "
              f"{(done - started) / refs * 1e6:>13.1f} {len(findings)}{' FAILURES' if failures else ''}")


def corpus(path: Path) -> None:
    started = time.perf_counter()
    result = scan(Estate(name="corpus", solutions=discover_solutions(path)), entry_points=False)
    print(f"corpus: {len(result.files_read)} files, {len(result.findings)} findings, "
          f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus")
    args = parser.parse_args()
    synthetic(args.sizes)
    if args.corpus.is_dir():
        corpus(args.corpus)
