"""Grow the KB from resolved questions: a JSONL of (trace or log excerpt, cause, fix) pairs.

An issue tracker or a support channel export, one JSON object per line::

    {"text": "Traceback ...\\nKeyError: 'user_id'", "cause": "...", "fix": "...",
     "title": "optional", "url": "https://tracker/issue/123", "tags": ["billing"]}

``text`` may also be named ``trace``, ``log``, ``excerpt`` or ``error``; ``url`` (or
``references``) is kept as the entry's reference; other fields are ignored.

Each pair is checked against the KB by the same lookup that serves ``lookup_error`` and against
the pairs before it in the file, so the KB grows without duplicates:

* **skip** when an entry already holds the same error: the same fingerprint (a trace's exception
  types, masked messages, top own frame and line; a message's masked text) as one of its
  examples (a pair with a url new to the entry is a **merge** of that url into its references,
  so the second report of an error is not lost);
* **merge** when a candidate entry's signature regex recognises the message, not only the
  exception type, and the error did not raise in the application's own frames (a log line, or
  a trace raised in a library or the runtime): the entry is that error, so the text becomes one
  more example of it (and its url one more reference) and the entry's own cause and fix stay.
  A generic signature (any ``NullPointerException``) or a raise in own code is that code's bug;
* **add** otherwise: a new entry with the pair's cause and fix, id ``PREFIX-<hash>`` stable for
  the same error, so importing a file twice adds nothing the second time.

``plan_qa_import`` decides without writing (``agent errors import --dry-run`` prints it);
``ErrorIndex.upsert(plan.entries)`` applies it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.errors import KnowledgeBaseError
from agent.known_errors.kb import ID_PATTERN, KnownError, read_source
from agent.known_errors.log_reduce import reduce_log
from agent.known_errors.lookup import ErrorIndex
from agent.known_errors.traces import mask_message, parse_trace
from agent.text import clip
from agent.tooling import format_path

QA_TAG = "qa-import"
MAX_EXAMPLES = 16  # per entry: more examples of one error add lookup time, not recall
MAX_TEXT_CHARS = 2500  # what an example keeps (16 x 2,500 stays under an entry's 60 kB cap)
LOOKUP_BATCH = 32
_TEXT_FIELDS = ("text", "trace", "log", "excerpt", "error")
_TITLE_MAX = 300

Action = Literal["add", "merge", "skip"]


class QAPair(BaseModel):
    """One resolved question: what was seen, why it happened, what fixed it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    text: str = Field(min_length=1, description="the trace or log excerpt as users saw it")
    cause: str = Field(min_length=1)
    fix: str = Field(min_length=1)
    title: str | None = Field(None, max_length=_TITLE_MAX)
    tags: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)

    @field_validator("references", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class QADecision:
    """What happens to the pair on ``line``: ``entry_id`` is the new or the existing entry."""

    line: int
    action: Action
    entry_id: str
    reason: str


@dataclass(slots=True)
class QAImportPlan:
    """The decisions, one per pair, and the entries to write (new and extended ones)."""

    decisions: list[QADecision] = field(default_factory=list)
    entries: list[KnownError] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for d in self.decisions if d.action == action)


def parse_qa_jsonl(text: str, *, source: str) -> list[tuple[int, QAPair]]:
    """(line number, pair) for each non-blank line; the first bad line raises, naming it."""
    pairs: list[tuple[int, QAPair]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"{source}: line {line_no}: not valid JSON: {exc.msg}"
            raise KnowledgeBaseError(problem) from None
        if not isinstance(raw, dict):
            raise KnowledgeBaseError(f"{source}: line {line_no}: must be a JSON object")
        pairs.append((line_no, _pair(raw, source=source, line_no=line_no)))
    if not pairs:
        raise KnowledgeBaseError(f"{source}: no question/answer pairs found")
    return pairs


def load_qa_file(path: Path) -> list[tuple[int, QAPair]]:
    """``parse_qa_jsonl`` of a file."""
    return parse_qa_jsonl(read_source(path), source=str(path))


def _pair(raw: dict[str, Any], *, source: str, line_no: int) -> QAPair:
    data = dict(raw)
    named = [f for f in _TEXT_FIELDS if isinstance(data.get(f), str) and data[f].strip()]
    if not named:
        raise KnowledgeBaseError(
            f"{source}: line {line_no}: field 'text': missing; give the trace or log excerpt as "
            f"one of {', '.join(repr(f) for f in _TEXT_FIELDS)}"
        )
    data["text"] = data[named[0]]
    if "references" not in data and "url" in data:
        data["references"] = data["url"]
    try:
        return QAPair.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{format_path(e['loc'])}': {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise KnowledgeBaseError(f"{source}: line {line_no}: {problems}") from None


def fingerprint(text: str) -> str:
    """What identifies an error regardless of run-specific parts: for a trace, its exception
    types, masked messages and top own frame with its line (the same place in the same build);
    otherwise the masked exception lines."""
    trace = parse_trace(text)
    if trace is not None:
        frames = trace.own_frames or trace.frames
        top = f"{frames[0].name}:{frames[0].line}" if frames else ""
        parts = [f"{e.type}: {e.masked}" for e in trace.exceptions]
        return "trace|" + " | ".join(parts) + "|" + top
    reduced = reduce_log(text)
    return "text|" + re.sub(r"\s+", " ", mask_message(reduced.headline or reduced.text)).lower()


_EXCEPTION_NAME = re.compile(r"[\w$.]*(?:Error|Exception|Throwable|Failure)\b")


def _same_error(text: str, matched: str | None) -> bool:
    """Whether a signature match makes ``text`` the entry's error. Not when the signature
    matched the exception type alone (any ``NullPointerException``: every bug of that kind is
    its own error), nor when a trace raised in the application's own frames (that code's bug,
    told apart by where it raised). A log line, or a message raised in a library or the runtime
    (``np.float`` inside numpy), is the signature's."""
    if not matched or not re.search(r"\w", _EXCEPTION_NAME.sub("", matched)):
        return False
    trace = parse_trace(text)
    return trace is None or not trace.frames or trace.frames[0].library


def _new_entry(pair: QAPair, print_: str, *, prefix: str) -> KnownError:
    digest = hashlib.sha1(print_.encode("utf-8")).hexdigest()[:12]
    entry_id = f"{prefix}-{digest}"
    if not re.match(ID_PATTERN, entry_id):
        raise KnowledgeBaseError(f"prefix {prefix!r} cannot form a valid entry id")
    return KnownError(
        id=entry_id,
        title=pair.title or clip(_headline(pair.text), _TITLE_MAX),
        signature=None,
        examples=[clip(pair.text, MAX_TEXT_CHARS)],
        cause=pair.cause,
        fix=pair.fix,
        tags=list(dict.fromkeys([*pair.tags, prefix, QA_TAG])),
        references=pair.references,
    )


def _headline(text: str) -> str:
    trace = parse_trace(text)
    if trace is not None and trace.exceptions:
        exc = trace.exceptions[-1]  # the root cause of a chain
        return f"{exc.type}: {exc.message}".rstrip(": ")
    reduced = reduce_log(text)
    first = (reduced.headline or reduced.text).strip().splitlines()
    return first[0] if first else text.strip()[:_TITLE_MAX]


def _known(
    line_no: int, entry_id: str, pair: QAPair, index: ErrorIndex, changed: dict[str, KnownError]
) -> QADecision:
    """The pair's error is entry ``entry_id``: keep its references there, add nothing else."""
    base = changed.get(entry_id) or index.get(entry_id)
    extended = base.extended(references=pair.references) if base is not None else None
    if extended is None or extended is base:
        return QADecision(line_no, "skip", entry_id, "the same error is already known")
    changed[entry_id] = extended
    return QADecision(line_no, "merge", entry_id, "the same error is already known: its url added")


def plan_qa_import(
    index: ErrorIndex,
    pairs: Sequence[tuple[int, QAPair]],
    *,
    prefix: str = "qa",
    on_progress: Callable[[int, int], None] | None = None,
) -> QAImportPlan:
    """Decide add / merge / skip for each pair (see the module docstring); writes nothing."""
    plan = QAImportPlan()
    changed: dict[str, KnownError] = {}  # entries to write, by id, in first-touched order
    seen: dict[str, str] = {}  # fingerprint -> entry id, for entries the index already has
    for entry in index.entries():
        for example in entry.examples:
            seen.setdefault(fingerprint(example), entry.id)
    for start in range(0, len(pairs), LOOKUP_BATCH):
        batch = pairs[start : start + LOOKUP_BATCH]
        found = index.lookup_many([clip(p.text, MAX_TEXT_CHARS) for _, p in batch], top_k=3)
        for (line_no, pair), matches in zip(batch, found, strict=True):
            print_ = fingerprint(clip(pair.text, MAX_TEXT_CHARS))  # what an example keeps
            if print_ in seen:
                plan.decisions.append(_known(line_no, seen[print_], pair, index, changed))
                continue
            recognised = next((m for m in matches if "signature" in m.matched_by), None)
            if recognised is not None and _same_error(pair.text, recognised.matched_text):
                base = changed.get(recognised.id, recognised.entry)
                if len(base.examples) >= MAX_EXAMPLES:
                    plan.decisions.append(_known(line_no, base.id, pair, index, changed))
                    continue
                changed[base.id] = base.extended([clip(pair.text, MAX_TEXT_CHARS)], pair.references)
                seen[print_] = base.id
                plan.decisions.append(
                    QADecision(line_no, "merge", base.id, "its signature matches: new example")
                )
                continue
            entry = _new_entry(pair, print_, prefix=prefix)
            changed[entry.id] = entry
            seen[print_] = entry.id
            plan.decisions.append(QADecision(line_no, "add", entry.id, "new error"))
        if on_progress is not None:
            on_progress(min(start + LOOKUP_BATCH, len(pairs)), len(pairs))
    plan.entries = list(changed.values())
    return plan


__all__ = [
    "QA_TAG",
    "QADecision",
    "QAImportPlan",
    "QAPair",
    "fingerprint",
    "load_qa_file",
    "parse_qa_jsonl",
    "plan_qa_import",
]
