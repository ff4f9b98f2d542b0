"""End to end on the default local model (Qwen2.5-Coder-1.5B-Instruct) served by CPU vLLM.

Run with ``pytest -m local_llm``. The session fixture reuses a server that already serves the
model at AGENT_LLM_BASE_URL (default http://127.0.0.1:8000/v1), or provisions the model and
starts one (2-4 min on 2 cores), and stops only a server it started itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from agent import Agent
from agent.cli import app
from agent.events import FinalEvent, ToolCallEvent, ToolResultEvent
from agent.llm import LangChainClient
from agent.local import (
    ServerConfig,
    ensure_local_model,
    local_model_paths,
    served_models,
    start_server,
    stop_server,
)
from agent.loop import probe_server
from agent.settings import Settings

pytestmark = pytest.mark.local_llm

# (question, expected answer): arithmetic, percentages, powers, functions, word problems.
CALCULATOR_CASES: list[Any] = [
    ("What is (1234 + 5678) / 2?", 3456),
    ("What is 17 * 23 - 4?", 387),
    ("What is 2 to the power of 10?", 1024),
    ("What is the square root of 144, plus 5?", 17),
    ("What is 240 times 0.15?", 36),
    ("I have 3 boxes of 48 apples and eat 7 apples. How many apples are left?", 137),
    ("What is 1000 divided by 8?", 125),
    ("What is 99 * 99?", 9801),
    ("What is 12.5 * 4 + 0.75?", 50.75),
    ("A rectangle is 13 cm by 7 cm. What is its area in square centimetres?", 91),
    ("What is 5000 - 1234 - 567?", 3199),
    pytest.param(
        "What is 7 factorial?",
        5040,
        marks=pytest.mark.xfail(
            reason="small models write 7! and repeat it after the hint (issue 14); not strict",
            strict=False,
        ),
    ),
]
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _case_id(case: Any) -> str:
    question = case.values[0] if hasattr(case, "values") else case[0]
    return str(question)[:40]


def numbers_in(text: str) -> list[float]:
    return [float(n) for n in _NUMBER.findall(text.replace(",", ""))]


def mentions(answer: str, expected: float) -> bool:
    return any(math.isclose(n, expected, rel_tol=1e-6) for n in numbers_in(answer))


@pytest.fixture(scope="session")
def local_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("local-llm-data"),
        tool_call_mode="required",
        # calculator questions, end to end: the calculator alone (what the default tool set
        # does to task success is bench/agent_tasks.py's question, not a test's)
        tools="calculator",
        mcp_servers=[],
    )
    models = served_models(settings.llm_base_url)
    if models is not None and settings.llm_model in models:
        yield settings
        return
    if importlib.util.find_spec("vllm") is None:
        pytest.skip(
            f"nothing serves {settings.llm_model} at {settings.llm_base_url} and vllm is not "
            "installed (pip install -e '.[local-cpu]')"
        )
    ensure_local_model(settings)
    cfg = ServerConfig.from_settings(settings, model_dir=local_model_paths(settings).model_dir)
    start_server(cfg)
    try:
        yield settings
    finally:
        stop_server(cfg)


@pytest.fixture(scope="session")
def local_agent(local_settings: Settings) -> Iterator[Agent]:
    with Agent(local_settings, persistence="memory") as agent:
        yield agent


@pytest.mark.parametrize(
    ("question", "expected"), CALCULATOR_CASES, ids=[_case_id(c) for c in CALCULATOR_CASES]
)
def test_calculator_question_end_to_end(local_agent: Agent, question: str, expected: float) -> None:
    result = local_agent.run(question)
    calculator_calls = [c for c in result.tool_calls if c.name == "calculator"]
    assert calculator_calls, f"no calculator call; answer {result.answer!r}"
    assert any(not c.is_error for c in calculator_calls), result.tool_calls
    assert mentions(result.answer, expected), (
        f"expected {expected} in {result.answer!r}; calls: "
        + "; ".join(f"{c.arguments} -> {c.content}" for c in result.tool_calls)
    )
    assert result.usage.output_tokens > 0


def test_streaming_shows_the_call_then_the_answer(local_agent: Agent) -> None:
    events = list(local_agent.stream("What is 321 + 123?"))
    kinds = [type(e) for e in events]
    assert ToolCallEvent in kinds and ToolResultEvent in kinds
    assert kinds.index(ToolCallEvent) < kinds.index(ToolResultEvent)
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert mentions(final.result.answer, 444)


def test_doctor_finds_required_mode_works(local_settings: Settings) -> None:
    args = ["doctor", "--base-url", local_settings.llm_base_url, "--refresh"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"serves: {local_settings.llm_model}" in result.output
    assert re.search(r"required\s*│\s*parsed", result.output), result.output
    assert "tool_call_mode=auto runs this server in" in result.output


def test_converted_model_keeps_the_tool_calling_chat_template(local_settings: Settings) -> None:
    from transformers import AutoTokenizer

    model_dir: Path = local_model_paths(local_settings).model_dir
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tool = {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": "Evaluate an arithmetic expression.",
            "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
        },
    }
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}], tools=[tool], tokenize=False
    )
    assert "<tools>" in prompt and '"name": "calculator"' in prompt
    assert "<tool_call>" in prompt  # the format vLLM's hermes parser reads back


class AppleCount(BaseModel):
    apples: int = Field(description="how many apples are left")


def test_typed_output_on_the_local_model(local_agent: Agent) -> None:
    """Guided JSON on the real vLLM: the output validates, and the sum is right."""
    question = "A shop has 3 boxes of 48 apples and sells 7 apples. How many apples are left?"
    result = local_agent.run(question, output_type=AppleCount)
    assert isinstance(result.output, AppleCount)
    assert result.output.apples == 137, (result.answer, result.tool_calls)


def test_a_langchain_chat_model_on_the_local_server(local_settings: Settings) -> None:
    """ChatOpenAI in place of the URL: the probe reaches vLLM's guided decoding through
    ChatOpenAI's tool_choice, and a run in the fixture's required mode gets the sum right."""
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        base_url=local_settings.llm_base_url,
        model=local_settings.llm_model,
        api_key="EMPTY",
        temperature=0,
        max_tokens=local_settings.max_tokens,
        timeout=local_settings.llm_timeout_s,
    )
    profile = asyncio.run(probe_server(LangChainClient(model)))
    assert profile.works("required") and profile.named_choice, profile.results
    with Agent(local_settings, model=model, persistence="memory") as agent:
        result = agent.run("What is 17 * 23 - 4?")
    assert any(c.name == "calculator" and not c.is_error for c in result.tool_calls)
    assert mentions(result.answer, 387), (result.answer, result.tool_calls)
