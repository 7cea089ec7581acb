"""The Power Platform's vocabulary, in one place: how ids are written, what privilege depths,
role templates, connector api names and pipeline placeholders look like, and which identities
are Microsoft's own. Loaders, the document builder and rules all read it from here.

Facts and sources: ``shared/reference/power-platform.md`` (§4 roles, §7 identities).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# --------------------------------------------------------------------------- ids

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def norm_guid(value: Any) -> str | None:
    """Lower case, surrounding whitespace and braces stripped; ``None`` for a non-string or empty.

    Microsoft APIs return the same GUID upper or lower case, with or without braces
    (``{9A9D35EF-...}`` in solution XML, ``9a9d35ef-...`` from the Web API): every loader stores
    the normalized form so that joins are plain string equality.
    """
    if not isinstance(value, str):
        return None
    text = value.strip().strip("{}").strip().lower()
    return text or None


def is_guid(value: object) -> bool:
    """True for a string that is a GUID once normalized (``{ABC...}`` counts)."""
    return isinstance(value, str) and _GUID.fullmatch(norm_guid(value) or "") is not None


def norm_ref(value: str) -> str:
    """A reference that may be a GUID or a name: GUIDs normalized, names kept as written."""
    if is_guid(value):
        return norm_guid(value) or ""
    return value.strip()


# --------------------------------------------------------------------------- connectors

def api_name(api_id: Any) -> str | None:
    """``/providers/Microsoft.PowerApps/apis/shared_sharepointonline`` → ``shared_sharepointonline``.

    Lower case: the platform treats connector names case-insensitively, and so do the joins.
    """
    if not isinstance(api_id, str) or not api_id.strip():
        return None
    return api_id.strip().rstrip("/").rsplit("/", 1)[-1].lower() or None


API_PREFIX = "/providers/Microsoft.PowerApps/apis/"

# --------------------------------------------------------------------------- privileges

#: Privilege depth by level name, in increasing reach (an absent privilege is "None").
DEPTHS = {"None": 0, "Basic": 1, "Local": 2, "Deep": 3, "Global": 4}
#: Level names by the Web API ``PrivilegeDepth`` number (4 RecordFilter is not a depth we judge).
DEPTH_BY_NUMBER = ("Basic", "Local", "Deep", "Global")
#: The accesses a table privilege grants: ``prv<Access><Table>``.
ACCESSES = ("Create", "Read", "Write", "Delete", "AppendTo", "Append", "Assign", "Share")
_PRV = re.compile(r"^prv(" + "|".join(ACCESSES) + r")(.+)$")


def privilege_depth(value: Any) -> str | None:
    """``"Global"`` or ``3`` → ``"Global"``; None for anything else (``"RecordFilter"``, 4, ...)."""
    if type(value) is int and 0 <= value < len(DEPTH_BY_NUMBER):
        return DEPTH_BY_NUMBER[value]
    if isinstance(value, str):
        for name in DEPTH_BY_NUMBER:
            if name.lower() == value.strip().lower():
                return name
    return None


@lru_cache(maxsize=1 << 16)  # every environment's roles name the same few thousand privileges
def parse_privilege(name: str) -> tuple[str | None, str | None]:
    """``prvReadcr123_order`` → (``Read``, ``cr123_order``); miscellaneous ones → (None, None)."""
    m = _PRV.match(name)
    if not m:
        return None, None
    return m.group(1), m.group(2).lower()


# --------------------------------------------------------------------------- placeholders

#: Tokens a release pipeline replaces at deployment time: not values, not secrets.
PLACEHOLDER = re.compile(r"^\s*(#\{[^}]+\}#|@@[^@]+@@|\$\([^)]+\)|\{\{[^}]+\}\}|__[A-Za-z0-9_.]+__)\s*$")


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(PLACEHOLDER.match(value))


# --------------------------------------------------------------------------- roles

#: Role templates by id, named as an environment names the role built from each. Role ids differ
#: per business unit and environment; template ids do not. Source: Microsoft Learn, "Security roles
#: and templates" (learn.microsoft.com/power-apps/developer/data-platform/security-roles), which
#: lists these 17 as "standard role template GUIDs that exist in all environments"; the first five
#: are also in power-platform.md §4. The page names them by constant (BizMgr, VPSales, SalesRep...);
#: the names here are the roles' names in an environment (as in the role metadata of a Dynamics 365
#: environment that delegateas/XrmMockup generates: CEO-Business Manager, Vice President of Sales...).
ROLE_TEMPLATES = {
    "627090ff-40a3-4053-8790-584edc5be201": "System Administrator",
    "119f245c-3cc8-4b62-b31c-d1a046ced15d": "System Customizer",
    "236750cd-45ae-4939-ab12-b24b920ced93": "Basic User",
    "2d101bb3-5ced-4122-83f1-94d5efde4e3b": "Support User",
    "d892cc0b-28c7-4e88-bd92-72f2c366baed": "Delegate",
    "85937b6b-91a1-46ed-9778-929fc9f61812": "CEO-Business Manager",
    "29123793-6ae5-4955-9f1a-f10ceb9705f1": "Vice President of Sales",
    "c0ed2f4f-6f92-4691-92ba-78f2931e8fba": "Sales Manager",
    "a4be89ff-7c35-4d69-9900-999c3f603e6f": "Salesperson",
    "ecfd0b44-5720-45e3-ae68-417ddb0fb654": "Customer Service Representative",
    "1808b939-dd07-4ca7-aa99-ddd2734378f1": "CSR Manager",
    "09a25608-d28b-4d47-b57c-79271fe6a525": "Marketing Professional",
    "debec338-bca7-4882-ae04-84e6ddda2984": "Schedule Manager",
    "6caba073-59a8-4d6b-8e7b-4ccb50c5166b": "Vice President of Marketing",
    "d9d602db-2761-4170-877f-983494567c08": "Marketing Manager",
    "dcd60b89-421c-44ae-bff0-dd6323df885c": "Scheduler",
    "b4b40b17-cf37-4ea8-b2c5-b580f2f48654": "Knowledge Manager",
}
#: The templates of the platform's own roles, which every Dataverse environment has whatever
#: apps are installed (power-platform.md §4); the others come with Dynamics 365 apps.
PLATFORM_ROLE_TEMPLATES = frozenset({
    "627090ff-40a3-4053-8790-584edc5be201",   # System Administrator
    "119f245c-3cc8-4b62-b31c-d1a046ced15d",   # System Customizer
    "236750cd-45ae-4939-ab12-b24b920ced93",   # Basic User
    "2d101bb3-5ced-4122-83f1-94d5efde4e3b",   # Support User
    "d892cc0b-28c7-4e88-bd92-72f2c366baed",   # Delegate
})
#: Names a template's role has had besides its current one: Basic User was "Common Data Service
#: User" (Microsoft Learn, "Role-based security roles", power-platform/admin/database-security).
ROLE_TEMPLATE_ALIASES = {"Common Data Service User": "236750cd-45ae-4939-ab12-b24b920ced93"}
#: Template id by role name, casefolded: for inputs that name roles (snapshots).
ROLE_TEMPLATE_BY_NAME = {name.casefold(): template for template, name in
                         [*ROLE_TEMPLATES.items(), *((t, n) for n, t in ROLE_TEMPLATE_ALIASES.items())]}
#: Environment Maker has no template; its root role id is the same in every environment.
ENVIRONMENT_MAKER_ROOT = "d58407f2-48d5-e711-a82c-000d3a37c848"
#: Predefined roles without a documented template, known by name only (Microsoft Learn,
#: "Role-based security roles": App Opener, Environment Maker, Office Collaborator, and the
#: service roles that "can't be assigned to a user or team").
NAME_ONLY_BUILTINS = frozenset({"App Opener", "Environment Maker", "Office Collaborator",
                                "Service Deleted", "Service Reader", "Service Writer"})


def builtin_role(template_id: str | None, role_id: str | None, root_id: str | None, name: str) -> str | None:
    """The Microsoft role a role is, or None for a customer's role.

    A role with a template is Microsoft's: customers cannot create role templates, so a template
    missing from :data:`ROLE_TEMPLATES` (a Dynamics 365 app's) still names a Microsoft role, called
    by its own name. Without one: Environment Maker by its constant root role id, the predefined
    roles of :data:`NAME_ONLY_BUILTINS` by name.
    """
    if template_id:
        return ROLE_TEMPLATES.get(template_id) or name or template_id
    if ENVIRONMENT_MAKER_ROOT in (role_id, root_id):
        return "Environment Maker"
    return name if name in NAME_ONLY_BUILTINS else None


#: Dataverse system tables that are organization-owned, by the table part of their privilege names
#: (``prvRead<Table>``, lower case, as :func:`parse_privilege` returns it). Such a table's
#: privileges only have Global depth: "Some tables are owned by the organization. These access
#: levels can only be Global or None" (Microsoft Learn, "Security concepts for developers",
#: power-apps/developer/data-platform/security-concepts). Each is ``OwnershipType:
#: OrganizationOwned`` in its Microsoft Learn table reference
#: (power-apps/developer/data-platform/reference/entities/<logical name>). Privilege names follow
#: the table's schema name, which differs from the logical name for views (savedquery →
#: ``prvReadQuery``) and system charts (savedqueryvisualization → ``prvReadSavedQueryVisualizations``):
#: Microsoft Learn lists ``prvReadQuery`` for "View" (troubleshoot KB 4563997, Dynamics 365 App for
#: Outlook privileges). Left out on purpose: user-owned system tables (workflow, canvasapp,
#: connector, connectionreference, environmentvariabledefinition, customapi, callbackregistration),
#: business-owned ones (role, team, businessunit, usersettings) and tables with ownership "None"
#: (entity, entitykey, uom), whose depths Microsoft does not document. Policies extend the list
#: with the ``organization_owned_tables`` parameter of PPK302 and PPK303; scanned solutions add
#: the tables they declare ``<OwnershipTypeMask>OrgOwned</OwnershipTypeMask>``.
ORGANIZATION_OWNED_TABLES = frozenset({
    # customization: views, forms, charts, web resources, site maps, apps, themes
    "query",                                # savedquery (View)
    "systemform",                           # systemform (System Form)
    "savedqueryvisualizations",             # savedqueryvisualization (System Chart)
    "webresource",
    "sitemap",
    "appmodule",                            # Model-driven App
    "appconfigmaster",
    "complexcontrol",                       # Process Configuration
    "theme",
    "mobileofflineprofile",
    # solutions
    "solution",
    "publisher",
    # plug-ins and service endpoints
    "pluginassembly",
    "plugintype",
    "sdkmessage",
    "sdkmessagefilter",
    "sdkmessageprocessingstep",
    "sdkmessageprocessingstepimage",
    "sdkmessageprocessingstepsecureconfig",
    "serviceendpoint",
    # business process flows shipped with Dataverse
    "newprocess",
    "translationprocess",
    "expiredprocess",                       # reference page: organizationid, no owner
    # organization and reference data
    "organization",
    "transactioncurrency",                  # Currency
    "subject",
    "uomschedule",                          # Unit Group
    "product",
    "pricelevel",                           # Price List
})


# --------------------------------------------------------------------------- Microsoft's own identities

#: Microsoft's own system and application users sign in from these bare domains, which no customer
#: account can have (a customer's are ``contoso.com`` or ``contoso.onmicrosoft.com``).
MICROSOFT_DOMAINS = frozenset({"microsoft.com", "onmicrosoft.com"})
#: ``applicationuser.applicationtype``: 0 first party, 1 platform (Microsoft's), 2 external (a customer's).
MICROSOFT_APPLICATION_TYPES = frozenset({0, 1})
#: Well-known first-party application ids of the services that create users in every environment.
MICROSOFT_APPLICATION_IDS = frozenset({
    "00000007-0000-0000-c000-000000000000",   # Dataverse (Dynamics CRM)
    "475226c6-020e-4fb2-8a90-7a972cbfc1d4",   # PowerApps Service
    "7df0a125-d3be-4c96-aa54-591f83ff541c",   # Microsoft Flow Service
    "00000003-0000-0000-c000-000000000000",   # Microsoft Graph
    "00000002-0000-0ff1-ce00-000000000000",   # Office 365 Exchange Online
    "00000003-0000-0ff1-ce00-000000000000",   # Office 365 SharePoint Online
})
# Microsoft's reserved first-party ids: 0000000X-0000-0000-c000-…, 0000000X-0000-0ff1-ce00-….
_FIRST_PARTY_ID = re.compile(r"^0000000[0-9a-f]-0000-0(000-c000|ff1-ce00)-000000000000$")


def domain_of(upn: str | None) -> str | None:
    """``crmoln@microsoft.com`` → ``microsoft.com``; None without an ``@``."""
    if not isinstance(upn, str) or "@" not in upn:
        return None
    return upn.rsplit("@", 1)[1].strip().lower() or None


def is_microsoft_identity(upn: str | None, application_id: str | None, application_type: int | None) -> bool:
    """Microsoft's own system or application user, judged by what a customer cannot set: a user
    name in a bare Microsoft domain, a first-party application id, or the applicationtype that
    Dataverse records. Never by the display name: the admin center names every application user a
    customer creates ``# <app name>``."""
    if application_type in MICROSOFT_APPLICATION_TYPES:
        return True
    if domain_of(upn) in MICROSOFT_DOMAINS:
        return True
    app = norm_guid(application_id)
    return bool(app) and (app in MICROSOFT_APPLICATION_IDS or bool(_FIRST_PARTY_ID.match(app or "")))


# --------------------------------------------------------------------------- flows

#: Trigger kinds of ``Request`` triggers that a person starts by hand (button, app, Copilot):
#: those flows run on the invoker's license.
_INSTANT_KINDS = frozenset({"button", "powerapp", "powerappv2", "virtualagent", "skills", "teams"})


def trigger_kind(triggers: list[dict] | None) -> str | None:
    """``instant``, ``scheduled`` or ``automated`` from a flow's triggers; None when unknown.

    Power Automate's licensing follows it: automated and scheduled flows run on their owner's
    license, instant flows on the license of whoever starts them.
    """
    if not triggers:
        return None
    first = triggers[0]
    kind = str(first.get("type") or "").lower()
    if kind == "recurrence":
        return "scheduled"
    if kind == "request" and str(first.get("kind") or "").lower() in _INSTANT_KINDS:
        return "instant"
    return "automated"
