"""Splitting a document's text into overlapping chunks on structural boundaries.

Text arrives with Markdown ``#`` headings (see ``agent.rag._readers``). Each section with text
of its own starts a chunk (a heading with none, such as a class heading right above its first
method's, stays with the section under it): in an API reference a small section is one option,
property or method, and merged into its neighbour's chunk it was labelled with the neighbour's
heading and outranked by longer chunks that only mention it. A chunk grows paragraph by
paragraph up to ``size`` characters; a paragraph too long on its own is split at its list
items (an item with its continuation lines stays whole, so an option keeps its **Default:**),
then by sentences, then by words. Consecutive chunks of one section share up to ``overlap``
characters of whole paragraphs, list items or sentences. Each chunk carries the heading path it
sits under, which is prepended to its text, so a chunk is understandable (and embeds well) on
its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+(?=\S)")
_LIST_ITEM = re.compile(r"^\s*(?:[*+-]|\d{1,3}[.)])\s+\S")
#: Part of every document's hash: a change to how text is cut re-chunks stored documents.
CHUNKER_VERSION = "3"


@dataclass(frozen=True, slots=True)
class Chunk:
    position: int
    text: str
    section: str


@dataclass(slots=True)
class _Block:
    text: str
    section: str
    is_heading: bool = False
    joint: str = "\n\n"  # what goes between the unit before it and this one in a chunk


def _blocks(text: str) -> list[_Block]:
    """Paragraphs and headings, each with the heading path above it."""
    path: list[tuple[int, str]] = []
    out: list[_Block] = []
    in_fence = False
    para: list[str] = []

    def flush() -> None:
        if para:
            body = "\n".join(para).strip()
            if body:
                out.append(_Block(body, " > ".join(t for _, t in path)))
            para.clear()

    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            para.append(line)
            continue
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level, title = len(match.group(1)), match.group(2).strip()
            path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
            out.append(_Block(line.strip(), " > ".join(t for _, t in path), is_heading=True))
        elif not line.strip() and not in_fence:
            flush()
        else:
            para.append(line)
    flush()
    return out


def _split_long(text: str, size: int) -> list[str]:
    """Pieces of at most ``size`` characters: whole sentences where possible, then words."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if len(sentence) <= size:
            pieces.append(sentence)
            continue
        current = ""
        for word in sentence.split(" "):
            while len(word) > size:  # one enormous token (a URL, base64): cut it
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(word[:size])
                word = word[size:]
            if current and len(current) + 1 + len(word) > size:
                pieces.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        if current:
            pieces.append(current)
    return [p for p in pieces if p.strip()]


def _list_items(text: str) -> list[str]:
    """``text`` cut before each list item line, an item keeping its continuation lines; one
    piece when it is not a list of at least two items."""
    items: list[list[str]] = []
    for line in text.split("\n"):
        if not items or _LIST_ITEM.match(line):
            items.append([line])
        else:
            items[-1].append(line)
    starts = sum(bool(_LIST_ITEM.match(item[0])) for item in items)
    return ["\n".join(item) for item in items] if starts >= 2 else [text]


def _units(blocks: list[_Block], size: int) -> list[_Block]:
    """Blocks no longer than ``size``; long paragraphs become runs of list items, and items
    (or paragraphs) still too long runs of sentence groups."""
    out: list[_Block] = []
    for block in blocks:
        if len(block.text) <= size or block.is_heading:
            out.append(block)
            continue
        for i, item in enumerate(_list_items(block.text)):
            joint = block.joint if i == 0 else "\n"
            pieces = [item] if len(item) <= size else _split_long(item, size)
            out.extend(
                _Block(p, block.section, joint=joint if j == 0 else " ")
                for j, p in enumerate(pieces)
            )
    return out


def chunk_text(text: str, *, size: int = 1000, overlap: int = 150) -> list[Chunk]:
    """Chunks of ``text`` (about ``size`` characters each, ``overlap`` shared between
    neighbours in one section)."""
    if size < 50:
        raise ValueError("chunk size must be at least 50 characters")
    overlap = max(0, min(overlap, size // 2))
    units = _units(_blocks(text), size)
    chunks: list[Chunk] = []
    current: list[_Block] = []
    fresh = 0  # units in `current` that no earlier chunk holds

    def length(parts: list[_Block]) -> int:
        return sum(len(p.text) + 2 for p in parts)

    def emit() -> None:
        nonlocal current, fresh
        if not current or not fresh:
            return
        body = "".join(("" if i == 0 else p.joint) + p.text for i, p in enumerate(current))
        section = current[-1].section
        # the heading path gives a chunk that starts mid-section its context
        prefix = "" if current[0].is_heading or not section else f"[{section}]\n"
        chunks.append(Chunk(len(chunks), prefix + body, section))
        tail: list[_Block] = []
        for part in reversed(current):
            if part.is_heading or length(tail) + len(part.text) > overlap:
                break
            tail.insert(0, part)
        current = tail if tail and tail[0].section == section else []
        fresh = 0

    for unit in units:
        starts_section = unit.is_heading and any(not p.is_heading for p in current)
        if current and (starts_section or length(current) + len(unit.text) > size):
            emit()
        if (
            unit.is_heading
            and current
            and all(not p.is_heading and p.section != unit.section for p in current)
        ):
            current = []  # overlap never crosses into a new section
        current.append(unit)
        fresh += 1
    emit()
    return chunks
