"""The fault matrix: each fault a user or a server can throw at the agent, and what came of it.

Every fault runs through the installed ``agent`` command in its own process (so a traceback or
a hang is seen as a user would see it), against a scripted LLM server that puts the fault on the
wire, or with the bad input on the command line, on stdin or on disk. Outcomes:

  recovered    the command did what was asked despite the fault (exit 0, the expected output)
  clear error  it stopped with a non-zero exit and a one-line message naming the problem
  lost         it reported success but something the user gave or was told is not saved
  hang         it did not end within the timeout (killed)
  traceback    a Python traceback reached the user

Target: 0 lost, 0 hang, 0 traceback.

    python bench/faults.py [--timeout 120] [--only NAME,...] [--postgres-url postgresql://...]

With ``--postgres-url`` (a database the bench may write to), the concurrent-writers
fault runs again with the threads in PostgreSQL; without it that row says "skipped".

Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.testing import Response, ScriptedServer, error, prompt_tokens, reply

AGENT = str(Path(sys.executable).parent / "agent")
SSE = "text/event-stream"


@dataclass
class Outcome:
    fault: str
    outcome: str
    detail: str
    seconds: float


@dataclass
class Ctx:
    llm: ScriptedServer
    home: Path
    timeout: float
    postgres_url: str | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
        env.update(
            AGENT_LLM_BASE_URL=self.llm.url,
            AGENT_LLM_MODEL="scripted-model",
            AGENT_DATA_DIR=str(self.home / "data"),
            AGENT_CACHE_DIR=str(self.home / "cache"),
            AGENT_TOOL_CALL_MODE="native",
            AGENT_LLM_MAX_RETRIES="0",
            AGENT_MCP_SERVERS="[]",
            AGENT_TOOLS="calculator",
            HF_HUB_OFFLINE="1",
        )
        env.update(extra)
        return env

    def run(
        self, *args: str | bytes, stdin: bytes = b"", env: dict[str, str] | None = None
    ) -> tuple[int | None, str]:
        """(exit code or None for a hang, stdout + stderr)."""
        try:
            done = subprocess.run(
                [AGENT, *args],
                input=stdin,
                env=env or self.env(),
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"") + (exc.stderr or b"")
            return None, out.decode(errors="replace")
        return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def judge(code: int | None, out: str, *, ok: Callable[[str], bool] | None = None) -> str:
    """The outcome of one command: hang, traceback, recovered (exit 0 and ``ok``), clear error."""
    if code is None:
        return "hang"
    if "Traceback (most recent call last)" in out:
        return "traceback"
    if code == 0:
        return "recovered" if ok is None or ok(out) else "lost"
    return "clear error" if "error" in out.lower() else "unclear error"


# ---- the faults -------------------------------------------------------------------------------


def concurrent_writers(ctx: Ctx, *, postgres: bool = False) -> tuple[str, str]:
    if postgres and ctx.postgres_url is None:
        return "skipped", "no --postgres-url given"

    def echo(body: dict[str, Any]) -> Response:
        q = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        return Response(content=f"answer to {q}", delay_s=0.5)

    thread = f"t-{uuid.uuid4().hex[:8]}"  # a shared database may hold earlier runs' threads
    with ScriptedServer(responder=echo) as slow:
        env = {**ctx.env(), "AGENT_LLM_BASE_URL": slow.url}
        if postgres:
            assert ctx.postgres_url is not None
            env["AGENT_CHECKPOINT_URL"] = ctx.postgres_url

        def asker(name: str) -> subprocess.Popen[bytes]:
            asks = [
                f'"{AGENT}" ask --json --thread {thread} "{name}-{i}" >/dev/null' for i in range(6)
            ]
            return subprocess.Popen(["sh", "-ec", "; ".join(asks)], env=env)

        procs = [asker("a"), asker("b")]
        codes = [p.wait(timeout=ctx.timeout * 4) for p in procs]
        done = subprocess.run(
            [sys.executable, "-c", HISTORY, str(ctx.home / "data"), slow.url, thread],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    roles = json.loads(done.stdout)
    pairs = list(zip(roles[::2], roles[1::2], strict=False))
    kept = sum(1 for q, a in pairs if q[0] == "human" and a == ["ai", f"answer to {q[1]}"])
    outcome = "recovered" if kept == 12 and all(c == 0 for c in codes) else "lost"
    return outcome, f"{kept}/12 turns kept as question+answer; exit codes {codes}"


HISTORY = """
import json, sys
from agent import Agent, Settings
s = Settings.load(data_dir=sys.argv[1], llm_base_url=sys.argv[2], mcp_servers=[])
with Agent(s, tools=[]) as a:
    print(json.dumps([[m.type, m.content] for m in a.history(sys.argv[3])]))
"""


def damaged_db(how: str) -> Callable[[Ctx], tuple[str, str]]:
    def fault(ctx: Ctx) -> tuple[str, str]:
        db = ctx.home / "data" / "threads.sqlite"
        db.parent.mkdir(parents=True, exist_ok=True)
        if how == "random bytes":
            db.write_bytes(os.urandom(8192))
        elif how == "truncated":
            with sqlite3.connect(db) as conn:
                conn.execute("CREATE TABLE t (x BLOB)")
                conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(2000),)] * 50)
            db.write_bytes(db.read_bytes()[:40_000])
        else:
            db.mkdir()
        code, out = ctx.run("ask", "hi")
        return judge(code, out), last_line(out)

    return fault


def on_the_wire(response: Response, *, stream: bool) -> Callable[[Ctx], tuple[str, str]]:
    def fault(ctx: Ctx) -> tuple[str, str]:
        ctx.llm.push(response)
        args = ("ask", "hi") if stream else ("ask", "--json", "hi")
        code, out = ctx.run(*args, env=ctx.env(AGENT_RUN_TIMEOUT_S="3"))
        return judge(code, out), last_line(out)

    return fault


def oversized_question(ctx: Ctx) -> tuple[str, str]:
    # 120 KB (an argument holds at most 128 KB) against an 8,192-token context
    with ScriptedServer([reply("first"), reply("after")], max_model_len=8192) as small:
        env = {**ctx.env(), "AGENT_LLM_BASE_URL": small.url}
        ctx.run("ask", "--thread", "big", "first question", env=env)
        code, out = ctx.run("ask", "--thread", "big", "word " * 24_000, env=env)
        outcome = judge(code, out)
        code2, out2 = ctx.run("ask", "--thread", "big", "next question", env=env)
    if code2 != 0 or "after" not in out2:
        outcome = "lost"
    return outcome, last_line(out) + f" | next turn exit {code2}"


def cut_off_call(ctx: Ctx) -> tuple[str, str]:
    cut = Response(
        tool_calls=[{"name": "calculator", "arguments": '{"expression": "12345 * 6'}],
        finish_reason="length",
    )
    ctx.llm.push(cut, reply("sorry"))
    code, out = ctx.run("ask", "--json", "multiply")
    ok = "max_tokens" in out
    return judge(code, out, ok=lambda _: ok), "the repair message names max_tokens: " + str(ok)


def cut_off_answer(ctx: Ctx) -> tuple[str, str]:
    ctx.llm.push(reply("The steps are: first", finish_reason="length"))
    code, out = ctx.run("ask", "--json", "explain")
    warned = "cut off" in out
    return judge(code, out, ok=lambda _: warned), "warning in the result: " + str(warned)


def huge_reply(ctx: Ctx) -> tuple[str, str]:
    ctx.llm.push(reply("x" * 1_200_000))
    code, out = ctx.run("ask", "--thread", "huge", "talk")
    return judge(code, out), last_line(out)


def binary_stdin(ctx: Ctx) -> tuple[str, str]:
    code, out = ctx.run("triage", "--no-llm", "-", stdin=b"\x00\xff\xfe\x01" * 256)
    return judge(code, out), last_line(out)


def bad_utf8_argument(ctx: Ctx) -> tuple[str, str]:
    code, out = ctx.run(b"ask", b"caf\xe9 \xff?")
    return judge(code, out), last_line(out)


def garbage_milvus(ctx: Ctx) -> tuple[str, str]:
    db = ctx.home / "data" / "milvus.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(os.urandom(4096))
    code, out = ctx.run("docs", "list")
    return judge(code, out), last_line(out)


def markup_in_names(ctx: Ctx) -> tuple[str, str]:
    doc = ctx.home / "[bold]notes[red].md"
    doc.write_text("# Notes\n\nThe build uses make.\n")
    wide = ctx.env(COLUMNS="400")  # the table keeps the long temp path on one line
    steps = (("add", str(doc)), ("list",), ("remove", str(doc)), ("list",))
    results = [ctx.run("docs", *a, env=wide) for a in steps]
    worst = "recovered"
    for code, out in results:
        verdict = judge(code, out)
        if verdict != "recovered":
            worst = verdict
    shown = "[bold]notes[red].md" in results[1][1]
    gone = "notes" not in results[3][1]  # removed, and still removed in a new process
    verdict = worst if worst != "recovered" or (shown and gone) else "lost"
    return verdict, f"name shown as is: {shown}; removed for good: {gone}"


def chat_after_error(ctx: Ctx) -> tuple[str, str]:
    ctx.llm.push(error(500, "engine crashed"), reply("It is 4."))
    code, out = ctx.run("chat", stdin=b"What is 2+2?\nWhat is 2+2?\n/exit\n")
    outcome = "clear error" if code not in (0, None) and "It is 4." in out else judge(code, out)
    return outcome, f"exit {code} after a failed turn and a good one"


def exposed_mcp_without_token(ctx: Ctx) -> tuple[str, str]:
    code, out = ctx.run("mcp", "serve", "--transport", "http", "--host", "0.0.0.0")
    return judge(code, out), last_line(out)


def exposed_serve_without_token(ctx: Ctx) -> tuple[str, str]:
    code, out = ctx.run("serve", "--host", "0.0.0.0")
    return judge(code, out), last_line(out)


def postgres_unreachable(ctx: Ctx) -> tuple[str, str]:
    closed = "postgresql://agent:s3cret@127.0.0.1:9/agent"  # port 9: nothing listens
    code, out = ctx.run("ask", "hello", env=ctx.env(AGENT_CHECKPOINT_URL=closed))
    if "s3cret" in out:
        return "lost", "the password was printed"
    return judge(code, out), last_line(out)


def last_line(out: str) -> str:
    lines = [ln.strip() for ln in out.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "(no output)")[:160]


def duplicate_ids(ctx: Ctx) -> tuple[str, str]:
    same = Response(
        tool_calls=[
            {"id": "c1", "name": "calculator", "arguments": {"expression": "1+2"}},
            {"id": "c1", "name": "calculator", "arguments": {"expression": "10+20"}},
        ]
    )
    ctx.llm.push(same, reply("3 and 30"))
    code, out = ctx.run("ask", "--json", "two sums")
    try:
        calls = json.loads(out.splitlines()[-1])["tool_calls"]
        right = [c["content"] for c in calls] == ["3", "30"]
    except (ValueError, KeyError, IndexError):
        right = False
    return judge(code, out, ok=lambda _: right), f"each call its own result: {right}"


def primary_llm_down(ctx: Ctx) -> tuple[str, str]:
    ctx.llm.push(reply("It is 4."))
    env = ctx.env(
        AGENT_LLM_BASE_URL="http://127.0.0.1:9/v1", AGENT_LLM_FALLBACK_BASE_URL=ctx.llm.url
    )
    code, out = ctx.run("ask", "--json", "What is 2+2?", env=env)
    said = "It is 4." in out and "fallback" in out
    return judge(code, out, ok=lambda _: said), f"answered by the fallback, and said so: {said}"


def thread_over_ten_contexts(ctx: Ctx) -> tuple[str, str]:
    said: list[str] = []

    def respond(body: dict[str, Any]) -> Response:
        question = body["messages"][-1]["content"]
        said.append(f"Noted: {question[:40]}. " + "More working. " * 15)
        return reply(said[-1])

    context, asks = 2048, 40
    asked: list[str] = []
    with ScriptedServer(responder=respond, max_model_len=context, enforce_context=True) as small:
        env = ctx.env(AGENT_LLM_BASE_URL=small.url, AGENT_MAX_TOKENS="256")
        codes: list[int | None] = []
        out = ""
        for n in range(asks):
            asked.append(f"entry {n}: " + "the ledger moved again today. " * 60)
            code, out = ctx.run("ask", "--thread", "ledger", asked[-1], env=env)
            codes.append(code)
            if code != 0:
                break
        refused = sum(1 for r in small.requests if prompt_tokens(r) + 256 > context)
    contexts = sum(map(len, [*asked, *said])) / 4 / context  # the server's 4 characters a token
    ok = codes.count(0) == asks and f"Noted: entry {asks - 1}" in out and refused == 0
    verdict = "recovered" if ok else judge(codes[-1], out)
    detail = f"{codes.count(0)}/{asks} turns answered; thread {contexts:.1f} contexts long"
    return verdict, f"{detail}; {refused} requests over the context"


def tool_call_limit(ctx: Ctx) -> tuple[str, str]:
    ctx.llm.push(
        Response(tool_calls=[{"name": "calculator", "arguments": {"expression": "1+1"}}]),
        Response(tool_calls=[{"name": "calculator", "arguments": {"expression": "2+2"}}]),
        reply("Next answer."),
    )
    env = ctx.env(AGENT_MAX_TOOL_CALLS="1")
    code, out = ctx.run("ask", "--thread", "limited", "sum things", env=env)
    verdict = judge(code, out)
    code2, out2 = ctx.run("ask", "--thread", "limited", "anything else?", env=env)
    if code2 != 0 or "Next answer." not in out2:
        verdict = "lost"
    return verdict, last_line(out) + f" | next turn exit {code2}"


def output_never_valid(ctx: Ctx) -> tuple[str, str]:
    schema = ctx.home / "count.schema.json"
    schema.write_text(
        '{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}'
    )
    ctx.llm.push(*(reply("no numbers here") for _ in range(5)))
    code, out = ctx.run("ask", "--schema", str(schema), "count", env=ctx.env(AGENT_MAX_REPAIRS="3"))
    return judge(code, out), last_line(out)


FAULTS: dict[str, Callable[[Ctx], tuple[str, str]]] = {
    "two processes write one thread": concurrent_writers,
    "two processes write one thread (PostgreSQL)": lambda ctx: concurrent_writers(
        ctx, postgres=True
    ),
    "PostgreSQL thread store unreachable": postgres_unreachable,
    "threads.sqlite: random bytes": damaged_db("random bytes"),
    "threads.sqlite: truncated": damaged_db("truncated"),
    "threads.sqlite: a directory": damaged_db("a directory"),
    "SSE error event": on_the_wire(
        Response(body=b'data: {"error": {"message": "model overloaded"}}\n\n', content_type=SSE),
        stream=True,
    ),
    "HTML page, status 200 (stream)": on_the_wire(
        Response(body=b"<html>nginx</html>", content_type="text/html"), stream=True
    ),
    "HTML page, status 200 (json)": on_the_wire(
        Response(body=b"<html>nginx</html>", content_type="text/html"), stream=False
    ),
    "garbled SSE": on_the_wire(
        Response(body=b'data: {"choices": [\n\n', content_type=SSE), stream=True
    ),
    "non-JSON body": on_the_wire(
        Response(body=b"not json at all", content_type="application/json"), stream=False
    ),
    "SSE keep-alives forever": on_the_wire(Response(keepalive_forever=True), stream=True),
    "server error 500": on_the_wire(error(500, "engine crashed"), stream=True),
    "question over the context": oversized_question,
    "tool call cut by max_tokens": cut_off_call,
    "answer cut by max_tokens": cut_off_answer,
    "1.2 MB reply": huge_reply,
    "binary stdin to triage": binary_stdin,
    "invalid UTF-8 argument": bad_utf8_argument,
    "garbage milvus.db": garbage_milvus,
    "markup in a file name": markup_in_names,
    "chat exit code after an error": chat_after_error,
    "MCP HTTP on 0.0.0.0 without token": exposed_mcp_without_token,
    "agent serve on 0.0.0.0 without token": exposed_serve_without_token,
    "duplicate tool-call ids": duplicate_ids,
    "primary LLM down (fallback set)": primary_llm_down,
    "a thread ten contexts long": thread_over_ten_contexts,
    "past AGENT_MAX_TOOL_CALLS": tool_call_limit,
    "output never matches --schema": output_never_valid,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a hang")
    parser.add_argument("--only", default="", help="comma-separated fault names")
    parser.add_argument(
        "--postgres-url", default=None, help="an empty PostgreSQL database for the threads"
    )
    args = parser.parse_args()
    chosen = [f for f in FAULTS if not args.only or f in args.only.split(",")]
    outcomes: list[Outcome] = []
    for i, name in enumerate(chosen, 1):
        with tempfile.TemporaryDirectory() as home, ScriptedServer(record=False) as llm:
            started = time.perf_counter()
            try:
                ctx = Ctx(llm, Path(home), args.timeout, args.postgres_url)
                outcome, detail = FAULTS[name](ctx)
            except Exception as exc:  # the bench itself failed on this fault: say so, go on
                outcome, detail = "bench error", f"{type(exc).__name__}: {exc}"[:160]
            outcomes.append(Outcome(name, outcome, detail, time.perf_counter() - started))
        print(f"[{i}/{len(chosen)}] {name}: {outcome}", file=sys.stderr, flush=True)
    print("| fault | outcome | detail | s |\n|---|---|---|---|")
    for o in outcomes:
        detail = o.detail.replace("|", "\\|")
        print(f"| {o.fault} | {o.outcome} | {detail} | {o.seconds:.1f} |")
    counts = Counter(o.outcome for o in outcomes)
    print()
    print(json.dumps({"faults": len(outcomes), **dict(sorted(counts.items()))}))


if __name__ == "__main__":
    main()
