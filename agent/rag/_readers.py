"""Finding documents under paths and reading them to plain text: .md .markdown .txt .rst .html
.htm .pdf.

Headings come out as Markdown ``#`` lines (HTML ``<h2>`` -> ``## ...``; reStructuredText
underlined titles -> ``#`` by level) so one chunker handles every format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".rst"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

_MAX_BYTES = 200 * 1024 * 1024


class UnreadableFileError(Exception):
    """A file that cannot be ingested; the message says why (ingest skips it with a warning)."""


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    title: str
    text: str


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files under ``paths`` (directories recursively, hidden entries skipped), sorted."""
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path).parts
                if (
                    child.is_file()
                    and child.suffix.lower() in SUPPORTED_SUFFIXES
                    and not any(part.startswith(".") for part in rel)
                ):
                    yield child
        else:
            yield path


def read_document(path: Path) -> Document:
    """Read ``path`` to text; ``UnreadableFileError`` if it is unsupported, binary or broken."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFileError(
            f"unsupported file type {suffix or '(none)'} (supported: "
            f"{', '.join(sorted(SUPPORTED_SUFFIXES))})"
        )
    try:
        size = path.stat().st_size
        if size > _MAX_BYTES:
            raise UnreadableFileError(f"file is {size} bytes, over the {_MAX_BYTES} limit")
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"cannot read: {exc.strerror or exc}") from None
    if suffix in PDF_SUFFIXES:
        title, text = _read_pdf(path, data)
    else:
        raw = _decode_text(data)
        if suffix in HTML_SUFFIXES:
            title, text = _html_to_text(raw)
        elif suffix == ".rst":
            text = _rst_headings(raw)
            title = _first_heading(text)
        else:
            text = _drop_html_comments(raw) if suffix in MARKDOWN_SUFFIXES else raw
            title = _first_heading(text) if suffix != ".txt" else ""
    text = _tidy(text)
    if not text.strip():
        raise UnreadableFileError("no text in file (empty, or a scanned PDF without a text layer)")
    return Document(path=path, title=(title or path.stem).strip()[:300], text=text)


_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.M)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _drop_html_comments(markdown: str) -> str:
    """Markdown without its HTML comments, which a reader never sees rendered (API docs keep
    change histories and lint directives in them: 15 % of Node.js's). Inside a fenced code
    block a comment is shown, so it stays."""
    parts = _FENCE.split(markdown)  # text, fence, code-with-fence-line, fence, text, ...
    out: list[str] = []
    in_code = False
    fence = ""
    for i, part in enumerate(parts):
        if i % 2 == 1:  # a fence marker: opens a block, or closes the open one of its kind
            if not in_code:
                in_code, fence = True, part
            elif part == fence:
                in_code = False
            out.append(part)
        else:
            out.append(part if in_code else _HTML_COMMENT.sub("", part))
    return "".join(out)


def _decode_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableFileError("binary content (NUL bytes) in a text file")
    text = data.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd")
    if bad > max(8, len(text) // 100):
        raise UnreadableFileError("not UTF-8 text (binary or another encoding)")
    return text


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t\f\v]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _first_heading(text: str) -> str:
    match = re.search(r"^#{1,6}\s+(.+)$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else ""


_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")


def _rst_headings(text: str) -> str:
    """reStructuredText section titles (a line over a line of one repeated mark) to ``#``."""
    lines = text.split("\n")
    levels: list[str] = []  # rst levels follow the order marks first appear
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        over = _RST_UNDERLINE.match(line)
        if (
            over
            and i + 2 < len(lines)
            and lines[i + 1].strip()
            and _RST_UNDERLINE.match(lines[i + 2])
        ):
            mark = "over" + line.strip()[0]  # overlined titles are their own level
            title, skip = lines[i + 1].strip(), 3
        elif (
            line.strip()
            and _RST_UNDERLINE.match(nxt)
            and len(nxt.strip()) >= len(line.strip()) - 1
            and not over
        ):
            mark, title, skip = nxt.strip()[0], line.strip(), 2
        else:
            out.append(line)
            i += 1
            continue
        if mark not in levels:
            levels.append(mark)
        out.append("#" * min(levels.index(mark) + 1, 6) + " " + title)
        i += skip
    return "\n".join(out)


class _HTMLText(HTMLParser):
    _BLOCK = {
        "p",
        "div",
        "section",
        "article",
        "br",
        "li",
        "ul",
        "ol",
        "table",
        "tr",
        "pre",
        "blockquote",
        "header",
        "footer",
        "main",
        "nav",
        "aside",
        "dl",
        "dt",
        "dd",
        "hr",
        "figure",
        "figcaption",
        "form",
    }
    _SKIP = {"script", "style", "noscript", "template", "svg", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip_depth = 0
        self._in_title = False
        self._heading: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = int(tag[1])
            self.parts.append("\n\n" + "#" * self._heading + " ")
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag not in {"br", "li", "tr", "dt", "dd"} else "\n")
        elif tag in {"td", "th"}:
            self.parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = None
            self.parts.append("\n\n")
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip_depth:
            # inside a heading, newlines would end the Markdown heading line early
            self.parts.append(" ".join(data.split()) if self._heading else data)


def _html_to_text(raw: str) -> tuple[str, str]:
    parser = _HTMLText()
    parser.feed(raw)
    parser.close()
    text = "".join(parser.parts)
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
    title = " ".join(parser.title.split()) or _first_heading(text)
    return title, text


def _read_pdf(path: Path, data: bytes) -> tuple[str, str]:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs every recoverable oddity of a PDF as a warning; those are not ours to show
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableFileError("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except UnreadableFileError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableFileError(f"broken PDF: {exc}") from None
    return str(meta_title or ""), "\n\n".join(p.strip() for p in pages if p.strip())
