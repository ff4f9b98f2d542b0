"""What the server does with tools, measured instead of guessed from the model's name.

``tool_call_mode=auto`` sends a few tiny sums with one ``add`` tool, once per ``tool_choice``:

* ``auto``: does the reply carry the call, either as ``tool_calls`` from the server's parser
  (vLLM: ``--enable-auto-tool-choice --tool-call-parser ...``) or as JSON in the text that the
  loop recovers (``recover_tool_calls``; small models write calls so)? Then the agent runs in
  ``native`` mode: the model may think in text and answers in text.
* ``required``: does guided decoding force a valid call? The fallback mode.
* named (``{"type": "function", "function": {"name": "add"}}``): does the server constrain a
  call to one tool? The agent then uses it to repair a call that failed validation.

The result is cached on disk per (base URL, model), so the probe costs a few seconds once;
``agent doctor`` shows it and ``agent doctor --refresh`` measures again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import HumanMessage

from agent.errors import LLMResponseError
from agent.llm import ChatClient
from agent.loop._recovery import recover_tool_calls
from agent.settings import Settings, ToolCallMode
from agent.text import clip

ProbeChoice = Literal["auto", "required", "named"]
ProbeOutcome = Literal["parsed", "recovered", "wrong-args", "as-text", "no-call", "error"]
CHOICES: tuple[ProbeChoice, ...] = ("auto", "required", "named")
_FORMAT = 2  # bump when the probe changes, so old cache files are measured again

PROBE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers and return the sum.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "number", "description": "first addend"},
                "b": {"type": "number", "description": "second addend"},
            },
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    },
}
PROBE_QUESTIONS: tuple[tuple[str, float, float], ...] = (
    ("What is 17 + 25? Use the add tool.", 17, 25),
    ("Please add 1203 and 88 with the tool.", 1203, 88),
    ("Compute 3.5 plus 4.25 using add.", 3.5, 4.25),
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    choice: ProbeChoice
    outcome: ProbeOutcome
    detail: str
    seconds: float


@dataclass(frozen=True, slots=True)
class ServerProfile:
    """How one (server, model) handles tool calls, from ``probe_server``."""

    base_url: str
    model: str
    results: tuple[ProbeResult, ...]
    probed_at: str

    def works(self, choice: ProbeChoice) -> bool:
        """Every probe of ``choice`` gave the right call, parsed by the server or (for
        ``auto``, where native mode recovers calls from text) recovered by the loop."""
        own = [r for r in self.results if r.choice == choice]
        return bool(own) and all(r.outcome in ("parsed", "recovered") for r in own)

    @property
    def mode(self) -> ToolCallMode:
        """native when calls under ``tool_choice=auto`` arrive (the model keeps room to reason
        in text), else required when guided decoding works; native when neither does."""
        if self.works("auto"):
            return "native"
        return "required" if self.works("required") else "native"

    @property
    def named_choice(self) -> bool:
        return self.works("named")

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerProfile | None:
        if data.get("format") != _FORMAT:
            return None
        try:
            results = tuple(ProbeResult(**r) for r in data["results"])
            return cls(data["base_url"], data["model"], results, data["probed_at"])
        except (KeyError, TypeError):
            return None


def _choice_payload(choice: ProbeChoice) -> str | dict[str, Any]:
    if choice == "named":
        return {"type": "function", "function": {"name": "add"}}
    return choice


async def probe_once(
    llm: ChatClient, choice: ProbeChoice, question: str, a: float, b: float
) -> ProbeResult:
    """One chat completion with the probe tool; classify what came back. A server that is
    down raises ``LLMUnavailableError``: there is nothing to measure."""
    started = time.perf_counter()
    try:
        ai = await llm.complete(
            [HumanMessage(question)],
            tools=[PROBE_TOOL],
            tool_choice=_choice_payload(choice),
            max_tokens=96,
        )
    except LLMResponseError as exc:
        return ProbeResult(choice, "error", _short(str(exc)), time.perf_counter() - started)
    seconds = time.perf_counter() - started
    text = ai.content if isinstance(ai.content, str) else ""
    recovered = recover_tool_calls(text, {"add"}) if not ai.tool_calls else []
    if not ai.tool_calls and not recovered:
        outcome: ProbeOutcome = "as-text" if '"add"' in text or "add(" in text else "no-call"
        return ProbeResult(choice, outcome, _short(text) or "(empty reply)", seconds)
    call = (ai.tool_calls or recovered)[0]
    try:
        ok = call["name"] == "add" and float(call["args"]["a"]) + float(call["args"]["b"]) == a + b
    except (KeyError, TypeError, ValueError):
        ok = False
    detail = _short(f"{call['name']}({json.dumps(call['args'])})")
    good: ProbeOutcome = "parsed" if ai.tool_calls else "recovered"
    return ProbeResult(choice, good if ok else "wrong-args", detail, seconds)


async def probe_server(llm: ChatClient, *, questions: int = 2) -> ServerProfile:
    results = [
        await probe_once(llm, choice, *question)
        for choice in CHOICES
        for question in PROBE_QUESTIONS[:questions]
    ]
    return ServerProfile(llm.base_url, llm.model, tuple(results), datetime.now(UTC).isoformat())


def profile_path(settings: Settings, base_url: str | None = None, model: str | None = None) -> Path:
    """Where the profile of ``base_url`` / ``model`` (default: the settings' server) is kept."""
    where = f"{base_url or settings.llm_base_url}\n{model or settings.llm_model}"
    key = hashlib.sha256(where.encode()).hexdigest()
    return settings.cache_dir / "server-profiles" / f"{key[:16]}.json"


def cached_profile(
    settings: Settings, base_url: str | None = None, model: str | None = None
) -> ServerProfile | None:
    try:
        data = json.loads(profile_path(settings, base_url, model).read_text())
    except (OSError, ValueError):
        return None
    return ServerProfile.from_json(data) if isinstance(data, dict) else None


def save_profile(settings: Settings, profile: ServerProfile) -> None:
    path = profile_path(settings, profile.base_url, profile.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(profile.to_json(), indent=2))
    tmp.replace(path)


async def server_profile(
    llm: ChatClient, settings: Settings, *, refresh: bool = False
) -> ServerProfile:
    """The cached profile of ``llm``'s server and model (any ``ChatClient``: a LangChain
    model is probed the same way), probing and caching it in ``settings.cache_dir`` when
    missing."""
    profile = (
        None
        if refresh
        else await asyncio.to_thread(cached_profile, settings, llm.base_url, llm.model)
    )
    if profile is None:
        profile = await probe_server(llm)
        await asyncio.to_thread(save_profile, settings, profile)
    return profile


def _short(text: str) -> str:
    return clip(" ".join(text.split()), 80)


def describe_mode(settings: Settings) -> str:
    """The tool-call mode for display: ``native``, or ``auto -> required (probed)``."""
    if settings.tool_call_mode != "auto":
        return settings.tool_call_mode
    profile = cached_profile(settings)
    return f"auto -> {profile.mode} (probed)" if profile else "auto (probed on the first run)"
