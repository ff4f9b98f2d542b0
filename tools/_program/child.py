"""The child process that runs one ``run_python`` program (``python -I -S child.py CPU MEMORY``):
it sets resource limits (CPU seconds, address space, no files written), interprets the program
read from stdin (``interpreter``; never ``exec``), and reports one JSON object on stdout:
``{"output": ...}`` or ``{"error": ...}``."""

from __future__ import annotations

import importlib
import json
import resource
import sys
from pathlib import Path


def _limit(cpu_seconds: int, memory_bytes: int) -> None:
    # soft < hard: the kernel sends SIGXCPU at the soft limit, which the parent can name
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def main() -> None:
    cpu_seconds, memory_bytes = int(sys.argv[1]), int(sys.argv[2])
    # -I leaves this file's directory off sys.path; the tools directory holds the package
    sys.path.append(str(Path(__file__).resolve().parents[1]))
    interpreter = importlib.import_module("_program.interpreter")

    code = sys.stdin.read()
    sys.setrecursionlimit(4000)  # the interpreter bounds the program's own call depth
    _limit(cpu_seconds, memory_bytes)
    try:
        result: dict[str, str] = {"output": interpreter.run(code)}
    except interpreter.ProgramError as exc:
        result = {"error": str(exc)}
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
