"""Benchmark of ``policykit collect`` against a local fake tenant: report numbers, assert nothing.

    .venv/bin/python bench/bench_collect.py                                       # 50 envs, 20,000 users, 300 roles
    .venv/bin/python bench/bench_collect.py --envs 3 --users 2000 --roles 30      # a quick run
    .venv/bin/python bench/bench_collect.py --latency 0 --out /tmp/collected      # keep what was collected

It generates in memory a tenant of ``--envs`` environments, each with ``--systemusers`` Dataverse users
(people from Graph, application users, with roles and teams), ``--roles`` security roles of about 50
privileges each, teams, connections, connection references and cloud flows shaped like
examples/lunch-order, and one tenant-wide Graph directory of ``--users`` users (the same
``users.json`` in every environment, as Graph is tenant-wide). It serves them with
tests/fakes/power_platform.py ``FakeTenant`` on 127.0.0.1 (``--latency`` seconds per request, pages
of up to ``--page-size`` rows) and runs the collector as a subprocess:

    POLICYKIT_ACCESS_TOKEN=test-token .venv/bin/policykit collect --all --out OUT \\
        --endpoint bap=URL --endpoint powerapps=URL --endpoint graph=URL

(with the working tree first on ``PYTHONPATH``, so that it measures this checkout's code) and
then reports the requests the fake received (per API and status), the wall time, the collector's
peak RSS and the size of OUT. Privilege lists are shared between environments (as privilege ids are
the same in every Dataverse organization) so that the bench's own memory stays small. When the
installed ``policykit`` has no ``collect`` command yet, it says so and exits 0.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.power_platform import FakeTenant

TEMPLATE = REPO / "examples" / "lunch-order" / "environments" / "dev"
TENANT_ID = "79e52435-ab0e-4046-8f6e-48654e63bae4"
DOMAIN = "contoso.com"
FIRST = ["Megan", "Alex", "Adele", "Diego", "Grady", "Henrietta", "Isaiah", "Johanna", "Joni", "Lee", "Lidia",
         "Lynne", "Miriam", "Nestor", "Patti", "Pradeep", "Irvin", "Christie", "Enrico", "Allan"]
LAST = ["Bowen", "Wilber", "Vance", "Siciliani", "Archie", "Gonzalez", "Langer", "Lauer", "Sherman", "Gu",
        "Holloway", "Valdez", "Graham", "Wilke", "Fernandez", "Gupta", "Sayers", "Cline", "Ciccone", "Deyoung"]
CONNECTORS = ["shared_sharepointonline", "shared_commondataserviceforapps", "shared_office365",
              "shared_wordonlinebusiness", "shared_teams", "shared_office365users", "shared_sql", "shared_approvals"]
VERBS = ["Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share"]
DEPTHS = ["Basic", "Local", "Deep", "Global"]
CONNECTIONS, TEAMS, WORKFLOWS, APP_USERS = 40, 15, 60, 12


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _record_id(rng: random.Random) -> str:
    """A Dataverse record id: sequential GUIDs end in the server's MAC-like suffix."""
    return f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-ef11-{rng.getrandbits(16):04x}-000d3a{rng.getrandbits(24):06x}"


def _etag(rng: random.Random) -> str:
    return f'W/"{rng.randrange(1_000_000, 9_999_999)}"'


def _read(name: str) -> dict:
    return json.loads((TEMPLATE / name).read_text(encoding="utf-8"))


# -- the tenant-wide Graph directory --------------------------------------------------------------

def graph_users(count: int, rng: random.Random, skus: dict) -> dict:
    sku_ids = [s["skuId"] for s in skus["value"]]
    plans = [p["servicePlanId"] for p in skus["value"][0]["servicePlans"]]
    users = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        guest = rng.random() < 0.05
        upn = (f"{first.lower()}.{last.lower()}{i}_fabrikam.com#EXT#@contoso.onmicrosoft.com" if guest
               else f"{first.lower()}.{last.lower()}{i}@{DOMAIN}")
        licenses = []
        if not guest and rng.random() < 0.85:
            disabled = rng.sample(plans, 1) if rng.random() < 0.1 else []
            licenses.append({"disabledPlans": disabled, "skuId": sku_ids[0]})
        if not guest and rng.random() < 0.05:
            licenses.append({"disabledPlans": [], "skuId": sku_ids[-1]})
        users.append({"id": _guid(rng), "userPrincipalName": upn, "displayName": f"{first} {last}",
                      "accountEnabled": rng.random() < 0.97, "userType": "Guest" if guest else "Member",
                      "assignedLicenses": licenses})
    return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,displayName,"
                              "accountEnabled,userType,assignedLicenses)", "value": users}


def privilege_lists(roles: int, rng: random.Random, business_unit: str) -> list[list[dict]]:
    """One privilege list per role position, shared by every environment."""
    entities = [f"cr123_entity{n}" for n in range(40)] + ["account", "contact", "systemuser", "workflow"]
    lists = []
    for _ in range(roles):
        names = rng.sample([f"prv{v}{e}" for v in VERBS for e in entities], rng.randint(40, 60))
        lists.append([{"Depth": rng.choice(DEPTHS), "PrivilegeId": _guid(rng), "BusinessUnitId": business_unit,
                       "PrivilegeName": name} for name in names])
    return lists


# -- one environment ------------------------------------------------------------------------------

class _Env:
    """What the generators of one environment share: ids, URLs, the rows already made."""

    def __init__(self, index: int, rng: random.Random, template: dict) -> None:
        self.index, self.rng = index, rng
        self.id = _guid(rng)
        self.host = f"https://contoso-bench{index:02d}.crm4.dynamics.com"
        self.business_unit = _record_id(rng)
        self.bu_name = f"contosobench{index:02d}"
        self.template = template

    def context(self, entity_set: str, fields: str) -> str:
        return f"{self.host}/api/data/v9.2/$metadata#{entity_set}({fields})"


def _environment_json(env: _Env) -> dict:
    body = copy.deepcopy(env.template)
    body["id"] = f"/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{env.id}"
    body["name"] = env.id
    props = body["properties"]
    props["displayName"] = f"Contoso Bench {env.index:02d}"
    props["environmentSku"] = ["Production", "Sandbox", "Developer", "Trial"][env.index % 4]
    props["isDefault"] = env.index == 0
    props["linkedEnvironmentMetadata"].update({
        "resourceId": _guid(env.rng), "friendlyName": props["displayName"], "domainName": f"contoso-bench{env.index:02d}",
        "uniqueName": f"unq{env.id.replace('-', '')[:28]}", "instanceUrl": env.host + "/",
        "instanceApiUrl": env.host.replace(".crm4.", ".api.crm4.")})
    return body


def _roles(env: _Env, count: int, templates: list[dict]) -> dict:
    rows = []
    for j in range(count):
        system = templates[j] if j < len(templates) else None
        role_id = _record_id(env.rng)
        rows.append({"@odata.etag": _etag(env.rng), "roleid": role_id,
                     "name": system["name"] if system else f"Bench role {j:03d}",
                     "_roletemplateid_value": system["_roletemplateid_value"] if system else None,
                     "_parentrootroleid_value": role_id, "ismanaged": bool(system),
                     "_businessunitid_value": env.business_unit})
    return {"@odata.context": env.context("roles", "roleid,name,_roletemplateid_value,_parentrootroleid_value,"
                                                   "ismanaged,_businessunitid_value"), "value": rows}


def _role_refs(env: _Env, roles: list[dict], count: int) -> list[dict]:
    return [{"@odata.etag": _etag(env.rng), "roleid": r["roleid"], "name": r["name"],
             "_roletemplateid_value": r["_roletemplateid_value"]} for r in env.rng.sample(roles, count)]


def _teams(env: _Env, roles: list[dict]) -> dict:
    rows = [{"@odata.etag": _etag(env.rng), "teamid": _record_id(env.rng), "name": env.bu_name if t == 0 else f"Team {t}",
             "teamtype@OData.Community.Display.V1.FormattedValue": "Owner" if t < 10 else "AAD Security Group",
             "teamtype": 0 if t < 10 else 2, "teamroles_association": _role_refs(env, roles, env.rng.randint(0, 2))}
            for t in range(TEAMS)]
    return {"@odata.context": env.context("teams", "teamid,name,teamtype,teamroles_association(roleid,name,"
                                                   "_roletemplateid_value)"), "value": rows}


def _systemuser(env: _Env, person: dict | None, roles: list[dict], teams: list[dict]) -> dict:
    rng = env.rng
    app = person is None
    object_id = _guid(rng) if app else person["id"]
    name = f"crm-{object_id.replace('-', '')}@contoso.onmicrosoft.com" if app else person["userPrincipalName"]
    member_of = rng.sample(teams, rng.randint(0, 2))
    return {"@odata.etag": _etag(rng), "systemuserid": _record_id(rng),
            "fullname": f"# Bench App {rng.randrange(1000)}" if app else person["displayName"],
            "domainname": name, "internalemailaddress": name, "applicationid": _guid(rng) if app else None,
            "azureactivedirectoryobjectid": object_id,
            "accessmode@OData.Community.Display.V1.FormattedValue": "Non-interactive" if app else "Read-Write",
            "accessmode": 4 if app else 0, "azurestate@OData.Community.Display.V1.FormattedValue": "Exists",
            "azurestate": 0, "isdisabled@OData.Community.Display.V1.FormattedValue": "Enabled", "isdisabled": False,
            "_businessunitid_value@OData.Community.Display.V1.FormattedValue": env.bu_name,
            "_businessunitid_value": env.business_unit,
            "systemuserroles_association": _role_refs(env, roles, rng.randint(1, 3)),
            "teammembership_association": [{"@odata.etag": t["@odata.etag"], "teamid": t["teamid"], "name": t["name"]}
                                           for t in member_of]}


def _systemusers(env: _Env, count: int, people: list[dict], roles: list[dict], teams: list[dict]) -> dict:
    chosen = env.rng.sample(people, min(count - APP_USERS, len(people)))
    rows = [_systemuser(env, p, roles, teams) for p in chosen] + [
        _systemuser(env, None, roles, teams) for _ in range(APP_USERS)]
    fields = ("systemuserid,fullname,domainname,internalemailaddress,applicationid,azureactivedirectoryobjectid,"
              "accessmode,azurestate,isdisabled,_businessunitid_value,systemuserroles_association(roleid,name,"
              "_roletemplateid_value),teammembership_association(teamid,name)")
    return {"@odata.context": env.context("systemusers", fields), "value": rows}


def _applicationusers(env: _Env, systemusers: list[dict]) -> dict:
    rows = [{"@odata.etag": _etag(env.rng), "applicationid": u["applicationid"], "applicationname": u["fullname"][2:],
             "applicationtype": 2, "applicationtype@OData.Community.Display.V1.FormattedValue": "External",
             "_userid_value": u["systemuserid"], "applicationuserid": _record_id(env.rng)}
            for u in systemusers if u["applicationid"]]
    return {"@odata.context": env.context("applicationusers", "applicationid,applicationname,applicationtype,"
                                                              "_userid_value"), "value": rows}


def _connection(env: _Env, owner: dict, connector: str) -> dict:
    name = f"shared-{connector[7:20]}-{_guid(env.rng)}"
    upn = owner["domainname"]
    created = {"id": owner["azureactivedirectoryobjectid"], "displayName": owner["fullname"], "email": upn,
               "type": "User", "tenantId": TENANT_ID, "userPrincipalName": upn}
    return {"name": name, "id": f"/providers/Microsoft.PowerApps/apis/{connector}/connections/{name}",
            "type": "Microsoft.PowerApps/apis/connections",
            "properties": {"apiId": f"/providers/Microsoft.PowerApps/apis/{connector}", "displayName": upn,
                           "iconUri": f"https://connectoricons-prod.azureedge.net/{connector}/icon.png",
                           "statuses": [{"status": "Connected" if env.rng.random() < 0.9 else "Error"}],
                           "connectionParameters": {}, "keywordsRemaining": 0, "createdBy": created,
                           "createdTime": "2025-01-20T13:06:02.7719355Z",
                           "lastModifiedTime": "2025-01-20T13:06:02.7719355Z",
                           "environment": {"id": f"/providers/Microsoft.PowerApps/environments/{env.id}", "name": env.id},
                           "accountName": upn, "allowSharing": False}}


def _bindings(env: _Env, connections: list[dict], owners: list[dict]) -> tuple[dict, dict]:
    refs, flows = [], []
    for n, connection in enumerate(connections):
        refs.append({"@odata.etag": _etag(env.rng), "connectionreferenceid": _guid(env.rng),
                     "connectionreferencelogicalname": f"cr123_Bench{n:03d}", "connectionreferencedisplayname":
                     f"Bench {n:03d}", "connectorid": connection["properties"]["apiId"],
                     "connectionid": connection["name"],
                     "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "systemuser",
                     "_ownerid_value": env.rng.choice(owners)["systemuserid"],
                     "statecode@OData.Community.Display.V1.FormattedValue": "Active", "statecode": 0})
    for n in range(WORKFLOWS):
        owner = env.rng.choice(owners)["systemuserid"]
        active = env.rng.random() < 0.8
        flows.append({"@odata.etag": _etag(env.rng), "workflowid": _record_id(env.rng),
                      "workflowidunique": _guid(env.rng), "name": f"Bench flow {n:03d}",
                      "statecode@OData.Community.Display.V1.FormattedValue": "Activated" if active else "Draft",
                      "statecode": int(active),
                      "statuscode@OData.Community.Display.V1.FormattedValue": "Activated" if active else "Draft",
                      "statuscode": 2 if active else 1,
                      "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "systemuser", "_ownerid_value": owner,
                      "_createdby_value": owner, "ismanaged": False})
    ref_fields = ("connectionreferenceid,connectionreferencelogicalname,connectionreferencedisplayname,connectorid,"
                  "connectionid,_ownerid_value,statecode")
    flow_fields = "workflowid,workflowidunique,name,statecode,statuscode,_ownerid_value,_createdby_value,ismanaged"
    return ({"@odata.context": env.context("connectionreferences", ref_fields), "value": refs},
            {"@odata.context": env.context("workflows", flow_fields), "value": flows})


def environment(env: _Env, args: argparse.Namespace, shared: dict) -> dict:
    """The export files of one environment, as ``{filename: parsed JSON}``."""
    roles = _roles(env, args.roles, shared["role_templates"])
    teams = _teams(env, roles["value"])
    systemusers = _systemusers(env, args.systemusers, shared["users"]["value"], roles["value"], teams["value"])
    people = [u for u in systemusers["value"] if not u["applicationid"]]
    connections = [_connection(env, env.rng.choice(people), env.rng.choice(CONNECTORS)) for _ in range(CONNECTIONS)]
    references, workflows = _bindings(env, connections, people)
    files = {"environment.json": _environment_json(env), "roles.json": roles, "teams.json": teams,
             "systemusers.json": systemusers, "applicationusers.json": _applicationusers(env, systemusers["value"]),
             "connections.json": {"value": connections}, "connectionreferences.json": references,
             "workflows.json": workflows, "users.json": shared["users"], "subscribedSkus.json": shared["skus"]}
    context = f"{env.host}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRoleResponse"
    for role, privileges in zip(roles["value"], shared["privileges"]):
        files[f"roleprivileges/{role['roleid']}.json"] = {"@odata.context": context, "RolePrivileges": privileges}
    return files


def tenant_files(args: argparse.Namespace) -> dict[str, dict]:
    rng = random.Random(args.seed)
    skus = _read("subscribedSkus.json")
    template_roles = [r for r in _read("roles.json")["value"] if r["_roletemplateid_value"]]
    shared = {"skus": skus, "users": graph_users(args.users, rng, skus), "role_templates": template_roles,
              "privileges": privilege_lists(args.roles, rng, _record_id(rng))}
    template = _read("environment.json")
    return {f"bench{i:02d}": environment(_Env(i, rng, template), args, shared) for i in range(args.envs)}


# -- running the collector ------------------------------------------------------------------------

def _policykit() -> list[str]:
    script = Path(sys.executable).parent / "policykit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "policykit"]


def _child_env(token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                # the working tree's policykit, even where the virtualenv holds an older non-editable copy
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
    if token:
        env["POLICYKIT_ACCESS_TOKEN"] = token
    return env


def collect_available() -> str | None:
    """None when ``policykit collect`` exists, else why not."""
    probe = subprocess.run([*_policykit(), "collect", "--help"], env=_child_env(""), capture_output=True, text=True,
                           check=False)
    if probe.returncode == 0:
        return None
    lines = (probe.stderr or probe.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {probe.returncode}"


def _tree_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _minimum_requests(args: argparse.Namespace) -> int:
    """Requests a collector needs at the least: one per page, Graph fetched once for the tenant."""
    pages = math.ceil
    per_env = 1 + sum(pages(n / args.page_size) for n in (args.systemusers, APP_USERS, TEAMS, args.roles,
                                                         CONNECTIONS, WORKFLOWS)) + args.roles
    return pages(args.envs / args.page_size) + args.envs * per_env + pages(args.users / min(999, args.page_size)) + 1


def report(tenant: FakeTenant, args: argparse.Namespace, run: subprocess.CompletedProcess, wall: float,
           out: Path) -> None:
    by_api = Counter(r["path"].split("/")[1] for r in tenant.requests)
    statuses = Counter(r["status"] for r in tenant.requests)
    graph_users_pages = sum(1 for r in tenant.requests if r["path"].lower().endswith("/v1.0/users"))
    files, size = _tree_size(out) if out.exists() else (0, 0)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(f"collector exit status {run.returncode} in {wall:.1f} s wall")
    if run.returncode:
        print("collector stderr (last lines):\n  " + "\n  ".join((run.stderr or "").strip().splitlines()[-10:]))
    print(f"requests: {len(tenant.requests)} (the least a collector needs: about {_minimum_requests(args)}) — "
          + ", ".join(f"{api} {n}" for api, n in sorted(by_api.items())))
    print(f"statuses: {dict(sorted(statuses.items(), key=lambda kv: str(kv[0])))}; Graph /users requests: "
          f"{graph_users_pages} (one tenant-wide fetch is {math.ceil(args.users / min(999, args.page_size))})")
    print(f"at {args.latency * 1000:.0f} ms a request, one at a time that is {len(tenant.requests) * args.latency:.1f} s;"
          f" the run took {wall:.1f} s, i.e. about {len(tenant.requests) * args.latency / max(wall, 1e-9):.1f} "
          "requests in flight on average (every API of the fake is one host, 127.0.0.1:PORT: a per-host limit "
          "applies to all of them together, where each Dataverse organization is its own host in production)")
    print(f"collector peak RSS: {peak:.0f} MiB; bench process (fake + data): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"OUT: {files} files, {size / 2**20:.1f} MiB in {out}{'' if args.out else ' (removed)'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=50)
    parser.add_argument("--users", type=int, default=20_000, help="Graph users in the tenant")
    parser.add_argument("--roles", type=int, default=300, help="security roles per environment")
    parser.add_argument("--systemusers", type=int, default=300, help="Dataverse users per environment")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake waits on each request")
    parser.add_argument("--page-size", type=int, default=5000, help="the fake's largest page")
    parser.add_argument("--out", type=Path, help="where the collector writes (kept); default a temporary folder")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before the collector is stopped")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    missing = collect_available()
    if missing:
        print(f"policykit collect is not available yet ({missing}): nothing to measure.")
        return 0
    started = time.perf_counter()
    environments = tenant_files(args)
    print(f"generated {args.envs} environments × {args.roles} roles, {args.systemusers} Dataverse users each, "
          f"{args.users} Graph users in {time.perf_counter() - started:.1f} s")
    workdir = None if args.out else Path(tempfile.mkdtemp(prefix="bench-collect-"))
    out = args.out or workdir / "out"
    try:
        with FakeTenant(environments, page_size=args.page_size, latency=args.latency) as tenant:
            command = [*_policykit(), "collect", "--all", "--out", str(out), "--endpoint", f"bap={tenant.bap}",
                       "--endpoint", f"powerapps={tenant.powerapps}", "--endpoint", f"graph={tenant.graph}"]
            started = time.perf_counter()
            run = subprocess.run(command, env=_child_env(tenant.token), capture_output=True, text=True,
                                 timeout=args.timeout, check=False)
            report(tenant, args, run, time.perf_counter() - started, out)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
