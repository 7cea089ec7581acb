#!/usr/bin/env bash
# Validate a SARIF log with Microsoft's Sarif.Multitool, which exits 0 even on errors:
# this script reads its report and exits 1 on any error (and on any warning of kind Sarif).
# Usage: tools/sarif-validate.sh LOG.sarif [Sarif|Ghas|GHAzDO ...]   (default: Sarif Ghas)
# The binary is .tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
# (make tools), or $POLICYKIT_SARIF_MULTITOOL.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
exec "$python" "$root/tests/sarif_validator.py" "$@"
