"""The known-error knowledge base ("the KB"): entries, their files, import, log reduction, lookup.

``KnownError``: how to recognise an error, why it happens, how to fix it. ``load_kb`` reads KB
files (starter KB: ``kb_data/``), ``import_file`` log-template CSVs too, ``plan_qa_import``
resolved Q&A pairs without duplicates. ``ErrorIndex`` keeps the KB in Milvus and ranks entries
for a message, trace or log (``reduce_log``) by signature, trace fields, BM25 and dense search.
The ``lookup_error`` contract (``LookupErrorArgs``, ``LookupResult``) is defined here once.
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
