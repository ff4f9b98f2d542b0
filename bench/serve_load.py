"""Load on ``agent serve``: what the server adds over a raw OpenAI loop, and how it holds up.

Three processes: a zero-latency scripted LLM server (``--steps`` calculator calls, then the
answer, per run), ``agent serve`` in front of it (the installed command, calculator only), and
this one, whose clients each send one question at a time with the official ``openai`` client
(``POST /v1/chat/completions``, not streamed, every question on a new thread). The baseline is
the same clients running the raw tool loop themselves against the scripted server: the same
LLM calls and tool calls with no agent, no server and no thread store between.

For each thread store (SQLite always; PostgreSQL with ``--postgres-url``, a database the bench
may write to) and each concurrency in ``--levels``:

  p50 / p99       seconds per run as a client sees it, agent serve and raw loop
  added p50/p99   agent serve minus raw, the latency the server adds
  runs/s          completed runs per second, and agent serve / raw
  errors          runs that did not come back with the answer

Then memory per idle thread: the server's RSS grows by this much per thread it has served
(``--idle-threads`` more runs on new threads, then RSS again). On 2 cores the clients, the server
and the scripted LLM share the CPU: the figures are the whole box's, for one box.

    python bench/serve_load.py [--levels 1,16,64,256] [--steps 2] [--postgres-url URL]

Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.testing import spawn_loop_server

AGENT = str(Path(sys.executable).parent / "agent")
CALC_SPEC = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}
RunFn = Callable[[int], Awaitable[bool]]


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise SystemExit(f"agent serve exited with {proc.returncode}: {err[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"agent serve did not get ready within {timeout_s:g} s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def drive(fn: RunFn, concurrency: int, runs: int) -> dict[str, float]:
    """``runs`` runs, ``concurrency`` clients each running one after another."""
    latencies: list[float] = []
    errors = 0
    next_run = 0

    async def client() -> None:
        nonlocal next_run, errors
        while next_run < runs:
            i = next_run
            next_run += 1
            start = time.perf_counter()
            try:
                ok = await fn(i)
            except Exception:  # noqa: BLE001 - a failed run is a counted outcome here
                ok = False
            latencies.append(time.perf_counter() - start)
            errors += not ok

    wall0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - wall0
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "p50_s": statistics.median(latencies),
        "p99_s": q[98],
        "runs_per_s": runs / wall,
        "errors": errors,
        "runs": runs,
    }


def raw_loop(llm_url: str) -> tuple[RunFn, Callable[[], Awaitable[None]]]:
    import openai

    client = openai.AsyncOpenAI(base_url=llm_url, api_key="x", max_retries=0, timeout=120)

    async def run(i: int) -> bool:
        messages: list[dict[str, Any]] = [{"role": "user", "content": f"question {i}"}]
        while True:
            resp = await client.chat.completions.create(
                model="scripted-model",
                messages=messages,  # type: ignore[arg-type]
                tools=[CALC_SPEC],  # type: ignore[list-item]
            )
            msg = resp.choices[0].message
            if resp.choices[0].finish_reason != "tool_calls":
                return msg.content == "done"
            messages.append(msg.model_dump(exclude_none=True))
            for tc in msg.tool_calls or ():
                expression = json.loads(tc.function.arguments)["expression"]  # type: ignore[union-attr]
                left, right = (int(x) for x in expression.split("+"))
                messages.append(
                    {"role": "tool", "tool_call_id": tc.id, "content": str(left + right)}
                )

    return run, client.close


def served(url: str) -> tuple[RunFn, Callable[[], Awaitable[None]]]:
    import httpx2
    import openai

    # The default connection pool holds 100 connections: give every client one of its own.
    http = openai.DefaultAsyncHttpxClient(limits=httpx2.Limits(max_connections=1024))
    client = openai.AsyncOpenAI(
        base_url=url + "/v1", api_key="x", max_retries=0, timeout=300, http_client=http
    )

    async def run(i: int) -> bool:
        resp = await client.chat.completions.create(
            model="agent", messages=[{"role": "user", "content": f"question {i}"}]
        )
        return resp.choices[0].message.content == "done"

    return run, client.close


def store_env(
    base: dict[str, str], llm_url: str, home: Path, postgres_url: str | None
) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(("AGENT_", "OTEL_"))}
    env.update(
        AGENT_LLM_BASE_URL=llm_url,
        AGENT_LLM_MODEL="scripted-model",
        AGENT_DATA_DIR=str(home / "data"),
        AGENT_CACHE_DIR=str(home / "cache"),
        AGENT_TOOL_CALL_MODE="native",
        AGENT_MCP_SERVERS="[]",
        AGENT_TOOLS="calculator",
        AGENT_AUTO_RETRIEVE="false",
        AGENT_ANSWER_SAMPLES="0",  # one request per step, as the raw loop it is compared with
        AGENT_LLM_MAX_RETRIES="0",
        HF_HUB_OFFLINE="1",
    )
    if postgres_url:
        env["AGENT_CHECKPOINT_URL"] = postgres_url
    return env


async def measure_store(
    ns: argparse.Namespace, llm_url: str, store: str, postgres_url: str | None
) -> dict[str, Any]:
    raw_run, raw_close = raw_loop(llm_url)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = store_env(dict(os.environ), llm_url, Path(tmp), postgres_url)
        with process([AGENT, "serve", "--port", str(port)], env=env) as server:
            wait_healthy(url, server)
            serve_run, serve_close = served(url)
            await drive(serve_run, 4, 40)  # warm-up: imports, connections, the first thread
            await drive(raw_run, 4, 40)
            levels: dict[str, Any] = {}
            for c in ns.levels:
                runs = max(ns.min_runs, ns.runs_per_client * c)
                # interleaved, the raw loop first at every level
                raw = await drive(raw_run, c, runs)
                agent = await drive(serve_run, c, runs)
                levels[str(c)] = {"raw": raw, "serve": agent}
                print(
                    f"[{store}] {c:>4} concurrent: serve {agent['runs_per_s']:.1f} runs/s, "
                    f"raw {raw['runs_per_s']:.1f} runs/s, errors {agent['errors']}",
                    file=sys.stderr,
                )
            rss0 = rss_mib(server.pid)
            await drive(serve_run, 16, ns.idle_threads)
            rss1 = rss_mib(server.pid)
            await serve_close()
    await raw_close()
    return {
        "levels": levels,
        "rss_mib_before": rss0,
        "rss_mib_after": rss1,
        "idle_threads": ns.idle_threads,
        "kib_per_idle_thread": 1024 * (rss1 - rss0) / ns.idle_threads,
    }


async def main_async(ns: argparse.Namespace) -> dict[str, Any]:
    llm, llm_url = spawn_loop_server(ns.steps)
    try:
        stores: dict[str, Any] = {"sqlite": await measure_store(ns, llm_url, "sqlite", None)}
        if ns.postgres_url:
            stores["postgres"] = await measure_store(ns, llm_url, "postgres", ns.postgres_url)
    finally:
        llm.terminate()
        llm.wait(10)
    return stores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--levels", default="1,16,64,256", help="concurrent clients, comma-separated"
    )
    parser.add_argument("--steps", type=int, default=2, help="tool calls per run before the answer")
    parser.add_argument("--runs-per-client", type=int, default=4)
    parser.add_argument("--min-runs", type=int, default=64, help="runs per level at least")
    parser.add_argument("--idle-threads", type=int, default=1000)
    parser.add_argument("--postgres-url", default=None, help="a database the bench may write to")
    ns = parser.parse_args()
    ns.levels = [int(x) for x in ns.levels.split(",")]
    stores = asyncio.run(main_async(ns))

    print(
        f"\nagent serve vs a raw OpenAI loop: {ns.steps} tool calls + answer per run, "
        f"zero-latency scripted LLM, {os.cpu_count()} cores shared by clients, server and LLM"
    )
    header = (
        f"{'store':<9} {'clients':>7} {'serve p50':>10} {'p99':>8} {'raw p50':>9} {'p99':>8} "
        f"{'added p50':>10} {'p99':>8} {'runs/s':>8} {'x raw':>6} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    summary: dict[str, Any] = {"bench": "serve_load", "steps": ns.steps, "stores": {}}
    for store, result in stores.items():
        rows = {}
        for c, lv in result["levels"].items():
            s, r = lv["serve"], lv["raw"]
            added50 = s["p50_s"] - r["p50_s"]
            added99 = s["p99_s"] - r["p99_s"]
            ratio = s["runs_per_s"] / r["runs_per_s"]
            print(
                f"{store:<9} {c:>7} {1000 * s['p50_s']:>8.1f}ms {1000 * s['p99_s']:>6.0f}ms "
                f"{1000 * r['p50_s']:>7.1f}ms {1000 * r['p99_s']:>6.0f}ms "
                f"{1000 * added50:>8.1f}ms {1000 * added99:>6.0f}ms "
                f"{s['runs_per_s']:>8.1f} {ratio:>6.2f} {s['errors']:>6}"
            )
            rows[c] = {
                "serve": s,
                "raw": r,
                "added_p50_ms": 1000 * added50,
                "added_p99_ms": 1000 * added99,
                "runs_per_s_ratio": ratio,
            }
        summary["stores"][store] = {
            "levels": rows,
            "kib_per_idle_thread": result["kib_per_idle_thread"],
            "rss_mib": [result["rss_mib_before"], result["rss_mib_after"]],
        }
        print(
            f"{store}: server RSS {result['rss_mib_before']:.0f} MiB -> "
            f"{result['rss_mib_after']:.0f} MiB after {result['idle_threads']} more threads = "
            f"{result['kib_per_idle_thread']:.1f} KiB per idle thread"
        )
    if not ns.postgres_url:
        print("postgres: skipped (no --postgres-url)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
