"""Contoso's PolicyKit rule pack: an example of an installable organization plugin.

It shows the three things a pack usually does:

- contributes declarative rules from its own ``rules/`` folder (same format as the built-ins);
- contributes a JMESPath function (``upn_domain``) its rules call;
- enriches the document with an organization fact (``is_production``) before the rules run.
"""

from __future__ import annotations

from pathlib import Path

from jmespath import functions

from policykit import hookimpl
from policykit.rulepack import load_rule_dir

RULES = Path(__file__).parent / "rules"


@hookimpl
def policykit_rules():
    return load_rule_dir(RULES, origin="policykit-contoso", display="policykit_contoso/rules")


class ContosoFunctions(functions.Functions):
    @functions.signature({"types": ["string", "null"]})
    def _func_upn_domain(self, upn):
        """``TechUser@svc.contoso.com`` → ``svc.contoso.com`` (lower case); null when not a UPN."""
        if not upn or "@" not in upn:
            return None
        return upn.rsplit("@", 1)[1].lower()


@hookimpl
def policykit_jmespath_functions():
    return ContosoFunctions


@hookimpl
def policykit_enrich_document(document, policy):
    # Contoso treats Production and Default environments alike: both hold live data.
    for env in document["environments"]:
        env["is_production"] = (env.get("type") or "") in ("Production", "Default")
