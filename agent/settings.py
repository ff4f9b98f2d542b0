"""Settings: explicit arguments beat ``AGENT_*`` environment variables, which beat ``.env``.

Every field is ``AGENT_<FIELD>`` in the environment, e.g. ``AGENT_LLM_BASE_URL``,
``AGENT_MAX_STEPS``, ``AGENT_TOOL_CALL_MODE``. ``Settings.load(...)`` turns pydantic's validation
errors into one ``ConfigError`` that names the variable and what it accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent._env_vars import read_dotenv, unknown_variables, value_source
from agent.errors import ConfigError

ToolCallMode = Literal["native", "required", "code"]
VllmDtype = Literal["auto", "bfloat16", "float32"]  # the local server's (agent.local.dtype)

DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b-instruct"
BUILTIN_TOOL_GROUPS = ("calculator", "rag_search", "mcp", "run_python")
# run_python is opt-in: with it the 1.5B default scored no better on GSM8K (bench/RESULTS.md).
AUTO_TOOLS = ("calculator", "rag_search", "mcp")
# tool_call_mode=code offers the model programs only: no other tool's schema is sent.
CODE_TOOLS = ("run_python",)


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "agent-runtime"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        validate_by_name=True,  # a field with env aliases (docs_collection) still takes its name
    )

    # --- the LLM server (any OpenAI-compatible server; vLLM first) -----------------------
    llm_base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL, ending in /v1"
    )
    llm_model: str = Field(DEFAULT_LOCAL_MODEL, description="model name the server serves")
    llm_api_key: SecretStr = Field(SecretStr("EMPTY"), description="API key (vLLM: any)")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(1024, ge=1, description="cap on tokens per LLM reply")
    repeat_stop: int = Field(
        4,
        ge=0,
        le=50,
        description=(
            "the server (vLLM's repetition_detection) stops a reply once one passage of 8 to "
            "128 tokens comes this many times in a row, instead of at max_tokens; 0: off"
        ),
    )
    llm_timeout_s: float = Field(
        300.0,
        gt=0,
        description=(
            "read timeout per LLM call; on 2 CPU cores a 1,024-token reply takes ~150 s, so a "
            "shorter timeout turns long answers into errors"
        ),
    )
    llm_connect_timeout_s: float = Field(5.0, gt=0)
    llm_fallback_base_url: str | None = Field(
        None,
        description=(
            "a second OpenAI-compatible server used when the first still fails after its "
            "retries (connection refused, timeout, 5xx); the answer says it came from there"
        ),
    )
    llm_fallback_model: str | None = Field(
        None, description="the model name on the fallback server (default: LLM_MODEL)"
    )
    llm_fallback_api_key: SecretStr | None = Field(
        None, description="API key of the fallback server (default: LLM_API_KEY)"
    )
    llm_max_retries: int = Field(
        2, ge=0, le=10, description="retries on connection errors, 429 and 5xx (with backoff)"
    )

    # --- the loop -------------------------------------------------------------------------
    tool_call_mode: Literal["auto", "native", "required", "code"] = Field(
        "auto",
        description=(
            "native: tool_choice=auto and the server's parser makes tool_calls; required: "
            "tool_choice=required every step plus a final_answer tool (guided decoding; best "
            "for small models); auto: probe the server once per (URL, model), cached, and use "
            "native where its parser returns tool calls, else required; code: the model "
            "answers by writing Python programs that run_python runs, and no tool schemas are "
            "sent (needs no tool parser on the server; tools=auto then means run_python only)"
        ),
    )
    repair_choice: Literal["auto", "named", "off"] = Field(
        "auto",
        description=(
            "how a tool call that failed validation is repaired: named sends the next request "
            "with tool_choice naming that tool, so the server's guided decoding must produce "
            "valid arguments; off leaves the choice to the model; auto: named when probing "
            "the server (tool_call_mode=auto) found that it supports it"
        ),
    )
    tools: str = Field(
        "auto",
        description=(
            "the tools an Agent gets when none are given, comma-separated: calculator, "
            "rag_search, mcp (every tool of MCP_SERVERS), run_python (runs programs the model "
            "writes; opt-in); auto: calculator, rag_search and mcp (run_python alone with "
            "tool_call_mode=code)"
        ),
    )
    max_steps: int = Field(10, ge=1, le=200, description="LLM calls per run before giving up")
    max_repairs: int = Field(
        3, ge=0, le=50, description="failed tool calls per run the model may repair"
    )
    max_identical_calls: int = Field(
        2, ge=1, le=20, description="times the same call (name + arguments) may run in one run"
    )
    max_tool_calls: int | None = Field(
        None, ge=1, description="tool calls one run may make; past it the run stops with an error"
    )
    max_run_tokens: int | None = Field(
        None,
        ge=1,
        description=(
            "tokens (prompt + completion, summed over the LLM calls) one run may use; the run "
            "stops with an error before the call that would start past it"
        ),
    )
    context_tokens: int | None = Field(
        None,
        ge=256,
        description=(
            "tokens one LLM call may send; older turns of a long thread are left out of the "
            "request (never out of the thread), each tool call with its result; default: the "
            "context length the server reports (vLLM's max_model_len), less MAX_TOKENS"
        ),
    )
    tool_timeout_s: float = Field(30.0, gt=0, description="default timeout of one tool call")
    run_timeout_s: float = Field(
        1800.0,
        gt=0,
        description="a run that has not finished after this many seconds ends with an error",
    )
    thread_wait_s: float = Field(
        120.0,
        ge=0,
        description=(
            "how long a run waits for another run on the same thread (any process) to finish "
            "before it fails with 'thread busy'"
        ),
    )
    auto_retrieve: bool = Field(
        True,
        description=(
            "before the model's first step, search the ingested documents for the question "
            "and show it the excerpts close in meaning (when the agent has rag_search)"
        ),
    )
    auto_retrieve_min_score: float = Field(
        0.45,
        ge=-1.0,
        le=1.0,
        description="cosine similarity the best excerpt needs for auto_retrieve to show excerpts",
    )
    auto_retrieve_top_k: int = Field(
        3,
        ge=1,
        le=20,
        description=(
            "excerpts auto_retrieve shows at most, the best by rag_search's ranking (more hold "
            "more of what a question needs, and cost a small model more to read)"
        ),
    )
    answer_checks: int = Field(
        1,
        ge=0,
        le=5,
        description=(
            "times per run an answer is checked and sent back to revise: wrong arithmetic (by "
            "the calculator), a step it stopped at, after a document lookup the question's "
            "numbers left unused or a looked-up value answered as is, with "
            "answer_check_programs what its program really prints; 0: no check"
        ),
    )
    answer_check_programs: bool = Field(
        True,
        description=(
            "the answer check runs a Python program the answer shows (in the run_python "
            "tool's sandbox, an allow-listed interpreter in a limited child process) and sends "
            "the answer back when the program prints another value; false: never run a "
            "program the model wrote, e.g. where its input is hostile"
        ),
    )
    answer_samples: int = Field(
        0,
        ge=0,
        le=16,
        description=(
            "replies sampled beside the first one at a step that ends in an answer; a numeric "
            "answer is then the value most replies reach (self-consistency). Decoded together "
            "with the first reply, they cost tokens more than time; 0 (default): off, as it "
            "measured no gain through the agent (README, Task success)"
        ),
    )
    answer_program: bool = Field(
        False,
        description=(
            "beside an answer, ask the model for a program that computes it (run in the "
            "run_python tool's sandbox; not with answer_check_programs false) and for a plain "
            "step-by-step reply, both shown the turn's tool results as text and decoded with "
            "the answer; where the printed value is not the answer's, the value two of the "
            "three reach wins (answer_samples does not apply)"
        ),
    )
    answer_sample_temperature: float = Field(
        0.7, gt=0.0, le=2.0, description="temperature of the sampled replies (answer_samples)"
    )

    # --- where things live ------------------------------------------------------------------
    data_dir: Path = Field(Path(".agent"), description="threads and the local vector store")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="model weights and other large caches"
    )
    checkpoint_path: Path | None = Field(
        None, description="SQLite file for threads (default: DATA_DIR/threads.sqlite)"
    )
    checkpoint_url: SecretStr | None = Field(
        None,
        description=(
            "PostgreSQL URL for threads (postgresql://user:password@host:5432/db); when set, "
            "threads live there, shared by every process and replica, instead of SQLite"
        ),
    )
    checkpoint_pool_size: int = Field(
        10, ge=1, description="connections per process to the PostgreSQL thread database"
    )
    approve_tools: list[str] = Field(
        default_factory=list,
        description=(
            "tools whose every call waits for a person's approval (the run stops; resume with "
            "decisions, or POST /threads/ID/decisions)"
        ),
    )
    durability: Literal["sync", "async", "exit"] = Field(
        "sync",
        description=(
            "when a run's steps are saved: 'sync' each before the next starts (a crash loses at "
            "most the step in progress), 'async' while the next one runs, 'exit' only when the "
            "run ends (cheapest; a crash loses the whole run in progress)"
        ),
    )
    checkpoint_sync: Literal["normal", "full"] = Field(
        "normal",
        description=(
            "SQLite threads: 'normal' survives a killed process (a power cut can lose the last "
            "steps); 'full' waits for the disk at every step"
        ),
    )
    gc_freeze: bool = Field(
        True,
        description=(
            "freeze the process's heap (`gc.freeze`) at an agent's first run, so Python's full "
            "collections stop walking the imported libraries: much of the CPU of many "
            "concurrent runs; a reference cycle alive then is never freed"
        ),
    )

    # --- the embedded local model (`agent llm pull|serve`) ------------------------------------
    local_model_dir: Path | None = Field(
        None, description="bf16 model folder to serve (default: CACHE_DIR/models/<model>/bf16)"
    )
    vllm_kv_cache_gib: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "vLLM CPU KV cache in GiB (1 GiB holds ~37k tokens of the 1.5B in bfloat16, ~18k "
            "in float32)"
        ),
    )
    vllm_max_model_len: int = Field(
        8192, ge=512, description="context length the local vLLM server accepts"
    )
    vllm_dtype: VllmDtype = Field(
        "auto",
        description=(
            "dtype the local vLLM server computes in; auto: bfloat16 on a GPU or a CPU with "
            "bfloat16 instructions (avx512_bf16, amx_bf16), else float32 where the RAM holds "
            "it, which reads prompts several times faster there at twice the weights' memory"
        ),
    )
    vllm_start_timeout_s: float = Field(
        900.0, gt=0, description="how long `agent llm serve` waits for the server to answer"
    )

    # --- vector store and the document corpus (rag_search) --------------------------------
    milvus_uri: str | None = Field(
        None,
        description=(
            "Milvus: a local .db path is Milvus Lite (one process per file), http(s)://host:19530 "
            "a server (default: DATA_DIR/milvus.db)"
        ),
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus server token (user:pass)")
    milvus_timeout_s: float = Field(30.0, gt=0, description="timeout of one Milvus call")
    docs_collection: str = Field(
        "documents",
        # env aliases bypass env_prefix, so both names are spelled in full; the second is the
        # name before the rename
        validation_alias=AliasChoices("AGENT_DOCS_COLLECTION", "AGENT_RAG_COLLECTION"),
        description="Milvus collection of the documents `agent docs add` ingests",
    )
    rag_max_tokens: int = Field(
        1500, ge=100, le=32000, description="token budget of one rag_search result"
    )
    chunk_size: int = Field(
        1000, ge=200, le=16000, description="target chunk size in characters (MiniLM reads ~1000)"
    )
    chunk_overlap: int = Field(150, ge=0, le=4000, description="overlap between chunks (chars)")
    embedding_backend: Literal["local", "openai"] = Field(
        "local",
        description=(
            "local: all-MiniLM-L6-v2 on CPU, offline; openai: an OpenAI-compatible /v1/embeddings "
            "endpoint (vLLM pooling models, TEI) at EMBEDDING_URL"
        ),
    )
    embedding_url: str | None = Field(
        None, description="base URL of the embeddings endpoint, ending in /v1"
    )
    embedding_model: str = Field(
        "all-MiniLM-L6-v2", description="embedding model name (openai backend: as served)"
    )
    embedding_api_key: SecretStr = Field(SecretStr("EMPTY"), description="embeddings API key")
    embedding_batch_size: int = Field(64, ge=1, le=4096, description="texts per embedding call")
    embedding_timeout_s: float = Field(60.0, gt=0, description="timeout of one embedding call")

    # --- known errors and MCP ---------------------------------------------------------------
    triage_min_similarity: float = Field(
        0.55,
        ge=-1.0,
        le=1.0,
        description=(
            "triage: cosine similarity a known error needs to count as a match when neither its "
            "signature nor its stack trace matched; below it the report says no known error "
            "matches and nothing is explained"
        ),
    )
    triage_min_trace_share: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description=(
            "triage: the share of a stack trace's own score (what the same trace in the KB "
            "would score) a known error's trace must reach to count as a match; below it an "
            "unknown trace is not explained as the nearest known one"
        ),
    )
    errors_milvus_uri: str | None = Field(
        None,
        description=(
            "Milvus URI of the known-error KB (collection mcp-errors); default: MILVUS_URI if it "
            "is a server, else the Lite file DATA_DIR/errors.db (the MCP server process owns it)"
        ),
    )
    mcp_servers: list[str] = Field(
        default_factory=lambda: ["builtin:errors"],
        description=(
            "MCP servers whose tools the agent gets, as a JSON list: 'builtin:errors' (our "
            "error-lookup server over stdio), an http(s):// streamable-HTTP URL, or a command "
            "line started over stdio (e.g. 'npx -y @modelcontextprotocol/server-everything')"
        ),
    )
    mcp_timeout_s: float = Field(60.0, gt=0, description="timeout of one MCP tool call")
    mcp_http_token: SecretStr | None = Field(
        None,
        description=(
            "bearer token `agent mcp serve --transport http` requires on every request "
            "(`Authorization: Bearer ...`); it must be set to bind a non-loopback address"
        ),
    )
    mcp_allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "extra Host header values `agent mcp serve --transport http` accepts, as a JSON "
            'list (e.g. ["kb.internal:8765"]); loopback and the bound address always are'
        ),
    )
    mcp_connect_timeout_s: float = Field(
        120.0, gt=0, description="time allowed to start and initialize an MCP server"
    )

    # --- `agent serve`: the agent over HTTP ---------------------------------------------------
    serve_token: SecretStr | None = Field(
        None,
        description=(
            "bearer token `agent serve` requires on every request but /healthz; it must be set "
            "to bind a non-loopback address"
        ),
    )
    serve_allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "extra Host header values `agent serve` accepts, as a JSON list (e.g. "
            '["agent.internal:8080"]); loopback and the bound address always are'
        ),
    )
    serve_max_body_bytes: int = Field(
        1_000_000, ge=1024, description="largest request body `agent serve` reads"
    )
    serve_gc_threshold: int = Field(
        10_000,
        ge=0,
        description=(
            "`agent serve`: allocations between the garbage collector's young-generation passes "
            "(Python's default is 700; 0 leaves Python's setting). Higher: fewer full passes "
            "over a heap that LangGraph and many concurrent runs make large"
        ),
    )

    @field_validator("llm_base_url", "llm_fallback_base_url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
        return value.rstrip("/")

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from arguments, env and ``.env``; errors become one ``ConfigError``
        that says where each bad value came from. A key of ``.env`` that looks like a setting
        and is none (``AGENT_MAX_STEP``) is an error too, as is one in the environment close
        to a setting's name: a misspelt variable would otherwise leave its setting at the
        default without a word."""
        env_file = Path(str(cls.model_config.get("env_file") or ".env"))
        dotenv = read_dotenv(env_file)
        known = {v for names in setting_variables().values() for v in names}
        problems = unknown_variables(known, dotenv, env_file)
        try:
            settings = cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                field = ".".join(str(p) for p in err["loc"])
                source = value_source(field, overrides, dotenv, env_file)
                problems.append(f"  {field} ({source}): {err['msg']}; got {err.get('input')!r}")
            raise ConfigError("invalid settings:\n" + "\n".join(problems)) from None
        if problems:
            raise ConfigError("invalid settings:\n" + "\n".join(problems))
        return settings

    @property
    def store_uri(self) -> str:
        """The Milvus URI to use: ``milvus_uri`` or the Lite file ``DATA_DIR/milvus.db``."""
        return self.milvus_uri or str(self.data_dir / "milvus.db")

    @property
    def errors_store_uri(self) -> str:
        """The known-error KB's Milvus URI: its own Lite file unless a server is configured."""
        if self.errors_milvus_uri:
            return self.errors_milvus_uri
        if self.milvus_uri and self.milvus_uri.startswith(("http://", "https://")):
            return self.milvus_uri
        return str(self.data_dir / "errors.db")

    @property
    def threads_db(self) -> Path:
        return self.checkpoint_path or self.data_dir / "threads.sqlite"

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: str) -> str:
        names = {n.strip() for n in value.split(",") if n.strip()}
        unknown = names - {"auto", *BUILTIN_TOOL_GROUPS}
        if unknown or not names or ("auto" in names and len(names) > 1):
            raise ValueError(
                f"use 'auto' or a comma-separated list of {', '.join(BUILTIN_TOOL_GROUPS)}"
            )
        return value

    def resolved_tools(self) -> set[str]:
        names = {n.strip() for n in self.tools.split(",") if n.strip()}
        if names != {"auto"}:
            return names
        return set(CODE_TOOLS if self.tool_call_mode == "code" else AUTO_TOOLS)


def setting_variables() -> dict[str, list[str]]:  # name -> AGENT_<NAME> and its aliases
    found = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        extra = [str(c).upper() for c in alias.choices] if isinstance(alias, AliasChoices) else []
        found[name] = [f"AGENT_{name.upper()}", *extra]
    return found
