"""Legacy flow export packages (maker portal "Export → Package (.zip)"): not solutions.

Layout: ``manifest.json`` (resources by id, with display names and types) and, per flow,
``Microsoft.Flow/flows/<id>/definition.json``. Their flows live outside any solution, so they
carry no connection references at all: the rules about connection references apply to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..parsing import parse_json
from ..reading import Limits
from .files import ZipTree
from .flows import analyse_flow


def is_package(tree: ZipTree) -> bool:
    return tree.find("manifest.json") is not None and tree.find("solution.xml") is None


def load_package(tree: ZipTree) -> dict[str, Any]:
    """Read a legacy export package already opened as a zip."""
    manifest_name = tree.find("manifest.json") or "manifest.json"
    src = tree.source(manifest_name)
    manifest = parse_json(tree.read(manifest_name), file=src["file"], entry=src.get("entry"))
    if not isinstance(manifest.value, dict) or not isinstance(manifest.value.get("resources"), dict):
        raise InputError("manifest.json has no 'resources' object: not an export package",
                         file=src["file"], entry=src.get("entry"), line=1)
    details = manifest.value.get("details") if isinstance(manifest.value.get("details"), dict) else {}
    name = Path(tree.display).name
    flows = []
    for res_id, res in sorted(manifest.value["resources"].items()):
        if not isinstance(res, dict) or res.get("type") != "Microsoft.Flow/flows":
            continue
        definition = tree.find(f"Microsoft.Flow/flows/{res_id}/definition.json")
        res_details = res.get("details") if isinstance(res.get("details"), dict) else {}
        flow: dict[str, Any] = {
            "id": res_id.lower(), "name": res_details.get("displayName") or res_id, "category": 5,
            "state": None, "status": None, "json_file": definition, "definition_source": None, "package": name,
            "metadata_source": tree.source(manifest_name, manifest.line_of(res, 1)),
            "source": tree.source(manifest_name, manifest.line_of(res, 1)),
        }
        if definition:
            dsrc = tree.source(definition, 1)
            parsed = parse_json(tree.read(definition), file=dsrc["file"], entry=dsrc.get("entry"))
            flow["definition_source"] = dsrc
            flow.update(analyse_flow(parsed, dsrc))
        else:
            flow.update(connection_references=[], connection_reference_entries=[], connectors=[], triggers=[],
                        actions=[], unbound_connections=[], uses_http=False, parameters=[])
        flows.append(flow)
    return {"form": "legacy-package", "key": name, "name": name,
            "display_name": details.get("displayName") or name, "path": tree.display,
            "flows": flows, "source": tree.source(manifest_name, 1)}


def open_package(path: Path, display: str, limits: Limits | None = None) -> dict[str, Any]:
    return load_package(ZipTree(path, display, limits))
