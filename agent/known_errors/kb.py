"""The known-error knowledge base: the ``KnownError`` model and its YAML file format.

A KB file holds one domain (``vllm.yaml``, ``java.yaml``, ...) so a change reads well in review::

    domain: numpy
    entries:
      - id: numpy-float-alias-removed
        title: "np.float was removed in NumPy 1.24"
        signature: "module 'numpy' has no attribute 'float'"   # optional regex, re.search
        examples:                                              # exact text users see
          - "AttributeError: module 'numpy' has no attribute 'float'."
        cause: ...
        fix: ...
        tags: [numpy, python]
        references: [https://numpy.org/...]

Every entry is checked on load: ids unique across all files, the signature compiles and matches
at least one of the entry's own examples (a signature that matches none of them is a typo).
Anything wrong raises ``KnowledgeBaseError`` naming the file, the entry and the field.

The starter KB ships as package data in ``agent/known_errors/kb_data/``; ``load_kb()`` with no
paths loads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.errors import KnowledgeBaseError
from agent.tooling import format_path

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
STARTER_KB_PACKAGE = "agent.known_errors.kb_data"


class KnownError(BaseModel):
    """One known error: how to recognise it, why it happens, and how to fix it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN, max_length=200, description="stable, unique id")
    title: str = Field(min_length=1, max_length=300)
    signature: str | None = Field(
        None, description="regex (Python re, searched in the input) that identifies this error"
    )
    examples: list[str] = Field(min_length=1, description="exact messages as users see them")
    cause: str = Field(min_length=1)
    fix: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)

    @field_validator("signature")
    @classmethod
    def _signature_compiles(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from None
        return value

    @field_validator("examples")
    @classmethod
    def _examples_not_blank(cls, value: list[str]) -> list[str]:
        if any(not e.strip() for e in value):
            raise ValueError("examples must not be blank")
        return value

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.signature) if self.signature else None

    def extended(self, examples: Iterable[str] = (), references: Iterable[str] = ()) -> KnownError:
        """This entry with the examples and references it lacks appended; itself when it lacks
        none (what an import or a re-seed adds to an entry, never a duplicate)."""
        more_examples = [x for x in dict.fromkeys(examples) if x not in self.examples]
        more_refs = [r for r in dict.fromkeys(references) if r not in self.references]
        if not more_examples and not more_refs:
            return self
        return self.model_copy(
            update={
                "examples": [*self.examples, *more_examples],
                "references": [*self.references, *more_refs],
            }
        )

    def search_text(self) -> str:
        """What retrieval indexes: what users paste (title, examples), not the explanation."""
        return "\n".join([self.title, *self.examples, " ".join(self.tags)]).strip()

    def to_dict(self) -> dict[str, Any]:
        """Plain data in file order, without empty optional fields."""
        data = self.model_dump(exclude_none=True)
        return {k: v for k, v in data.items() if v != []}


class KnowledgeBase:
    """An ordered set of ``KnownError`` s with unique ids."""

    def __init__(self, entries: Iterable[KnownError] = ()) -> None:
        self._by_id: dict[str, KnownError] = {}
        for entry in entries:
            if entry.id in self._by_id:
                raise KnowledgeBaseError(f"duplicate known-error id '{entry.id}'")
            self._by_id[entry.id] = entry

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[KnownError]:
        return iter(self._by_id.values())

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def get(self, entry_id: str) -> KnownError | None:
        return self._by_id.get(entry_id)


def _entry_label(index: int, raw: object) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return f"entry #{index + 1} (id '{raw['id']}')"
    return f"entry #{index + 1}"


def _parse_entries(data: object, *, source: str) -> list[KnownError]:
    """Validate already-decoded KB data (``{domain?, entries: [...]}`` or a bare list)."""
    if isinstance(data, dict):
        unknown = set(data) - {"domain", "entries"}
        if unknown:
            raise KnowledgeBaseError(
                f"{source}: unexpected top-level key(s) {sorted(unknown)}; "
                "a KB file has 'domain' (optional) and 'entries'"
            )
        raw_entries = data.get("entries")
    else:
        raw_entries = data
    if not isinstance(raw_entries, list):
        raise KnowledgeBaseError(f"{source}: 'entries' must be a list of known errors")
    out: list[KnownError] = []
    for i, raw in enumerate(raw_entries):
        label = _entry_label(i, raw)
        if not isinstance(raw, dict):
            raise KnowledgeBaseError(f"{source}: {label}: must be a mapping of fields")
        try:
            entry = KnownError.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"field '{format_path(e['loc']) or '(entry)'}': {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise KnowledgeBaseError(f"{source}: {label}: {problems}") from None
        if entry.pattern is not None and not any(entry.pattern.search(x) for x in entry.examples):
            raise KnowledgeBaseError(
                f"{source}: {label}: field 'signature': regex matches none of the entry's "
                "examples; fix the regex or add the message it is meant to match"
            )
        out.append(entry)
    return out


def read_source(path: Path) -> str:
    """A KB or import file's text; a file that cannot be read is a ``KnowledgeBaseError``."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot read: {exc.strerror or exc}") from None


def load_kb_file(path: Path) -> list[KnownError]:
    """Load and validate one YAML KB file."""
    return parse_kb_text(read_source(path), source=str(path))


def parse_kb_text(text: str, *, source: str) -> list[KnownError]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{source}: not valid YAML: {exc}") from None
    return _parse_entries(data, source=source)


def starter_kb_files() -> list[Path]:
    """The YAML files of the KB shipped with the package, sorted by name."""
    root = resources.files(STARTER_KB_PACKAGE)
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith((".yaml", ".yml")))


def load_kb(paths: Sequence[Path] | None = None) -> KnowledgeBase:
    """Load KB files (a directory means its ``*.yaml``); no paths = the starter KB."""
    files: list[Path] = []
    for path in starter_kb_files() if paths is None else paths:
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            files.append(path)
    entries: list[KnownError] = []
    seen: dict[str, Path] = {}
    for file in files:
        for entry in load_kb_file(file):
            if entry.id in seen:
                raise KnowledgeBaseError(
                    f"{file}: entry id '{entry.id}': duplicate id, already used in {seen[entry.id]}"
                )
            seen[entry.id] = file
            entries.append(entry)
    return KnowledgeBase(entries)


def dump_kb_yaml(entries: Iterable[KnownError], *, domain: str | None = None) -> str:
    """Entries as a KB YAML document (what ``load_kb_file`` reads back)."""
    doc: dict[str, Any] = {}
    if domain:
        doc["domain"] = domain
    doc["entries"] = [e.to_dict() for e in entries]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
