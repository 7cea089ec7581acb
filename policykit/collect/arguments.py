"""The ``policykit collect`` command line: what the parser needs, and no more. Building
``policykit --help`` or a scan's parser imports this module only, not the collector and its HTTP
client (a scan does not pay for them at start-up)."""

from __future__ import annotations

import argparse

from .clouds import CLOUDS
from .tokens import AUTH_METHODS

HOST_KINDS = ("bap", "powerapps", "graph")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", help="write one export folder per environment below DIR")
    p.add_argument("--environment", action="append", default=[], metavar="NAME_OR_ID",
                   help="an environment's display name, id or Dataverse URL (repeatable)")
    p.add_argument("--all", action="store_true", help="every environment of the tenant")
    p.add_argument("-c", "--config", metavar="FILE",
                   help="the estate file: collect its environments into the folders it reads them from")
    p.add_argument("--auth", choices=tuple(AUTH_METHODS), help="azure-identity credential (default: "
                   "POLICYKIT_ACCESS_TOKEN when set, else DefaultAzureCredential)")
    p.add_argument("--cloud", choices=tuple(CLOUDS), default="public", help="sovereign cloud (default: public)")
    p.add_argument("--endpoint", action="append", default=[], metavar="KIND=URL",
                   help=f"override a host ({', '.join(HOST_KINDS)}): mirrors, proxies, tests")
    p.add_argument("--dry-run", action="store_true", help="print every request and the permission it needs; "
                   "send nothing")
    p.add_argument("--check", action="store_true", help="preflight: try each request once per environment and "
                   "say what is missing; write nothing")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds per request (default 60)")
    p.add_argument("--retries", type=int, default=5, metavar="N", help="retries after 429/5xx (default 5)")
