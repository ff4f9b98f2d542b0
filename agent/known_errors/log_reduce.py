"""Reduce a long input (a whole log, a 200-line stack trace) to its informative lines.

Retrieval works on a few lines, not on thousands: BM25 drowns in repeated INFO noise and the
embedding model reads only ~256 word pieces. What is kept, in the input's order:

* every exception line (``ValueError: ...``, ``Caused by: java.io.IOException: ...``,
  ``Exception in thread "main" ...``) with the lines that continue its message, never clipped;
* the last few frames before each Python exception line (where it was raised) and the first
  few frames after each Java exception line (the same place: Java prints innermost first);
* lines logged at ERROR / FATAL / CRITICAL / SEVERE / PANIC, and error-looking lines
  (``error:``, ``failed``, ``Errno``, ``Killed``);
* if the budget allows, WARN lines.

Runs of library frames in a Java or .NET trace (the test runner's, the JDK's reflection) are
folded first to their first frame and a count (``collapse_library_frames``): they are most of
a test failure's lines and none of its signal, and the frames kept after an exception line are
then the project's own. Repeated lines (equal once digits and hex ids are masked) are kept
once, with a count. The
``headline`` is the exception lines alone: what a dense embedding of the input should read first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.known_errors.traces import collapse_library_frames, is_library_frame
from agent.text import clip

DEFAULT_MAX_LINES = 60
PASSTHROUGH_LINES = 40
PASSTHROUGH_CHARS = 6000
FRAMES_KEPT = 3
MAX_LINE_CHARS = 1000  # ordinary log lines only; exception text is never clipped
ID_RUN_MIN = 5
ID_RUN_KEPT = 2

_PY_FRAME = re.compile(r'^\s+File "[^"]*", line \d+')
_FOLDED_RUN = r"\.\.\. \d+ library frames \(.*\)"  # "... 31 library frames (...)": a folded run
_JAVA_FRAME = re.compile(rf"^\s+(at [\w$.<>/]+\(.*\)|\.\.\. \d+ more|{_FOLDED_RUN})\s*$")
_LIBRARY_RUN = re.compile(rf"^\s*{_FOLDED_RUN}\s*$")
_TRACEBACK = re.compile(r"^\s*Traceback \(most recent call last\):")
_CHAIN = re.compile(
    r"^\s*(The above exception was the direct cause|During handling of the above exception)"
)
_EXCEPTION = re.compile(
    r"^\s*(Caused by: |Exception in thread \"[^\"]*\" |Suppressed: )?"
    r"([A-Za-z_][\w]*[.$])*[A-Za-z_]\w*(Error|Exception|Exit|Interrupt|Warning|Failure|Fault)"
    r"(\[[^\]]*\])?(: |:$|$)"
)
_LEVEL_ERROR = re.compile(
    r"(\b|_)(ERROR|FATAL|CRITICAL|SEVERE|PANIC|EMERG|ALERT)(\b|_)|\[(error|crit|alert|emerg)\]"
    r"|\blevel=(error|fatal|critical)\b"
)
_ERRORISH = re.compile(
    r"(?i)(\berror:|\bfailed\b|\bfailure\b|\[Errno -?\d+\]|\bKilled\b|segmentation fault"
    r"|core dumped|out of memory|\bdenied\b|\bnot found\b|\brefused\b|\btimed out\b)"
)
_LEVEL_WARN = re.compile(r"\b(WARN|WARNING)\b|\[warn\]")
_MASK = re.compile(r"0x[0-9a-fA-F]+|\d+")
_ID_PART = re.compile(r"-?(?:0x)?[0-9a-fA-F]*\d[0-9a-fA-F]*")  # numbers, hex, signed ids

_CLIP_MARKER = " …"

# priorities: lower is kept first when the budget is tight
_P_EXCEPTION, _P_ERROR, _P_FRAME, _P_ERRORISH, _P_WARN = range(5)


@dataclass(frozen=True, slots=True)
class ReducedLog:
    """The informative lines of an input. ``reduced`` is False when it came back whole (short
    enough, and no library frames to fold)."""

    text: str
    headline: str
    lines_in: int
    lines_out: int
    reduced: bool

    @property
    def brief(self) -> str:
        """``text`` as a model should read it: without the library frames other than the
        first after an exception line (where it was thrown) and without the lines that count
        folded ones, and with long runs of ids counted (``fold_id_runs``). A test failure's
        runner frames are none of its signal, and on a CPU each prompt token costs time: on
        30 Defects4J traces this cuts the triage prompt from 581 to 541 tokens on average
        (bench/RESULTS.md, "Triage: quoting the KB")."""
        out: list[str] = []
        after_exception = False
        for line in self.text.split("\n"):
            if _LIBRARY_RUN.match(line) or (is_library_frame(line) and not after_exception):
                continue
            after_exception = is_exception_line(line)
            out.append(line if after_exception else fold_id_runs(line))  # messages stay whole
        return "\n".join(out)


def fold_id_runs(line: str) -> str:
    """``line`` with each run of ``ID_RUN_MIN`` or more ids of one shape (``blk_-857...``,
    ``10.250.17.177:50010``: equal once numbers and hex are masked) cut to the first
    ``ID_RUN_KEPT`` and a count. An HDFS line that asks a node to delete 100 blocks is 2,476
    characters, 1,200 of the 1,700 tokens of its triage prompt (45 s on 2 cores), and what it
    means is in its words, not in the ids."""
    parts = re.split(r"(\s+)", line)  # words at even indexes, the spaces between at odd
    shapes = [_ID_PART.sub("#", part) for part in parts]
    out: list[str] = []
    i = 0
    while i < len(parts):
        j = i
        while shapes[i] != parts[i] and j + 2 < len(parts) and shapes[j + 2] == shapes[i]:
            j += 2
        run = (j - i) // 2 + 1
        if run >= ID_RUN_MIN:
            out += parts[i : i + 2 * ID_RUN_KEPT] + [f"… ({run - ID_RUN_KEPT} more)"]
            i = j + 1
        else:
            out.append(parts[i])
            i += 1
    return "".join(out)


def is_exception_line(line: str) -> bool:
    return bool(_EXCEPTION.match(line)) and not _PY_FRAME.match(line)


def _clip_line(line: str) -> str:
    return clip(line, MAX_LINE_CHARS + len(_CLIP_MARKER), marker=_CLIP_MARKER)


def _exception_spans(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each exception message, with the lines that continue it."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        if is_exception_line(lines[i]):
            end = i + 1
            while (
                end < len(lines)
                and lines[end].strip()
                and not _PY_FRAME.match(lines[end])
                and not _JAVA_FRAME.match(lines[end])
                and not _TRACEBACK.match(lines[end])
                and not _CHAIN.match(lines[end])
                and not is_exception_line(lines[end])
                and not _LEVEL_ERROR.search(lines[end])
                and end - i < 20
                and _continues_message(lines[i], lines[end])
            ):
                end += 1
            spans.append((i, end))
            i = end
        else:
            i += 1
    return spans


def _continues_message(first: str, line: str) -> bool:
    # A Python exception message continues on following lines (numpy's, pydantic's, PEP 668's);
    # a log line with its own timestamp does not.
    return not re.match(r"^\s*(\d{2,4}[-/]\d{2}[-/]\d{2}|\d{6} \d{6}|\[\d)", line)


def _frames_before(lines: list[str], start: int) -> list[int]:
    """Indexes of the last FRAMES_KEPT Python frames (File line + source line) above ``start``."""
    out: list[int] = []
    j = start - 1
    frames = 0
    while j >= 0 and frames < FRAMES_KEPT:
        if _PY_FRAME.match(lines[j]):
            out.append(j)
            if j + 1 < start and not _PY_FRAME.match(lines[j + 1]):
                out.append(j + 1)
            frames += 1
        elif not lines[j].startswith((" ", "\t")) or _TRACEBACK.match(lines[j]):
            break
        j -= 1
    return out


def _frames_after(lines: list[str], end: int) -> list[int]:
    """Indexes of the first FRAMES_KEPT Java frames below ``end``, with the lines between them
    that stand for folded library frames (those are not counted)."""
    out: list[int] = []
    frames = 0
    j = end
    while j < len(lines) and frames < FRAMES_KEPT and _JAVA_FRAME.match(lines[j]):
        line = lines[j].strip()
        if not line.startswith("..."):
            out.append(j)
            frames += 1
        elif line.endswith(")"):  # "... N library frames (...)"
            out.append(j)
        j += 1
    return out


def reduce_log(
    text: str,
    *,
    max_lines: int = DEFAULT_MAX_LINES,
    passthrough_lines: int = PASSTHROUGH_LINES,
    passthrough_chars: int = PASSTHROUGH_CHARS,
) -> ReducedLog:
    """The informative lines of ``text`` (unchanged if it is already short and holds no run of
    library frames)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines_in = len(text.rstrip().split("\n"))
    text = collapse_library_frames(text)
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    spans = _exception_spans(lines)
    headline = "\n".join(dict.fromkeys("\n".join(lines[s:e]).strip() for s, e in spans))
    if len(lines) <= passthrough_lines and len(text) <= passthrough_chars:
        kept = "\n".join(lines).strip()
        return ReducedLog(kept, headline, lines_in, len(lines), reduced=len(lines) < lines_in)

    priority: dict[int, int] = {}

    def mark(index: int, p: int) -> None:
        priority[index] = min(p, priority.get(index, p))

    for k, line in enumerate(lines):
        if _TRACEBACK.match(line) or _CHAIN.match(line):
            mark(k, _P_FRAME)
    for start, end in spans:
        for k in range(start, end):
            mark(k, _P_EXCEPTION)
        for k in _frames_before(lines, start):
            mark(k, _P_FRAME)
        for k in _frames_after(lines, end):
            mark(k, _P_FRAME)
    for k, line in enumerate(lines):
        if k in priority or not line.strip():
            continue
        if _LEVEL_ERROR.search(line):
            mark(k, _P_ERROR)
        elif _ERRORISH.search(line):
            mark(k, _P_ERRORISH)
        elif _LEVEL_WARN.search(line):
            mark(k, _P_WARN)

    # one copy of each repeated line, counting the others
    first_of: dict[str, int] = {}
    repeats: dict[int, int] = {}
    for k in sorted(priority):
        if priority[k] == _P_FRAME:  # frames differ only in numbers: keep them all
            continue
        key = _MASK.sub("#", lines[k].strip())
        if key in first_of:
            repeats[first_of[key]] = repeats.get(first_of[key], 1) + 1
            if priority[k] != _P_EXCEPTION:  # exception text is never dropped
                del priority[k]
        else:
            first_of[key] = k

    chosen = sorted(priority, key=lambda k: (priority[k], -k))
    exception_lines = [k for k in chosen if priority[k] == _P_EXCEPTION]
    others = [k for k in chosen if priority[k] != _P_EXCEPTION]
    keep = set(exception_lines) | set(others[: max(0, max_lines - len(exception_lines))])

    out: list[str] = []
    previous = -2
    for k in sorted(keep):
        if k != previous + 1 and out:
            out.append("…")
        line = lines[k] if priority[k] == _P_EXCEPTION else _clip_line(lines[k])
        if repeats.get(k, 1) > 1:
            line += f"  [repeated {repeats[k]}×]"
        out.append(line)
        previous = k
    if not out:  # nothing looked like an error: keep the tail, where failures usually are
        out = [_clip_line(line) for line in lines[-max_lines:]]
    return ReducedLog("\n".join(out).strip(), headline, lines_in, len(out), reduced=True)
