"""The suites' offline self-checks (no LLM server)::

PYTHONPATH=bench .venv/bin/python -m task_suites bfcl [--data ../shared/data]
PYTHONPATH=bench .venv/bin/python -m task_suites triage [--data ../shared/data] [--n 30]
PYTHONPATH=bench .venv/bin/python -m task_suites mixed [--retrieval]
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from task_suites import bfcl, mixed, triage

CHECKS: dict[str, Callable[[list[str]], int]] = {
    "bfcl": bfcl.main,
    "triage": triage.main,
    "mixed": mixed.main,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in CHECKS:
        print(f"usage: python -m task_suites {{{','.join(CHECKS)}}} [options]", file=sys.stderr)
        return 2
    return CHECKS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
