"""What ``Settings.load`` says of a bad configuration: where a bad value came from
(``value_source``), and ``AGENT_*`` variables that are no setting (``unknown_variables``): a
misspelt one would otherwise leave its setting at the default without a word. And which
settings the environment or ``.env`` sets (``set_by``), for ``agent doctor``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from pathlib import Path

from dotenv import dotenv_values


def read_dotenv(path: Path) -> dict[str, str | None]:
    """``path``'s keys (upper case, as the settings match them) and values; {} if absent."""
    return {k.upper(): v for k, v in dotenv_values(path).items()} if path.is_file() else {}


def set_by(
    variables: Mapping[str, Sequence[str]], dotenv: Mapping[str, object], env_file: Path
) -> dict[str, tuple[str, str]]:
    """For each setting (``variables``: its name -> the variables that set it) that one of
    them sets: (the variable, where: ``env`` or the ``.env`` file). The environment wins."""
    environ = {k.upper() for k in os.environ}
    found: dict[str, tuple[str, str]] = {}
    for field, names in variables.items():
        for name in names:
            if name in environ:
                found[field] = (name, "env")
                break
        else:
            for name in names:
                if name in dotenv:
                    found[field] = (name, str(env_file.resolve()))
                    break
    return found


def value_source(
    field: str, overrides: Mapping[str, object], dotenv: Mapping[str, object], env_file: Path
) -> str:
    """Where ``field``'s value came from, as an error message names it (with its variable)."""
    env = f"AGENT_{field.upper()}"
    if field in overrides:
        return f"an argument; env {env}"
    if env in {k.upper() for k in os.environ}:
        return f"env {env}"
    if env in dotenv:
        return f"{env} in {env_file.resolve()}"
    return f"env {env}; the default"


def unknown_variables(known: set[str], dotenv: dict[str, str | None], env_file: Path) -> list[str]:
    """A problem line for each ``AGENT_*`` key of ``.env`` not in ``known``, and for each in
    the environment whose name is close to a known one. Only close ones there: other tools set
    ``AGENT_*`` variables of their own (Azure Pipelines: ``AGENT_OS``, ``AGENT_NAME``, ...)."""
    suffixes = {name.removeprefix("AGENT_"): name for name in known}

    def close_to(key: str) -> str | None:
        found = get_close_matches(key.removeprefix("AGENT_"), list(suffixes), n=1, cutoff=0.8)
        return suffixes[found[0]] if found else None

    problems = []
    for key in dotenv:
        if key.startswith("AGENT_") and key not in known:
            guess = close_to(key)
            hint = f"did you mean {guess}?" if guess else "the README's Settings lists them"
            problems.append(f"  {key} in {env_file.resolve()} is not a setting: {hint}")
    for key in sorted(k.upper() for k in os.environ):
        unknown = key.startswith("AGENT_") and key not in known and key not in dotenv
        if unknown and (guess := close_to(key)):
            problems.append(f"  env {key} is not a setting: did you mean {guess}?")
    return problems
