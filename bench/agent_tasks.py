"""Task success against a real served model: does the agent reach the right answer more often
than the same model without it?

Arms, on the same server in the same run (interleaved question by question, so machine noise
hits them alike):

  agent  the project's default ``Agent`` (default tools, default settings, no persistence)
  bare   the same model, no tools, a plain "solve step by step" prompt
  raw    the plain OpenAI tool loop anyone writes in 40 lines: tool_choice=auto, run the calls,
         append the results, repeat; the same in-process tools as the agent, no validation
  program  the same model, no tools, asked for one Python program (program of thought), run by
         ``tools.run_python``; the answer is what it printed (gsm8k only: the ceiling a
         program-writing agent could reach with this model)

Suites (``bench/task_suites/``) read third-party data by path and are skipped, with a line
saying so, when it is absent:

  gsm8k   a fixed-seed sample of DATA/gsm8k/train.jsonl; right = the final number matches
  bfcl    BFCL v4 (simple, multiple, parallel, parallel_multiple) with the question's own
          functions as tools; right = the calls made match the ground truth (BFCL's AST rules)
  triage  Loghub lines and Defects4J traces against a KB built from the same data; right = the
          right entry cited with a non-empty cause and fix (agent arm: ``agent.triage``)
  mixed   54 questions on the Node.js API docs (MIT, Debian's nodejs package) that need a
          document lookup and a computation; right = the final number

    python bench/agent_tasks.py [--data ../shared/data] [--suites gsm8k] [--arms agent,bare,raw]
                                [--n 30] [--seed 0] [--save bench/results/NAME.json]
                                [--tasks ID,...]

Arms: ``agent`` (the default ``Agent``), ``agent+vote`` (the same with ``answer_program`` on),
``bare`` (no tools, a step-by-step prompt), ``raw`` (the plain OpenAI tool loop with the same
tools) and ``program`` (the model writes a program; its printed number is the answer).

The server is ``AGENT_LLM_BASE_URL`` / ``AGENT_LLM_MODEL`` (the local default: start it with
``agent llm serve --detach``). A question that fails ends as a result with its reason, counted
in the ``errors`` column; no arm stops the run. Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai
from langchain_core.messages import BaseMessage
from task_suites import ARMS, SUITES, RunOutput, Suite, SuiteSkipped, Task, suite_settings

from agent import Agent, AgentError, Settings, Tool
from agent.errors import ToolError
from agent.loop import PROGRAM_TOOL, recover_tool_calls
from agent.loop.agreement import AGREEMENT
from agent.loop.prompts import PLAIN_PROMPT, PROGRAM_PROMPT
from agent.tooling import parse_arguments, render_output
from tools.run_python import run_program

ROOT = Path(__file__).resolve().parents[1]
RAW_PROMPT = "You are a helpful assistant. Use the tools when they help."


@dataclass
class Outcome:
    suite: str
    arm: str
    task_id: str
    right: bool
    seconds: float
    tokens: int
    answer: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: str | None = None  # the reason a question failed (a run error, a server error)
    note: str | None = None  # the agent's: its answer was voted, corrected or rescued


@dataclass
class Cell:
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        n = len(self.outcomes)
        return {
            "n": n,
            "right": sum(o.right for o in self.outcomes),
            "accuracy": round(sum(o.right for o in self.outcomes) / n, 4) if n else None,
            "errors": sum(o.error is not None for o in self.outcomes),
            "s_per_question": round(sum(o.seconds for o in self.outcomes) / n, 2) if n else None,
            "tokens_per_question": round(sum(o.tokens for o in self.outcomes) / n) if n else None,
        }


# ---- arms ------------------------------------------------------------------------------------


async def run_agent(agent: Agent, task: Task) -> RunOutput:
    result = await agent.arun(task.question)
    calls = [
        (c.name, c.arguments if isinstance(c.arguments, dict) else {}) for c in result.tool_calls
    ]
    notes = [
        *([f"agreed: {result.agreed}"] if result.agreed else []),
        *([f"corrected: {'; '.join(result.corrected)}"] if result.corrected else []),
        *([f"rescued: {result.rescued}"] if result.rescued else []),
        *_votes(result.messages),
    ]
    return RunOutput(result.answer, calls, result.usage.total_tokens, "; ".join(notes) or None)


def _votes(messages: list[BaseMessage]) -> list[str]:
    """The last vote on an answer, for reading a run: the first reply, the other replies
    (samples, or the plain reply), the program."""
    notes = [n for m in messages if (n := m.response_metadata.get(AGREEMENT))]
    if not notes:
        return []
    values, program = notes[-1]["values"], notes[-1].get("program")
    others = " ".join(values[1:]) or "-"
    kind = "plain" if notes[-1].get("by") == "opinions" else "samples"
    return [f"votes: first {values[0]}, {kind} {others}, program {program}"]


async def _one_reply(
    client: openai.AsyncOpenAI, settings: Settings, system: str, task: Task
) -> tuple[str, int]:
    """The model's reply to the question under ``system``, no tools; and its tokens."""
    response = await client.chat.completions.create(
        model=settings.llm_model,
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": task.question},
        ],
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
    tokens = response.usage.total_tokens if response.usage else 0
    return response.choices[0].message.content or "", tokens


async def run_bare(client: openai.AsyncOpenAI, settings: Settings, task: Task) -> RunOutput:
    text, tokens = await _one_reply(client, settings, PLAIN_PROMPT, task)
    return RunOutput(text, [], tokens)


async def run_program_arm(client: openai.AsyncOpenAI, settings: Settings, task: Task) -> RunOutput:
    text, tokens = await _one_reply(client, settings, PROGRAM_PROMPT, task)
    found = recover_tool_calls(text, {PROGRAM_TOOL})
    code = found[0]["args"].get("code") if found else None
    if not isinstance(code, str):
        return RunOutput(text, [], tokens, "no program")
    try:
        printed = await run_program(code)
    except ToolError as exc:
        return RunOutput("", [(PROGRAM_TOOL, {"code": code})], tokens, f"program failed: {exc}")
    return RunOutput(printed, [(PROGRAM_TOOL, {"code": code})], tokens)


async def run_raw(
    client: openai.AsyncOpenAI, settings: Settings, tools: list[Tool], task: Task
) -> RunOutput:
    """The naive loop: no validation beyond what the tool itself does, no repair budget."""
    by_name = {t.name: t for t in tools}
    messages: list[Any] = [
        {"role": "system", "content": RAW_PROMPT},
        {"role": "user", "content": task.question},
    ]
    out = RunOutput("")
    for _ in range(settings.max_steps):
        response = await client.chat.completions.create(  # type: ignore[call-overload]
            model=settings.llm_model,
            messages=messages,
            tools=[t.openai_spec() for t in tools],
            tool_choice="auto",
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
        )
        out.tokens += response.usage.total_tokens if response.usage else 0
        message = response.choices[0].message
        if not message.tool_calls:
            out.answer = message.content or ""
            return out
        messages.append(message.model_dump(exclude_none=True))
        for tc in message.tool_calls:
            fn = getattr(tc, "function", None)
            name, raw_args = (fn.name, fn.arguments) if fn is not None else ("", "")
            try:
                args = parse_arguments(raw_args)
                out.calls.append((name, args if isinstance(args, dict) else {}))
                tool = by_name[name]
                content = render_output(await tool.ainvoke(tool.validate(args)))
            except Exception as exc:  # the naive loop reports anything back as text
                content = f"error: {exc}"
            messages.append({"role": "tool", "tool_call_id": tc.id, "content": content})
    return out


# ---- the run ---------------------------------------------------------------------------------


async def attempt(suite: Suite, arm: str, task: Task, run: Awaitable[RunOutput]) -> Outcome:
    started = time.perf_counter()
    try:
        out = await run
    except (AgentError, openai.APIError) as exc:
        return Outcome(
            suite.name, arm, task.id, False, time.perf_counter() - started, 0, error=repr(exc)
        )
    seconds = time.perf_counter() - started
    right = suite.check(task, out)
    return Outcome(
        suite.name, arm, task.id, right, seconds, out.tokens, out.answer, out.calls, note=out.note
    )


async def run_suite(
    suite: Suite, tasks: list[Task], arms: list[str], settings: Settings, verbose: bool
) -> dict[str, Cell]:
    arms = [a for a in arms if a in suite.arms]
    cells = {arm: Cell() for arm in arms}
    client = openai.AsyncOpenAI(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value(),
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
    )
    voting = settings.model_copy(update={"answer_program": True})
    async with contextlib.AsyncExitStack() as stack:
        default_agent = await stack.enter_async_context(Agent(settings, persistence="none"))
        vote_agent = (  # only when asked for: each Agent starts its own MCP server process
            await stack.enter_async_context(Agent(voting, persistence="none"))
            if "agent+vote" in arms
            else default_agent
        )
        for k, task in enumerate(tasks, start=1):
            for arm in arms:
                tools = task.tools if task.tools is not None else list(default_agent.tools)
                run: Awaitable[RunOutput]
                if arm == "agent":
                    own = suite.run_agent(task, settings)
                    run = _agent_arm(own, default_agent, settings, task)
                elif arm == "agent+vote":
                    run = run_agent(vote_agent, task)
                elif arm == "bare":
                    run = run_bare(client, settings, task)
                elif arm == "program":
                    run = run_program_arm(client, settings, task)
                else:  # the raw loop gets exactly the agent's tools
                    run = run_raw(client, settings, tools, task)
                outcome = await attempt(suite, arm, task, run)
                cells[arm].outcomes.append(outcome)
                mark = "ok " if outcome.right else ("ERR" if outcome.error else "no ")
                detail = outcome.error or outcome.answer.replace("\n", " ")[-80:]
                if outcome.note:
                    detail += f"  [{outcome.note}]"
                print(
                    f"[{suite.name} {k}/{len(tasks)}] {arm:10} {mark} {outcome.seconds:6.1f}s"
                    + (f"  {detail}" if verbose or outcome.error else ""),
                    file=sys.stderr,
                    flush=True,
                )
    await client.close()
    return cells


async def _agent_arm(
    own: Awaitable[RunOutput | None], default_agent: Agent, settings: Settings, task: Task
) -> RunOutput:
    out = await own
    if out is not None:
        return out
    if task.tools is None:
        return await run_agent(default_agent, task)
    async with Agent(settings, tools=task.tools, persistence="none") as agent:
        return await run_agent(agent, task)


def print_table(results: dict[str, dict[str, Cell]], settings: Settings) -> None:
    print(f"\nmodel {settings.llm_model} at {settings.llm_base_url}\n")
    print("| suite | arm | n | accuracy | errors | s/question | tokens/question |")
    print("|---|---|---|---|---|---|---|")
    for suite, cells in results.items():
        for arm, cell in cells.items():
            s = cell.summary()
            acc = f"{100 * s['accuracy']:.1f}%" if s["accuracy"] is not None else "-"
            print(
                f"| {suite} | {arm} | {s['n']} | {acc} | {s['errors']} | "
                f"{s['s_per_question']} | {s['tokens_per_question']} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--suites", default=",".join(SUITES), help="comma-separated")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--n", type=int, default=30, help="questions per suite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="also write the JSON result to this file")
    parser.add_argument("--verbose", action="store_true", help="print each answer's tail")
    parser.add_argument(
        "--tasks",
        default="",
        help="only these task ids of the sample (comma-separated), e.g. to re-run questions "
        "that failed for an outside reason",
    )
    args = parser.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    names = [s for s in args.suites.split(",") if s]
    unknown = [a for a in arms if a not in ARMS] + [s for s in names if s not in SUITES]
    if unknown:
        parser.error(
            f"unknown arm or suite: {', '.join(unknown)} (arms {', '.join(ARMS)}; "
            f"suites {', '.join(SUITES)})"
        )
    settings = Settings.load()
    results: dict[str, dict[str, Cell]] = {}
    for name in names:
        suite = SUITES[name]
        try:
            tasks = suite.load(args.data, args.n, args.seed)
            if args.tasks:
                tasks = [t for t in tasks if t.id in args.tasks.split(",")]
            own = suite_settings(suite, settings)  # mixed ingests its documents here
        except SuiteSkipped as exc:
            print(f"skip {name}: {exc}", file=sys.stderr)
            continue
        results[name] = asyncio.run(run_suite(suite, tasks, arms, own, args.verbose))
    print_table(results, settings)
    report = {
        "model": settings.llm_model,
        "base_url": settings.llm_base_url,
        "n": args.n,
        "seed": args.seed,
        "results": {s: {a: c.summary() for a, c in cells.items()} for s, cells in results.items()},
        "outcomes": [
            asdict(o) for cells in results.values() for c in cells.values() for o in c.outcomes
        ],
    }
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "outcomes"}))


if __name__ == "__main__":
    main()
