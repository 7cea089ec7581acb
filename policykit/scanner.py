"""From an estate (a ``policykit.yaml`` or paths on the command line) to a :class:`ScanResult`."""

from __future__ import annotations

import datetime as _dt
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import clock
from .document import EnvironmentInput, build_document
from .document.notices import Notices
from .engine import functions_class, run_rules
from .errors import InputError, PolicyError
from .heap import collector_paused
from .inventory import configuration_of, inventory_of
from .loaders.environment_export import share_parses
from .loading import Job, load_inputs
from .models import InputFailure, Notice, Rule, ScanResult, Source
from .parsing import parse_yaml
from .plugins import all_packs, get_plugin_manager, rules_of
from .policy import Policy, load_policy
from .policy_check import check_policy_environments, check_policy_rules
from .reading import Limits, read_file, record_reads, use_limits
from .rulepack import RulePack
from .schema import check
from .waivers import WARN_EXPIRY_DAYS, Ledger


def display_path(path: Path) -> str:
    """The path relative to the working directory (the repository root in CI), posix style.

    Paths outside it keep a relative form (``../shared/corpus/x.zip``): SARIF wants relative
    references, and an absolute path would leak the runner's layout into the report.
    """
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        try:
            return Path(os.path.relpath(resolved, Path.cwd().resolve())).as_posix()
        except ValueError:  # another drive on Windows
            return resolved.as_posix()


@dataclass
class EnvironmentSpec:
    name: str
    metadata: Path | None = None
    settings: list[Path] = field(default_factory=list)
    solutions: list[str] | None = None
    source: dict | None = None


@dataclass
class Estate:
    """What to scan: solutions, environments, and the policy."""

    name: str = "estate"
    solutions: list[Path] = field(default_factory=list)
    environments: list[EnvironmentSpec] = field(default_factory=list)
    policy: Path | None = None
    file: str | None = None          # the estate file as displayed
    path: Path | None = None         # ... and on disk
    limits: Limits = field(default_factory=Limits)
    # Local rule pack folders the estate file names: (path, as displayed, {file, line}).
    rule_packs: list[tuple[Path, str, dict]] = field(default_factory=list)


# --------------------------------------------------------------------------- estate file

def _str_or_list(value: Any) -> str | None:
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return None
    return "must be a path or a list of paths"


ESTATE_SPEC = {
    "name": str,
    "policy": str,
    "rule_packs": [str],
    "solutions": [str],
    "environments": ("map", {"metadata": str, "settings": _str_or_list, "solutions": [str]}),
}


def _estate_path(base: Path, rel: str, display: str, key: str, line: int | None,
                 not_found: str | None = None) -> Path:
    """``base / rel``, which must exist; every problem names the estate file's key and line
    (an empty path would name the estate's folder)."""
    if not rel.strip():
        raise PolicyError(f"{key}: empty path", file=display, line=line)
    target = base / rel
    try:
        exists = target.exists()
    except OSError as exc:
        raise PolicyError(f"{key}: cannot read path ({exc.strerror or 'input/output error'}): {rel}",
                          file=display, line=line) from None
    if not exists:
        raise PolicyError(f"{not_found or key + ': path not found'}: {rel}", file=display, line=line)
    return target


def load_estate(path: Path) -> Estate:
    """Read ``policykit.yaml``; paths inside are relative to the file."""
    display = display_path(path)
    parsed = parse_yaml(read_file(path, display), file=display)
    raw = parsed.value if parsed.value is not None else {}
    check(parsed, raw, ESTATE_SPEC, display)
    base = path.parent

    def resolve(rel: str, where: dict, key: str) -> Path:
        return _estate_path(base, rel, display, key, parsed.key_line(where, key))

    estate = Estate(name=raw.get("name") or path.resolve().parent.name, file=display, path=path)
    if "policy" in raw:
        estate.policy = resolve(raw["policy"], raw, "policy")
        if estate.policy.is_dir():
            raise PolicyError(f"policy: {raw['policy']} is a folder, not a policy file", file=display,
                              line=parsed.key_line(raw, "policy"))
    packs = raw.get("rule_packs") or []
    for i, rel in enumerate(packs):
        line = parsed.item_line(packs, i) or parsed.key_line(raw, "rule_packs")
        folder = _estate_path(base, rel, display, f"rule_packs[{i}]", line, not_found="rule pack folder not found")
        shown = Path(display).parent / rel
        estate.rule_packs.append((folder, shown.as_posix(), {"file": display, "line": line or 1}))
    first = parsed.line_of(raw.get("solutions"))
    for i, rel in enumerate(raw.get("solutions") or []):
        line = first + i if first else parsed.key_line(raw, "solutions")
        target = _estate_path(base, rel, display, "solutions", line, not_found="solution not found")
        estate.solutions += discover_solutions(target)
    for name, spec in (raw.get("environments") or {}).items():
        spec = spec or {}
        settings = spec.get("settings") or []
        env = EnvironmentSpec(
            name=name,
            metadata=resolve(spec["metadata"], spec, "metadata") if "metadata" in spec else None,
            settings=[resolve(s, spec, "settings") for s in ([settings] if isinstance(settings, str) else settings)],
            solutions=spec.get("solutions"),
            source={"file": display, "line": parsed.key_line(raw["environments"], name) or 1},
        )
        estate.environments.append(env)
    return estate


def _is_solution_dir(path: Path) -> bool:
    return ((path / "Other" / "Solution.xml").is_file() or any(path.glob("*.cdsproj"))
            or ((path / "solution.xml").is_file() and (path / "customizations.xml").is_file()))


def _is_solution_zip(path: Path) -> bool:
    """A solution zip or a legacy export package (manifest.json at the root). Whatever is wrong
    with a zip (a link, a bad name, corrupt data) is left to the loader, which reports it the way
    it does for a zip named directly."""
    if path.is_symlink():
        return True
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.replace("\\", "/").lower() in ("solution.xml", "manifest.json") for n in zf.namelist())
    except Exception:  # noqa: BLE001 -- any zip library error: the loader reports it cleanly
        return True


def _walk_error(exc: OSError) -> None:
    shown = display_path(Path(exc.filename)) if exc.filename else None
    raise InputError(f"cannot list folder: {exc.strerror or exc}", file=shown)


def discover_solutions(path: Path) -> list[Path]:
    """A solution itself, or every solution found below a folder that is not one.

    A link met while searching is returned as an input, so that the loader refuses it with its
    path (links are never followed, nor skipped in silence)."""
    try:
        if path.is_symlink() or path.is_file() or _is_solution_dir(path):
            return [path]
    except OSError as exc:
        raise InputError(f"cannot read path: {exc.strerror or exc}", file=display_path(path)) from None
    found: list[Path] = []
    for root, dirs, files in os.walk(path, onerror=_walk_error):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
        if here != path and _is_solution_dir(here):
            found.append(here)
            dirs[:] = []
            continue
        links = [d for d in dirs if (here / d).is_symlink()]  # os.walk lists them but never enters
        found += [here / d for d in links]
        dirs[:] = [d for d in dirs if d not in links]
        found += [here / f for f in sorted(files) if f.lower().endswith(".zip") and _is_solution_zip(here / f)]
    return found


# --------------------------------------------------------------------------- running

def _load(pm, path: Path, kind: str, failures: list[InputFailure], inputs: list[str]) -> Any:
    display = display_path(path)
    inputs.append(display)
    try:
        result = pm.hook.policykit_load_input(path=path, display=display, kind=kind)
        if result is None:
            raise InputError(f"no loader accepts this {kind}", file=display)
        return result
    except InputError as exc:
        failures.append(InputFailure(exc.message, file=exc.file or display, line=exc.line, entry=exc.entry))
    except RecursionError:
        failures.append(InputFailure("input nested too deeply", file=display))
    except OSError as exc:  # a name too long, a folder that cannot be listed, ...
        shown = display_path(Path(exc.filename)) if isinstance(exc.filename, str) else display
        failures.append(InputFailure(f"file system error: {exc.strerror or 'input/output error'}", file=shown))
    except Exception as exc:  # noqa: BLE001 -- a loader bug must not hide the other inputs
        failures.append(InputFailure(f"internal error while reading this {kind}: {_first_line(exc)}",
                                     file=display))
    return None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without Python reprs (``<ZipInfo ...>``)."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    if not text or "<" in text or len(text) > 200:
        return "no details (please report this as a PolicyKit bug)"
    return text


def _once(solutions: Iterable[dict], notices: Notices) -> list[dict]:
    """Each solution version once: a zip and an unpacked copy of the same solution (same unique
    name and version) would report every finding twice. The first in the estate's order is kept;
    two versions of one solution are two solutions."""
    kept: dict[tuple[str, str], dict] = {}
    for sol in solutions:
        ident = (sol["unique_name"].lower(), sol.get("version") or "")
        first = kept.setdefault(ident, sol)
        if first is not sol:
            notices.add(f"solution {sol['unique_name']} {sol.get('version') or ''} is scanned once: "
                        f"{sol.get('path')} is a copy of {first.get('path')}, which is the one reported",
                        sol.get("source"))
    return list(kept.values())


@dataclass
class Built:
    """A loaded estate, ready for the rules: the document and what it was built with."""

    document: dict[str, Any]
    policy: Policy
    rules: list[Rule]                    # every rule the plugins contribute, sorted by id
    functions: type                      # the JMESPath functions class rules run with
    input_failures: list[InputFailure]
    inputs: list[str]                    # the inputs the estate names
    files_read: dict[str, str]           # every file read → SHA-256
    packs: list[RulePack] = field(default_factory=list)   # where the rules came from


def build(estate: Estate, plugins: list[str] | tuple[str, ...] = (), entry_points: bool = True) -> Built:
    """Load every input (recording failures and going on) and build the document."""
    use_limits(estate.limits)
    pm = get_plugin_manager(plugins, entry_points)
    files_read = record_reads()
    share_parses()
    if estate.path is not None:
        read_file(estate.path, display_path(estate.path))  # recorded: the evidence names the estate file
    policy = load_policy(estate.policy, display_path(estate.policy) if estate.policy else None)
    packs = all_packs(pm, [*policy.rule_packs, *estate.rule_packs])
    rules = rules_of(packs)
    check_policy_rules(policy, rules)
    jobs = [Job(p, "solution") for p in estate.solutions]
    for spec in estate.environments:
        jobs += [Job(spec.metadata, "environment")] if spec.metadata else []
        jobs += [Job(p, "settings") for p in spec.settings]
    results = load_inputs(lambda path, kind, failed: _load(pm, path, kind, failed, []), jobs)
    inputs = [display_path(job.path) for job in jobs]
    failures: list[InputFailure] = []
    for result in results:  # in the estate's order, as one process would have met them
        failures += result.failures
        files_read.update(result.files_read)
    done = [result.result for result in results]
    loaded = [s for s in done[:len(estate.solutions)] if s]
    packages = [s for s in loaded if s.get("form") == "legacy-package"]
    notices = Notices()
    solutions = _once([s for s in loaded if s.get("form") != "legacy-package"], notices)
    envs = []
    rest = iter(done[len(estate.solutions):])
    for spec in estate.environments:
        raw = next(rest) if spec.metadata else None
        settings = [s for s in (next(rest) for _ in spec.settings) if s]
        envs.append(EnvironmentInput(name=spec.name, raw=raw, settings=settings, solutions=spec.solutions,
                                     source=spec.source))
    document = build_document(solutions, envs, policy, estate_name=estate.name, packages=packages,
                              notices=notices)
    check_policy_environments(policy, document["environments"])
    pm.hook.policykit_enrich_document(document=document, policy=policy)
    functions = functions_class(pm.hook.policykit_jmespath_functions())
    return Built(document, policy, rules, functions, failures, inputs, dict(files_read), packs)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scan(estate: Estate, plugins: list[str] | tuple[str, ...] = (), entry_points: bool = True,
         today: _dt.date | None = None, inventory: bool = False, warn_expiry_days: int = WARN_EXPIRY_DAYS,
         evidence: bool = False) -> ScanResult:
    """Scan an estate and return every finding (waived ones marked), failures and skips; with
    ``inventory``, also the identity inventory and graph the HTML and markdown reports show (a
    second pass over every environment's users: only when a report shows it).

    Waivers are judged on ``today`` (default: :func:`policykit.clock.today`), and each declared waiver gets a
    state (expired, stale, expiring within ``warn_expiry_days``, active). With ``evidence``, the
    result also records what an auditor needs (:func:`policykit.evidence.facts`)."""
    started = _now()
    today = today or clock.today()
    with collector_paused():
        built = build(estate, plugins, entry_points)
        policy = built.policy
        enabled = [r for r in built.rules if policy.settings_for(r.id, r.name).enabled]
        ledger = Ledger(policy.waivers, today)
        findings, rule_failures, skipped = run_rules(built.document, enabled, policy, built.functions, today, ledger)
    names = {**{r.name: r.id for r in built.rules}, **{r.id: r.id for r in built.rules}}
    waivers = ledger.states(names, {r.id for r in enabled}, {f.rule_id for f in rule_failures}, warn_expiry_days)
    notices = sorted((Notice(n["message"], Source.from_dict(n.get("source")))
                      for n in built.document.get("notices") or []), key=Notice.sort_key)
    return ScanResult(rules=enabled, findings=findings, rule_failures=rule_failures,
                      input_failures=built.input_failures, skipped=skipped, notices=notices, inputs=built.inputs,
                      estate_name=estate.name, files_read=built.files_read, policy_files=policy.files,
                      estate_file=estate.file, started_at=started, ended_at=_now(),
                      inventory=inventory_of(built.document) if inventory else {},
                      configuration=configuration_of(policy, built.rules, built.document),
                      waivers=waivers, today=today.isoformat(), warn_expiry_days=warn_expiry_days,
                      evidence=_evidence(estate, built) if evidence else {})


def _evidence(estate: Estate, built: Built) -> dict[str, Any]:
    from .evidence import facts
    return facts(estate, built)

