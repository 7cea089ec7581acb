"""Which packs a command works on: the loaded ones, or the folders named on the command line.

A folder is either a *Python pack* (a ``pyproject.toml`` declaring an entry point in the group
``policykit``: its module is imported from the folder, installed or not) or a *local pack* (rule
folders holding ``rule.yaml``, or one rule folder).
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError
from .plugins import ENTRY_POINT_GROUP, all_packs, get_plugin_manager
from .rulepack import RulePack

__all__ = ["Selection", "entry_point_modules", "select_packs"]

_SECTION = re.compile(r"^\s*\[\s*project\.entry-points\.\"?" + ENTRY_POINT_GROUP + r"\"?\s*\]\s*$")
_ENTRY = re.compile(r"""^\s*["']?[A-Za-z0-9_.-]+["']?\s*=\s*["']([A-Za-z0-9_.]+)(?::[A-Za-z0-9_.]+)?["']""")


def entry_point_modules(pyproject: Path) -> list[str]:
    """The modules a ``pyproject.toml`` declares in ``[project.entry-points.policykit]``."""
    modules, inside = [], False
    for line in pyproject.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("["):
            inside = bool(_SECTION.match(line))
            continue
        match = _ENTRY.match(line) if inside else None
        if match:
            modules.append(match.group(1))
    return modules


@dataclass
class Selection:
    """The packs to work on, and how to load them again in each fixture's scan."""

    packs: list[RulePack]
    plugins: list[str] = field(default_factory=list)
    local: list[tuple[Path, str, dict | None]] = field(default_factory=list)


def _import_from(folder: Path, modules: list[str]) -> None:
    for root in (folder / "src", folder):
        if root.is_dir() and str(root.resolve()) not in sys.path:
            sys.path.insert(0, str(root.resolve()))
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"cannot import the pack's module {name!r} from {folder}: {exc}") from None


def _tree_digest(folder: Path) -> str:
    """One digest of every file under ``folder`` (relative names and bytes), to tell whether two
    copies of a rules folder hold the same rules."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _is_builtin_folder(folder: Path) -> bool:
    """``folder`` is the built-in rules: the installed ones, or the ``rules/`` of a PolicyKit
    source checkout (``pip install .`` copies them into the wheel, so a checkout's folder and the
    installed pack are two copies of one pack). A checkout whose rules differ from the installed
    ones is named: validating the installed copy would check what the user did not write."""
    from .builtin import builtin_rules_dir
    installed = builtin_rules_dir().resolve()
    resolved = folder.resolve()
    if resolved == installed:
        return True
    checkout = resolved.parent
    if not (resolved.name == "rules" and (checkout / "policykit" / "builtin.py").is_file() and (checkout / "pyproject.toml").is_file()
            and "policykit.builtin" in entry_point_modules(checkout / "pyproject.toml")):
        return False
    if _tree_digest(resolved) != _tree_digest(installed):
        raise UsageError(f"{folder} holds PolicyKit's built-in rules, but not the ones installed in this "
                         f"environment ({installed}): reinstall PolicyKit from the checkout "
                         f"(pip install {checkout}) to test or validate them")
    return True


def _classify(folders: list[str]) -> tuple[list[str], list[tuple[Path, str, dict | None]], list[str]]:
    """(plugin modules, local folders, module roots) of the named folders; the built-in rules
    folder stands for the built-in pack (root ``policykit``)."""
    plugins: list[str] = []
    local: list[tuple[Path, str, dict | None]] = []
    roots: list[str] = []
    for text in folders:
        folder = Path(text)
        if not folder.is_dir():
            raise UsageError(f"pack folder not found: {text}")
        if _is_builtin_folder(folder):
            roots.append("policykit")
            continue
        if (folder / "rule.yaml").is_file() and _is_builtin_folder(folder.resolve().parent):
            # One rule of the built-in pack, named by its folder: the pack is loaded as a whole
            # (a second copy of the rule would clash with it), and --rule picks the one wanted.
            rule_id = folder.resolve().name.split("-", 1)[0]
            raise UsageError(f"{text} is one rule of PolicyKit's built-in pack: name the pack's folder "
                             f"({folder.resolve().parent.name}/) instead; 'policykit test' picks the rule "
                             f"with --rule {rule_id}")
        pyproject = folder / "pyproject.toml"
        modules = entry_point_modules(pyproject) if pyproject.is_file() else []
        if modules:
            _import_from(folder, modules)
            plugins += modules
        else:
            local.append((folder, text.rstrip("/") or ".", None))
    return plugins, local, roots + [m.split(".")[0] for m in plugins]


def select_packs(folders: list[str], plugins: list[str], entry_points: bool,
                 local: list[tuple[Path, str, dict | None]] = ()) -> Selection:
    """The packs in ``folders``, or, with none, every loaded pack (``local``: the folders the
    policy or estate file names)."""
    named_plugins, named_local, roots = _classify(folders)
    pm = get_plugin_manager([*plugins, *named_plugins], entry_points)
    loaded = all_packs(pm, [*local, *named_local])
    if not folders:
        return Selection(loaded, [*plugins], [*local])
    wanted_dirs = {p.resolve() for p, _, _ in named_local}
    chosen = [p for p in loaded if (p.folder is not None and p.folder.resolve() in wanted_dirs)
              or (p.module is not None and p.module.split(".")[0] in roots)]
    return Selection(chosen, [*plugins, *named_plugins], [*local, *named_local])
