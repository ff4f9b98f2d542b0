"""Importers: files people already have, turned into ``KnownError`` entries.

* Our KB format (``.yaml`` / ``.yml`` / ``.json``): see ``agent.known_errors.kb``.
* A Loghub-style templates CSV (``EventId,EventTemplate``, variables written ``<*>``), as produced
  by log parsers (Drain, Spell, ...), so a team can seed a KB from its own parsed logs. Each
  template becomes an entry whose signature is the template as a regex matching the end of a
  line, from the line's start or after the header a logger writes first::

      E5,Receiving block blk_<*> src: /<*>:<*> dest: /<*>:<*>
      -> id "hdfs-E5", signature (?m)(?<!\\S)Receiving\\s+block\\s+blk_(?P<v0>.*?)...$

  Literal text is escaped, runs of spaces match any whitespace, and each ``<*>`` is a lazy
  named group ``v<N>``: lookup subtracts what those groups matched to rank the most specific
  template first when several match. Imported entries have no cause or fix yet; their text says
  so and they carry the tag ``undocumented``, for someone to fill in.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from agent.errors import KnowledgeBaseError
from agent.known_errors.kb import ID_PATTERN, KnownError, load_kb_file, read_source
from agent.text import clip

WILDCARD = "<*>"
WILDCARD_GROUP = re.compile(r"^v\d+$")
UNDOCUMENTED_TAG = "undocumented"
_TITLE_MAX = 300


def template_to_regex(template: str) -> str:
    """A Loghub template as a regex matching a line's message (see the module docstring).

    Each wildcard and the literal after it form an atomic group: the wildcard stretches to the
    first place the literal fits and never backtracks. Earliest-first is always a correct choice
    here (what follows can absorb any later occurrence), except for the last literal, which must
    end the line, so the last wildcard stays an ordinary lazy group. Without the atomic groups, a
    line that almost matches costs C(words, wildcards) steps: 25 s for 6 wildcards on 60 words.
    """
    parts = [
        r"\s+".join(re.escape(chunk) for chunk in re.split(r"\s+", part))
        for part in template.strip().split(WILDCARD)
    ]
    out = [parts[0]]
    for i, literal in enumerate(parts[1:]):
        group = f"(?P<v{i}>.*?){literal}"
        out.append(group if i == len(parts) - 2 else f"(?>{group})")
    # A line as logged starts with a header (timestamp, level, logger: "081109 203615 148 INFO
    # dfs.DataNode$DataXceiver: Receiving block ..."), which the template leaves out: the
    # template may start after any whitespace. One that starts with a wildcard stays at the
    # line's start, where its first group takes in the header (and the search does not retry
    # the whole pattern at every position of a line it does not match).
    start = "^\\s*" if template.strip().startswith(WILDCARD) else "(?<!\\S)"
    return "(?m)" + start + "".join(out) + "\\s*$"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower() or "log"


def entry_from_template(event_id: str, template: str, *, prefix: str, source: str) -> KnownError:
    entry_id = f"{_slug(prefix)}-{event_id.strip()}"
    if not re.match(ID_PATTERN, entry_id):
        raise KnowledgeBaseError(f"{source}: EventId {event_id!r} cannot form a valid entry id")
    return KnownError(
        id=entry_id,
        title=clip(template, _TITLE_MAX),
        signature=template_to_regex(template),
        examples=[template],
        cause=(
            f"Not documented yet: imported from log template {event_id} of {source}. "
            "Edit this entry to say what produces this event."
        ),
        fix="Not documented yet: edit this entry to say what to do about it.",
        tags=[_slug(prefix), "log-template", UNDOCUMENTED_TAG],
    )


def parse_templates_csv(text: str, *, prefix: str, source: str) -> list[KnownError]:
    """Entries from a templates CSV with at least the columns EventId and EventTemplate."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    if "eventid" not in columns or "eventtemplate" not in columns:
        raise KnowledgeBaseError(
            f"{source}: a templates CSV needs the header columns EventId and EventTemplate; "
            f"found {reader.fieldnames}"
        )
    id_col, template_col = columns["eventid"], columns["eventtemplate"]
    entries: list[KnownError] = []
    seen: set[str] = set()
    for line_no, row in enumerate(reader, start=2):
        event_id = (row.get(id_col) or "").strip()
        template = (row.get(template_col) or "").strip()
        if not event_id or not template:
            raise KnowledgeBaseError(f"{source}: line {line_no}: empty EventId or EventTemplate")
        if event_id in seen:
            raise KnowledgeBaseError(
                f"{source}: line {line_no}: duplicate EventId {event_id!r}; a templates CSV has "
                "one row per EventId (Loghub's *_templates.csv, not *_structured.csv, which has "
                "one row per log line)"
            )
        seen.add(event_id)
        entries.append(entry_from_template(event_id, template, prefix=prefix, source=source))
    if not entries:
        raise KnowledgeBaseError(f"{source}: no templates found")
    return entries


def _prefix_for(path: Path) -> str:
    # HDFS_2k.log_templates.csv -> hdfs
    return path.name.split("_")[0].split(".")[0] or "log"


def import_file(path: Path, *, prefix: str | None = None) -> list[KnownError]:
    """Entries from a KB file (YAML/JSON) or a templates CSV, chosen by the file extension."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml", ".json"):
        return load_kb_file(path)
    if suffix == ".csv":
        text = read_source(path)
        return parse_templates_csv(text, prefix=prefix or _prefix_for(path), source=path.name)
    raise KnowledgeBaseError(
        f"{path}: unknown file type {suffix or '(none)'}; import a KB file (.yaml, .yml, .json) "
        "or a templates CSV (.csv with EventId,EventTemplate)"
    )
