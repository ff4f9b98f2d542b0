"""Stack traces as structure: parse them, and rank known errors by field-weighted BM25.

``parse_trace`` reads Java (``Caused by:`` chains, ``Suppressed:``, ``... N more``), Python,
JavaScript/Node, Go panics and .NET traces into exceptions (type, message with the variable
parts masked) and frames (qualified name, file, line; library or the project's own; test code
or not). ``TraceIndex`` keeps the known errors whose examples are traces in memory and scores a
query trace over these fields::

    exc       exception types (qualified and simple), the outermost first
    msg       the messages' words, numbers / ids / paths / hex masked
    diff      what an assertion's expected and actual values differ in (``expected:<..> but
              was:<..>``, JUnit's ``[..]`` marks, ``Expected: .. Result: ..``): the tokens
              only the expected value has, as ``-token``, and only the actual one, ``+token``
    frame     the project's own frames, qualified (``pkg.Class.method``); top frames weigh most
    site      own frames with their line (``pkg.Class.method:42``): the same code path in the
              same build; a different version of the file moves the lines
    lib       the first library frames (where the error surfaced in the JDK, numpy, ...)
    words     every identifier of the raw text, whole and case kept
    plain     the raw text's lower-cased letter and digit runs: what a plain BM25 sees

    score(entry) = sum over fields f of  weight_f * sum over query terms t of
                   query_weight(t) * BM25(t, entry's field f)

Weights are measured on the Defects4J dev split (``bench/triage_recall.py --suites d4j``):
plain BM25 over the raw trace is the strongest single field there (r@1 0.507, r@5 0.609), every
structural field added at a weight near its own lowered r@1 (all of them at weight 1: 0.474 /
0.586), and only ``words``, ``site`` and ``exc`` at a quarter weight add to it (0.513 / 0.618).
``diff`` at weight 1 adds to that (0.528 / 0.641; 0.25: 0.520 / 0.626, 2: 0.523 / 0.649), in
no project less than without it: tests of one bug that fail in other test classes often still
fail on the same difference (Closure's missing ``@return {undefined}``), while the text around
it is the test's own.
Identifiers split at their case changes (``testFindWrapPos`` -> find, wrap, pos), as a field of
their own, did not help: over every word at weight 0.25 to 1, 0.528 to 0.522 r@1; over the
own frames and the messages, 0.505 to 0.495 (the trace score alone, 0.528 / 0.641 without).
The split's limit is the data: about half of its queries share with their bug's entry no
term that other entries lack (``distinct_evidence`` in the bench). The other fields are parsed
(the Q&A import's duplicate check uses them) but not scored.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from agent.known_errors.bm25 import FieldBM25, plain_tokens, top

Language = Literal["java", "python", "javascript", "go", "dotnet"]
Field = Literal["exc", "msg", "diff", "frame", "site", "lib", "words", "plain"]

FIELD_WEIGHTS: Mapping[str, float] = {
    "plain": 1.0,
    "diff": 1.0,
    "words": 0.25,
    "site": 0.25,
    "exc": 0.25,
}
TOP_FRAMES = 20  # own frames indexed per trace; deeper frames are the framework's plumbing
MAX_MESSAGE_WORDS = 200

_JAVA_FRAME = re.compile(r"^\s*at\s+(?:[\w.-]+/)*([\w$.<>]+)\.([\w$<>-]+)\(([^()]*)\)\s*$")
_JAVA_MORE = re.compile(r"^\s*\.\.\. \d+ (?:more|common frames omitted)\s*$")
_DOTNET_FRAME = re.compile(
    r"^\s*at\s+([\w.`<>+]+)\.([\w`<>]+)\(.*?\)(?:\s+in\s+(.+?):line (\d+))?\s*$"
)
_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')
_JS_FRAME = re.compile(r"^\s*at\s+(?:(?:async\s+)?([^\s(]+)\s+\()?(\S+?):(\d+):\d+\)?\s*$")
_GO_FUNC = re.compile(r"^([\w./*()-]+)\.([\w.*()-]+)\(.*\)\s*$")
_GO_FILE = re.compile(r"^\s+(\S+\.go):(\d+)")
_GO_PANIC = re.compile(r"^(?:panic|fatal error): (.*)$")
_EXCEPTION = re.compile(
    r"^\s*(?:Caused by: |Suppressed: |Exception in thread \"[^\"]*\" |Unhandled exception\. "
    r"|Uncaught |\[[^\]]*\]\s*)?"
    r"((?:[A-Za-z_][\w$]*[.$])*[A-Za-z_][\w$]*(?:Error|Exception|Exit|Interrupt|Failure|Fault"
    r"|Throwable|Warning))(?:\s*:\s?(.*))?$"
)
_MASK = re.compile(
    r"(?:[A-Za-z]:)?(?:/[\w.@~+-]+)+/?|\\\\[\w\\.-]+|0x[0-9a-fA-F]+|\b[0-9a-f]{8,}\b"
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|\d+(?:\.\d+)?"
)
_WORD = re.compile(r"[A-Za-z_][\w$]*")
# an assertion's two values: JUnit / Hamcrest-style, then Closure's compiler tests
_EXPECTED_ACTUAL = (
    re.compile(r"expected:?\s*<(.*)>\s*but was:?\s*<(.*)>", re.DOTALL),
    re.compile(r"Expected:\s*(.*?)\n\s*Result:\s*(.*?)(?:\n|$)", re.DOTALL),
)
_DIFF_MARK = re.compile(r"\[([^\[\]]*)\]")  # JUnit's ComparisonFailure marks what differs
_DIFF_TOKEN = re.compile(r"[A-Za-z_$][\w$]*|\d+|[^\w\s]")
_DIFF_CHARS = 4000  # of a message searched for the pair: bounds the regexes' backtracking

_JAVA_LIB = re.compile(
    r"^(java|javax|jakarta|sun|jdk|com\.sun|kotlin|scala|junit|org\.junit|org\.hamcrest"
    r"|org\.testng|org\.mockito|org\.easymock|org\.apache\.maven|org\.gradle|org\.apache\.tools"
    r"|org\.springframework|io\.netty|reactor|groovy|org\.codehaus\.groovy)\."
)
_PY_LIB = re.compile(r"(site-packages|dist-packages)/|/lib/python\d|^<frozen |^<string>")
_JS_LIB = re.compile(r"node_modules/|^node:|^internal/|\(internal/|^<anonymous>")
_GO_LIB = re.compile(r"^(runtime|reflect|sync|net/http|testing|syscall|os|internal/)")
_DOTNET_LIB = re.compile(r"^(System|Microsoft|Newtonsoft|NUnit|Xunit)\.")
_TEST_NAME = re.compile(r"(^|[./$])(Test\w*|\w*Tests?|\w*TestCase|test_\w*|\w*_test)($|[.$:])")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: ``name`` qualified as the language prints it (``pkg.Class.method``,
    ``module.function``), ``library`` when it is a dependency's or the runtime's code."""

    name: str
    file: str
    line: int | None
    library: bool
    test: bool


@dataclass(frozen=True, slots=True)
class TraceException:
    type: str
    message: str  # as printed, first line and its continuation lines
    masked: str  # numbers, ids, paths and hex replaced by "#"


@dataclass(slots=True)
class Trace:
    language: Language
    exceptions: list[TraceException] = field(default_factory=list)  # outermost first
    frames: list[Frame] = field(default_factory=list)  # innermost first (where it raised)

    @property
    def own_frames(self) -> list[Frame]:
        return [f for f in self.frames if not f.library]


def mask_message(message: str) -> str:
    return _MASK.sub("#", message).strip()


def differing_terms(message: str) -> list[str]:
    """What an assertion's expected and actual values in ``message`` differ in: ``-token``
    for each token only the expected value has, ``+token`` only the actual one; [] when the
    message holds no such pair. Where JUnit marks the differing part (``expected:<a[b]c> but
    was:<a[]c>``), only the marked parts are compared."""
    for pattern in _EXPECTED_ACTUAL:
        m = pattern.search(message[:_DIFF_CHARS])
        if m is None:
            continue
        expected, actual = m.group(1), m.group(2)
        marked_expected, marked_actual = _DIFF_MARK.findall(expected), _DIFF_MARK.findall(actual)
        if marked_expected and marked_actual:
            expected, actual = " ".join(marked_expected), " ".join(marked_actual)
        want, got = Counter(_DIFF_TOKEN.findall(expected)), Counter(_DIFF_TOKEN.findall(actual))
        return [f"-{t}" for t in want - got] + [f"+{t}" for t in got - want]
    return []


def _is_test(name: str) -> bool:
    return bool(_TEST_NAME.search(name))


def _exception(line: str) -> TraceException | None:
    m = _EXCEPTION.match(line)
    if m is None:
        return None
    message = (m.group(2) or "").strip()
    return TraceException(m.group(1), message, mask_message(message))


def parse_trace(text: str) -> Trace | None:
    """The trace in ``text`` (the first language with at least one frame), or None."""
    lines = text.splitlines()
    for parse in (_parse_java_or_dotnet, _parse_python, _parse_go, _parse_js):
        trace = parse(lines)
        if trace is not None and trace.frames:
            return trace
    return None


def _exception_at(lines: list[str], start: int, is_frame: re.Pattern[str]) -> TraceException | None:
    """The exception on ``lines[start]``, its message with the lines after it that continue
    it, up to the first frame; None when that line is no exception."""
    exc = _exception(lines[start])
    if exc is None:
        return None
    more: list[str] = []
    for line in lines[start + 1 : start + 40]:
        if is_frame.match(line) or _exception(line) is not None or not line.strip():
            break
        more.append(line.strip())
    if not more:
        return exc
    message = "\n".join([exc.message, *more]).strip()
    return TraceException(exc.type, message, mask_message(message))


def _parse_java_or_dotnet(lines: list[str]) -> Trace | None:
    java = sum(1 for ln in lines if ":line " not in ln and _JAVA_FRAME.match(ln))
    dotnet = sum(1 for ln in lines if ":line " in ln and _DOTNET_FRAME.match(ln))
    if not java and not dotnet:
        return None
    trace = Trace("dotnet" if dotnet > java else "java")
    frame_re = _DOTNET_FRAME if trace.language == "dotnet" else _JAVA_FRAME
    for i, line in enumerate(lines):
        m = frame_re.match(line)
        if m is not None:
            cls, method = m.group(1), m.group(2)
            if trace.language == "java":
                where = m.group(3)
                file, _, num = where.partition(":")
            else:
                file, num = m.group(3) or "", m.group(4) or ""
            lib = (_DOTNET_LIB if trace.language == "dotnet" else _JAVA_LIB).match(cls)
            trace.frames.append(
                Frame(
                    f"{cls}.{method}",
                    file,
                    int(num) if num.isdigit() else None,
                    library=lib is not None,
                    test=_is_test(cls) or method.startswith("test"),
                )
            )
            continue
        if _JAVA_MORE.match(line):
            continue
        exc = _exception_at(lines, i, frame_re)
        if exc is not None:
            trace.exceptions.append(exc)
    return trace


def _parse_python(lines: list[str]) -> Trace | None:
    if not any(_PY_FRAME.match(ln) for ln in lines):
        return None
    trace = Trace("python")
    blocks: list[list[Frame]] = [[]]
    for i, line in enumerate(lines):
        m = _PY_FRAME.match(line)
        if m is not None:
            path, num, func = m.group(1), int(m.group(2)), m.group(3)
            module = re.sub(r"\.py$", "", path.replace("\\", "/").rsplit("/", 1)[-1])
            blocks[-1].append(
                Frame(
                    f"{module}.{func}",
                    path,
                    num,
                    library=_PY_LIB.search(path) is not None,
                    test=_is_test(module) or func.startswith("test"),
                )
            )
            continue
        if line.startswith((" ", "\t")):
            continue
        exc = _exception_at(lines, i, _PY_FRAME)
        if exc is not None:
            trace.exceptions.append(exc)
            blocks.append([])
    # Python prints the outermost chained exception first and the raise site last: the last
    # exception is what the user sees, its frames innermost-last
    trace.exceptions.reverse()
    for block in reversed(blocks):
        trace.frames.extend(reversed(block))
    return trace


def _parse_go(lines: list[str]) -> Trace | None:
    panic = next((m for ln in lines if (m := _GO_PANIC.match(ln.strip()))), None)
    if panic is None or not any(_GO_FILE.match(ln) for ln in lines):
        return None
    trace = Trace("go")
    message = panic.group(1)
    kind = "panic" if "panic" in panic.group(0)[:6] else "fatal error"
    trace.exceptions.append(TraceException(kind, message, mask_message(message)))
    for i, line in enumerate(lines[:-1]):
        m = _GO_FUNC.match(line.strip()) if not line.startswith((" ", "\t")) else None
        f = _GO_FILE.match(lines[i + 1])
        if m is not None and f is not None:
            name = f"{m.group(1)}.{m.group(2)}"
            trace.frames.append(
                Frame(
                    name,
                    f.group(1),
                    int(f.group(2)),
                    library=_GO_LIB.match(name) is not None or "/go/src/" in f.group(1),
                    test=f.group(1).endswith("_test.go"),
                )
            )
    return trace


def _parse_js(lines: list[str]) -> Trace | None:
    frames = [(i, m) for i, ln in enumerate(lines) if (m := _JS_FRAME.match(ln))]
    if not frames:
        return None
    trace = Trace("javascript")
    for line in lines:
        if _JS_FRAME.match(line):
            continue
        exc = _exception(line)
        if exc is not None:
            trace.exceptions.append(exc)
    for _, m in frames:
        func, path, num = m.group(1) or "<anonymous>", m.group(2), int(m.group(3))
        module = re.sub(r"\.[cm]?[jt]sx?$", "", path.rsplit("/", 1)[-1])
        trace.frames.append(
            Frame(
                f"{module}.{func}",
                path,
                num,
                library=_JS_LIB.search(path) is not None,
                test=_is_test(module) or ".test" in path or ".spec" in path,
            )
        )
    return trace


def _library_package(line: str) -> str | None:
    """The class's package if ``line`` is a Java or .NET frame in a library, else None."""
    m = _JAVA_FRAME.match(line) or _DOTNET_FRAME.match(line)
    if m is None or not (_JAVA_LIB.match(m.group(1)) or _DOTNET_LIB.match(m.group(1))):
        return None
    return m.group(1).rsplit(".", 1)[0]


def is_library_frame(line: str) -> bool:
    """Whether ``line`` is a Java or .NET stack frame in a library (the JDK, a test runner)."""
    return _library_package(line) is not None


COLLAPSE_MIN_RUN = 3  # library frames in a row before the ones after the first are folded


def collapse_library_frames(text: str) -> str:
    """``text`` with each run of ``COLLAPSE_MIN_RUN`` or more consecutive Java / .NET library
    frames folded to its first frame (where the project's code entered the library, or the
    error surfaced in it) and one line naming the packages of the rest::

        at junit.framework.Assert.assertEquals(Assert.java:100)
        ... 31 library frames (junit.framework, sun.reflect, org.apache.tools.ant, ...)

    What a reader (or a model) of a test failure needs is the exception and the project's own
    frames; the test runner's plumbing is most of the text (a median 38 of the 44 lines of a
    Defects4J failure's trace) and, in a prompt, most of its tokens. Other lines are kept as
    they are."""
    lines = text.split("\n")
    out: list[str] = []
    run: list[tuple[str, str]] = []  # (line, package) of the current run of library frames

    def flush() -> None:
        if len(run) >= COLLAPSE_MIN_RUN:
            out.append(run[0][0])
            packages = list(dict.fromkeys(pkg for _, pkg in run[1:]))
            named = ", ".join(packages[:3]) + (", ..." if len(packages) > 3 else "")
            indent = run[0][0][: len(run[0][0]) - len(run[0][0].lstrip())]
            out.append(f"{indent}... {len(run) - 1} library frames ({named})")
        else:
            out.extend(line for line, _ in run)
        run.clear()

    for line in lines:
        if (package := _library_package(line)) is not None:
            run.append((line, package))
            continue
        flush()
        out.append(line)
    flush()
    return "\n".join(out)


Terms = dict[str, list[tuple[str, float]]]


def _position_weight(i: int) -> float:
    return 1.0 / (1.0 + 0.2 * i)


def trace_terms(trace: Trace, raw_text: str) -> Terms:
    """The fields of ``trace`` as weighted terms (a term's weight applies on the query side)."""
    terms: Terms = defaultdict(list)
    for i, exc in enumerate(trace.exceptions[:4]):
        w = 1.0 if i == 0 else 0.7
        terms["exc"] += [(exc.type, w), (exc.type.rsplit(".", 1)[-1], w)]
        words = _WORD.findall(exc.masked)[:MAX_MESSAGE_WORDS]
        terms["msg"] += [(word.lower(), w) for word in words]
        terms["diff"] += [(t, w) for t in differing_terms(exc.message)]
    own = trace.own_frames[:TOP_FRAMES]
    for i, frame in enumerate(own):
        w = _position_weight(i)
        terms["frame"].append((frame.name, w))
        if frame.line is not None:
            terms["site"].append((f"{frame.name}:{frame.line}", w))
    for i, frame in enumerate([f for f in trace.frames if f.library][:3]):
        terms["lib"].append((frame.name, _position_weight(i)))
    terms["words"] = [(word, 1.0) for word in _WORD.findall(raw_text)]
    terms["plain"] = [(token, 1.0) for token in plain_tokens(raw_text)]
    return terms


class TraceIndex:
    """Known errors whose examples are stack traces, scored by field-weighted BM25."""

    def __init__(
        self,
        docs: Iterable[tuple[str, str]],
        *,
        weights: Mapping[str, float] = FIELD_WEIGHTS,
    ) -> None:
        """``docs``: (entry id, example text) pairs; an entry may have several examples (its
        best-scoring one counts), and texts that hold no trace are skipped."""
        self.weights: dict[str, float] = dict(weights)
        self._ids: list[str] = []
        languages: list[str] = []
        tfs: list[dict[str, Counter[str]]] = []
        for entry_id, text in docs:
            trace = parse_trace(text)
            if trace is None:
                continue
            self._ids.append(entry_id)
            languages.append(trace.language)
            tfs.append(
                {
                    f: Counter(t for t, _ in ts)
                    for f, ts in trace_terms(trace, text).items()
                    if self.weights.get(f)  # a field without weight is not scored
                }
            )
        self._entry_ids = frozenset(self._ids)
        self._languages = np.array(languages, dtype=object)
        self._several = len(self._entry_ids) < len(self._ids)
        self._bm25 = FieldBM25(tfs)

    def __len__(self) -> int:
        return len(self.entry_ids())

    def entry_ids(self) -> frozenset[str]:
        """The entries with at least one trace example."""
        return self._entry_ids

    def rank(
        self, text: str, *, limit: int = 20, trace: Trace | None = None
    ) -> list[tuple[str, float]]:
        """(entry id, score) best first, or [] when ``text`` holds no trace. A score is the
        share of what the same trace in the KB would score (about 1 for the same trace, near 0
        for a trace that shares only the runtime's frames), so one threshold means about the
        same in KBs of different sizes (``bench/triage_gate.py``: 60 and 547 entries).
        ``trace``: ``text`` already parsed, when the caller has it."""
        trace = trace or parse_trace(text)
        if trace is None or not self._ids:
            return []
        terms = trace_terms(trace, text)
        scores = self._bm25.scores(terms, self.weights)
        most = self._bm25.self_score(terms, self.weights)
        if most > 0:  # the share of what the same trace in the KB would score
            scores /= most
        # a Python traceback's error is never a Java trace's, however many words they share
        scores[self._languages != trace.language] = 0.0
        if self._several:  # an entry with several examples counts its best one
            best: dict[str, float] = {}
            for doc in top(scores, limit * 4):
                best.setdefault(self._ids[doc], float(scores[doc]))
            return [(i, round(s, 6)) for i, s in list(best.items())[:limit]]
        return [(self._ids[doc], round(float(scores[doc]), 6)) for doc in top(scores, limit)]


def trace_docs(entries: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[str, str]]:
    """(id, example) pairs from (id, examples) for ``TraceIndex``."""
    return [(entry_id, text) for entry_id, examples in entries for text in examples]


__all__ = [
    "FIELD_WEIGHTS",
    "Frame",
    "Trace",
    "TraceException",
    "TraceIndex",
    "collapse_library_frames",
    "differing_terms",
    "is_library_frame",
    "mask_message",
    "parse_trace",
    "trace_docs",
    "trace_terms",
]
