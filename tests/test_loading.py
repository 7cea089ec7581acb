"""Loading on two cores gives what one process gives: the same document, failures in the same
order, the same record of files read, and one shared copy of each tenant-wide Graph list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS

from policykit import loading
from policykit.scanner import build, load_estate

GEN_ESTATE = CORPUS.parent / "tools" / "gen_estate.py"
pytestmark = pytest.mark.skipif(not GEN_ESTATE.is_file(), reason=f"{GEN_ESTATE} not found")


@pytest.fixture(scope="module")
def estate(tmp_path_factory) -> Path:
    """30 solutions, 4 environments (export folders with Graph users), settings files; one
    solution zip broken, so that a failure has to come back in its place."""
    folder = tmp_path_factory.mktemp("estate") / "e"
    subprocess.run([sys.executable, str(GEN_ESTATE), str(folder), "--solutions", "30", "--envs", "4",
                    "--users", "400", "--seed", "3"], check=True, capture_output=True)
    broken = sorted((folder / "solutions").glob("*.zip"))[7]
    broken.write_bytes(b"PK\x03\x04 not a zip")
    return folder


def built(folder: Path, monkeypatch, parallel: bool):
    monkeypatch.chdir(folder)
    monkeypatch.setattr(loading, "MIN_PARALLEL_INPUTS", 2 if parallel else 10**9)
    return build(load_estate(Path("policykit.yaml")), entry_points=False)


def same(a, b) -> None:
    assert json.dumps(a.document, sort_keys=True, default=str) == json.dumps(b.document, sort_keys=True, default=str)
    assert a.input_failures == b.input_failures and a.input_failures  # the broken zip, in its place
    assert a.inputs == b.inputs
    assert a.files_read == b.files_read and list(a.files_read) == list(b.files_read)


def test_two_processes_load_what_one_loads(estate, monkeypatch):
    one = built(estate, monkeypatch, parallel=False)
    two = built(estate, monkeypatch, parallel=True)
    same(one, two)
    envs = two.document["environments"]
    assert len(envs) == 4 and len(two.inputs) >= loading.MIN_PARALLEL_INPUTS


def child_does_everything(monkeypatch) -> None:
    """This process claims no job: the forked child loads them all."""
    parent, real = os.getpid(), loading._claim
    monkeypatch.setattr(loading, "_claim", lambda counter: 10**9 if os.getpid() == parent else real(counter))


def test_what_the_child_loads_is_what_this_process_loads(estate, monkeypatch):
    one = built(estate, monkeypatch, parallel=False)
    child_does_everything(monkeypatch)
    same(one, built(estate, monkeypatch, parallel=True))


def test_tenant_wide_lists_stay_one_copy(estate, monkeypatch):
    """The child sends where Graph's users.json is, not its rows: every environment holds the one list."""
    child_does_everything(monkeypatch)
    seen: list[dict] = []
    real = loading.attach_tenant_data
    monkeypatch.setattr(loading, "attach_tenant_data", lambda raw: seen.append(real(raw)) or seen[-1])
    built(estate, monkeypatch, parallel=True)
    assert seen, "the child loaded no environment"
    lists = {id(raw["graph_users"]) for raw in seen}
    assert len(seen) == 4 and len(lists) == 1 and seen[0]["graph_users"]


def test_a_child_that_dies_leaves_nothing_out(estate, monkeypatch):
    one = built(estate, monkeypatch, parallel=False)

    def dies(load, jobs, counter, conn):
        loading._claim(counter)  # takes a job and never sends it
        os._exit(1)
    monkeypatch.setattr(loading, "_child", dies)
    same(one, built(estate, monkeypatch, parallel=True))


def test_a_tenant_file_changed_under_the_scan_is_loaded_again(estate, tmp_path, monkeypatch):
    """Between the child's read and this process's, users.json of one folder became unreadable:
    that environment is loaded again here, and its failure reported like any input's."""
    copy = tmp_path / "copy"
    shutil.copytree(estate, copy)
    target = sorted((copy / "environments").glob("ENV*"))[0] / "users.json"
    real = loading.attach_tenant_data

    def breaks_first(raw):
        if target.exists():
            target.write_text("{ not json", encoding="utf-8")
        return real(raw)
    monkeypatch.setattr(loading, "attach_tenant_data", breaks_first)
    child_does_everything(monkeypatch)
    two = built(copy, monkeypatch, parallel=True)
    assert any(f.file.endswith("users.json") for f in two.input_failures), two.input_failures
