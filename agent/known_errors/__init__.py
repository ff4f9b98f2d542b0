"""The known-error KB: entries, their files and imports, log reduction, lookup (``ErrorIndex``).

``load_kb``, ``import_file`` and ``plan_qa_import`` read KB files, log-template CSVs and resolved
Q&A pairs; ``ErrorIndex`` ranks entries by signature, trace fields, BM25 and dense search, and
``is_close`` says which are evidence. The ``lookup_error`` contract is defined here once.
"""

from agent.known_errors.contract import (
    LOOKUP_ERROR,
    LOOKUP_ERROR_DESCRIPTION,
    MAX_TEXT_CHARS,
    LookupErrorArgs,
    LookupResult,
    MatchSummary,
    is_close,
    lookup_known_errors,
)
from agent.known_errors.importer import (
    UNDOCUMENTED_TAG,
    import_file,
    parse_templates_csv,
    template_to_regex,
)
from agent.known_errors.kb import (
    KnowledgeBase,
    KnownError,
    dump_kb_yaml,
    load_kb,
    load_kb_file,
    parse_kb_text,
    starter_kb_files,
)
from agent.known_errors.log_reduce import ReducedLog, reduce_log
from agent.known_errors.lookup import (
    ALL_SIGNALS,
    DEFAULT_WEIGHTS,
    ErrorIndex,
    ErrorMatch,
    Rankings,
    Signal,
    SignalHit,
    rrf_fuse,
)
from agent.known_errors.qa_import import QAPair, load_qa_file, parse_qa_jsonl, plan_qa_import

__all__ = [
    "ALL_SIGNALS",
    "DEFAULT_WEIGHTS",
    "LOOKUP_ERROR",
    "LOOKUP_ERROR_DESCRIPTION",
    "MAX_TEXT_CHARS",
    "UNDOCUMENTED_TAG",
    "ErrorIndex",
    "ErrorMatch",
    "KnowledgeBase",
    "KnownError",
    "LookupErrorArgs",
    "LookupResult",
    "MatchSummary",
    "QAPair",
    "Rankings",
    "ReducedLog",
    "Signal",
    "SignalHit",
    "dump_kb_yaml",
    "import_file",
    "is_close",
    "load_kb",
    "load_kb_file",
    "load_qa_file",
    "lookup_known_errors",
    "parse_kb_text",
    "parse_qa_jsonl",
    "plan_qa_import",
    "parse_templates_csv",
    "reduce_log",
    "rrf_fuse",
    "starter_kb_files",
    "template_to_regex",
]
