"""The known-error knowledge base ("the KB"): entries, their files, import, log reduction, lookup.

A ``KnownError`` says how to recognise an error (a regex signature, example messages), why it
happens and how to fix it; ``load_kb`` reads and checks KB files (the starter KB ships in
``kb_data/``), ``import_file`` also turns log-template CSVs into entries. ``ErrorIndex`` keeps the
KB in Milvus and finds the entries that match a message, a stack trace or a whole log
(``reduce_log`` keeps its informative lines) by signature, BM25 and dense search fused by rank.
The ``lookup_error`` tool's contract (``LookupErrorArgs`` in, ``LookupResult`` out) is defined
here once, for the agent's tool and the MCP server alike.
"""

from agent.known_errors.contract import (
    LOOKUP_ERROR,
    LOOKUP_ERROR_DESCRIPTION,
    MAX_TEXT_CHARS,
    LookupErrorArgs,
    LookupResult,
    MatchSummary,
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
    "Rankings",
    "ReducedLog",
    "Signal",
    "SignalHit",
    "dump_kb_yaml",
    "import_file",
    "load_kb",
    "load_kb_file",
    "lookup_known_errors",
    "parse_kb_text",
    "parse_templates_csv",
    "reduce_log",
    "rrf_fuse",
    "starter_kb_files",
    "template_to_regex",
]
