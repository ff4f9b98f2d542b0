"""Settings: explicit arguments beat ``AGENT_*`` environment variables, which beat ``.env``.

Every field is ``AGENT_<FIELD>`` in the environment, e.g. ``AGENT_LLM_BASE_URL``,
``AGENT_MAX_STEPS``, ``AGENT_TOOL_CALL_MODE``. ``Settings.load(...)`` turns pydantic's validation
errors into one ``ConfigError`` that names the variable and what it accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.errors import ConfigError

ToolCallMode = Literal["native", "required"]

DEFAULT_LOCAL_MODEL = "qwen2.5-coder-0.5b-instruct"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "agent-runtime"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- the LLM server (any OpenAI-compatible server; vLLM first) -----------------------
    llm_base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL, ending in /v1"
    )
    llm_model: str = Field(DEFAULT_LOCAL_MODEL, description="model name the server serves")
    llm_api_key: SecretStr = Field(SecretStr("EMPTY"), description="API key (vLLM: any)")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(1024, ge=1, description="cap on tokens per LLM reply")
    llm_timeout_s: float = Field(120.0, gt=0, description="read timeout per LLM call")
    llm_connect_timeout_s: float = Field(5.0, gt=0)
    llm_max_retries: int = Field(
        2, ge=0, le=10, description="retries on connection errors, 429 and 5xx (with backoff)"
    )

    # --- the loop -------------------------------------------------------------------------
    tool_call_mode: Literal["auto", "native", "required"] = Field(
        "auto",
        description=(
            "native: tool_choice=auto and the server's parser makes tool_calls; required: "
            "tool_choice=required every step plus a final_answer tool (guided decoding; best "
            "for small models); auto: required for the small local default model, else native"
        ),
    )
    max_steps: int = Field(10, ge=1, le=200, description="LLM calls per run before giving up")
    max_repairs: int = Field(
        3, ge=0, le=50, description="failed tool calls per run the model may repair"
    )
    max_identical_calls: int = Field(
        2, ge=1, le=20, description="times the same call (name + arguments) may run in one run"
    )
    tool_timeout_s: float = Field(30.0, gt=0, description="default timeout of one tool call")

    # --- where things live ------------------------------------------------------------------
    data_dir: Path = Field(Path(".agent"), description="threads and the local vector store")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="model weights and other large caches"
    )
    checkpoint_path: Path | None = Field(
        None, description="SQLite file for threads (default: DATA_DIR/threads.sqlite)"
    )

    @field_validator("llm_base_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
        return value.rstrip("/")

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from arguments, env and ``.env``; errors become one ``ConfigError``."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            problems = []
            for err in exc.errors(include_url=False):
                field = ".".join(str(p) for p in err["loc"])
                env = f"AGENT_{field.upper()}"
                problems.append(f"  {field} (env {env}): {err['msg']}; got {err.get('input')!r}")
            raise ConfigError("invalid settings:\n" + "\n".join(problems)) from None

    @property
    def threads_db(self) -> Path:
        return self.checkpoint_path or self.data_dir / "threads.sqlite"

    def resolved_tool_call_mode(self) -> ToolCallMode:
        if self.tool_call_mode != "auto":
            return self.tool_call_mode
        # Small local models write calls as JSON text under tool_choice=auto; guided decoding
        # under `required` makes them reliable (measured: 0/5 vs 5/5 parsed calls).
        return "required" if self.llm_model == DEFAULT_LOCAL_MODEL else "native"
