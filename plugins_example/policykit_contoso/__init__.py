"""Contoso's PolicyKit rule pack: the model for your own pack (copy this folder anywhere).

It shows the four things a pack usually does:

- contributes YAML rules from its own ``rules/`` folder (same format as the built-ins): CTS002 is
  a rule without parameters, CTS001 a parameterized one (``service_domains``);
- contributes a JMESPath function (``upn_domain``) its rules call;
- enriches the document with an organization fact (``is_production``) before the rules run, and
  declares the field so that ``policykit validate`` knows it.

``policykit test .`` in this folder runs every rule's fixtures; ``policykit validate .`` checks the
rules (schema, queries, fields, placeholders, README).
"""

from __future__ import annotations

from pathlib import Path

from jmespath import functions

from policykit import BaseFunctions, hookimpl, load_rule_dir

__version__ = "1.0.0"

RULES = Path(__file__).parent / "rules"


@hookimpl
def policykit_rules():
    return load_rule_dir(RULES, origin="policykit-contoso", display="policykit_contoso/rules")


class ContosoFunctions(BaseFunctions):
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


@hookimpl
def policykit_document_fields():
    return {"environment": {"is_production": {"type": "boolean",
                                              "description": "Contoso: Production or Default"}}}
