"""A scripted OpenAI-compatible server on loopback: the only fake LLM our tests use.

It speaks real HTTP (``/v1/chat/completions`` streaming and not, with ``tool_calls`` and
``usage``; ``/v1/models``), replays a script of responses in order, records every request body,
and fails loudly on an unexpected extra call or on leftover steps (``assert_done``)::

    with ScriptedServer([call("calculator", expression="2+2"), reply("4")]) as llm:
        agent = Agent(Settings.load(llm_base_url=llm.url), ...)
        agent.run("What is 2+2?")
        llm.assert_done()
        llm.requests[1]["messages"][-1]  # the tool message the model saw

A sampled reply (a request with a ``seed``, as the agent sends beside its first reply for
``AGENT_ANSWER_SAMPLES``) does not take a step of the script: it gets the reply of the step it
samples, as from a model whose samples agree with it, and is recorded in ``sampled``.

Instead of a script, a ``responder(request_body) -> Response`` can answer each request from
its content, samples included (benchmarks use one, since concurrent runs interleave). ``python -m
agent.testing.scripted_server --loop-steps 5`` serves such a responder for the benchmarks, in a
separate process so its CPU is not counted against the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.testing._wire import (
    err,
    keep_alive,
    send_json,
    send_raw,
    stream_completion,
)


@dataclass(frozen=True)
class Response:
    """One scripted reply. ``status`` other than 200 sends an OpenAI-style error body.

    For faults on the wire: ``body`` is sent as is (status 200, ``content_type``) instead of a
    completion; ``keepalive_forever`` answers with an event stream of ``: keep-alive`` comments
    that never ends; ``finish_reason`` replaces the one the reply would have.
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error: str = ""
    delay_s: float = 0.0
    usage: dict[str, int] | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    keepalive_forever: bool = False
    finish_reason: str | None = None


def reply(text: str, **kw: Any) -> Response:
    """The model answers with text."""
    return Response(content=text, **kw)


def call(name: str, arguments: dict[str, Any] | str | None = None, /, **kwargs: Any) -> Response:
    """The model calls one tool; ``arguments`` may be a raw string (e.g. malformed JSON)."""
    return calls((name, arguments if arguments is not None else kwargs))


def calls(*items: tuple[str, dict[str, Any] | str]) -> Response:
    """The model calls several tools in one step (parallel calls)."""
    return Response(tool_calls=[{"name": n, "arguments": a} for n, a in items])


def error(status: int, message: str = "scripted error") -> Response:
    return Response(status=status, error=message)


Responder = Callable[[dict[str, Any]], Response]


class ScriptedServer:
    """Serves a script on 127.0.0.1 from a background thread."""

    def __init__(
        self,
        script: Sequence[Response] = (),
        *,
        responder: Responder | None = None,
        model: str = "scripted-model",
        port: int = 0,
        record: bool = True,
        max_model_len: int = 32768,
        enforce_context: bool = False,
        chars_per_token: float = 4.0,
    ) -> None:
        self._script = list(script)
        self._responder = responder
        self.model = model
        self.max_model_len = max_model_len  # what /tokenize and /models report, as vLLM's do
        # refuse a request longer than max_model_len with vLLM's 400, counting tokens as
        # characters / chars_per_token (4: English; lower for a denser tokenizer, e.g. Chinese)
        self.enforce_context = enforce_context
        self.chars_per_token = chars_per_token
        self.requests: list[dict[str, Any]] = []
        self.sampled: list[dict[str, Any]] = []  # requests for sampled replies (with a seed)
        self._last: Response | None = None  # the step sampled replies repeat
        self.failures: list[str] = []
        self._port = port
        self._record = record  # off for long benchmark runs, where requests would pile up
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._lock = threading.Lock()
        self._ids = 0
        self._writers: set[asyncio.StreamWriter] = set()

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedServer:
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        async def boot() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self._port)
            ready.set()

        def run() -> None:
            loop.run_until_complete(boot())
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="scripted-llm", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("scripted server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop, server = self._loop, self._server

        async def shutdown() -> None:
            if server is not None:
                server.close()
                for w in list(self._writers):  # ends each handler's read cleanly
                    w.close()
                await server.wait_closed()
            # a handler still sleeping out a reply's delay (its client was killed) ends here,
            # not as a pending task destroyed with the loop
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- script ------------------------------------------------------------------------------

    def push(self, *responses: Response) -> None:
        with self._lock:
            self._script.extend(responses)

    @property
    def remaining(self) -> int:
        return len(self._script)

    def assert_done(self) -> None:
        """Fail if a request found no scripted step, or if scripted steps were never used."""
        problems = list(self.failures)
        if self._script:
            problems.append(f"{len(self._script)} scripted response(s) never requested")
        if problems:
            raise AssertionError("scripted LLM server: " + "; ".join(problems))

    def _next(self, body: dict[str, Any]) -> Response:
        with self._lock:
            sample = body.get("seed") is not None
            if self._record:
                (self.sampled if sample else self.requests).append(body)
            if self._responder is not None:
                return self._responder(body)
            if sample:
                return self._last or error(400, "scripted server: a sample of no step")
            if not self._script:
                msg = f"unexpected extra call #{len(self.requests)}: the script is exhausted"
                self.failures.append(msg)
                return error(400, f"scripted server: {msg}")
            self._last = self._script.pop(0)
            return self._last

    def _over_context(self, body: dict[str, Any]) -> str | None:
        """vLLM's refusal of a prompt that does not fit, when ``enforce_context`` is on."""
        if not self.enforce_context:
            return None
        prompt = prompt_tokens(body, self.chars_per_token)
        reply = int(body.get("max_tokens") or 0)
        if prompt + reply <= self.max_model_len:
            return None
        return (
            f"This model's maximum context length is {self.max_model_len} tokens. However, you "
            f"requested {prompt + reply} tokens ({prompt} in the messages, {reply} in the "
            "completion). Please reduce the length of the messages or completion."
        )

    # ---- HTTP --------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                await self._route(method, path, body, writer)
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _route(
        self, method: str, path: str, raw: bytes, writer: asyncio.StreamWriter
    ) -> None:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path.endswith("/models"):
            data = {
                "object": "list",
                "data": [
                    {
                        "id": self.model,
                        "object": "model",
                        "owned_by": "scripted",
                        "max_model_len": self.max_model_len,
                    }
                ],
            }
            return await send_json(writer, 200, data)
        if method == "POST" and path == "/tokenize":  # vLLM's, at the root; ~4 chars a token
            prompt = str(json.loads(raw or b"{}").get("prompt", ""))
            count = max(1, len(prompt) // 4)
            return await send_json(
                writer, 200, {"count": count, "max_model_len": self.max_model_len}
            )
        if method != "POST" or not path.endswith("/chat/completions"):
            return await send_json(writer, 404, err(f"no route {method} {path}"))
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return await send_json(writer, 400, err("request body is not JSON"))
        too_long = self._over_context(body)
        if too_long:
            with self._lock:
                if self._record:
                    self.requests.append(body)
            return await send_json(writer, 400, err(too_long))
        resp = self._next(body)
        if resp.delay_s:
            await asyncio.sleep(resp.delay_s)
        if resp.status != 200:
            return await send_json(writer, resp.status, err(resp.error))
        if resp.body is not None:
            return await send_raw(writer, resp.content_type, resp.body)
        if resp.keepalive_forever:
            return await keep_alive(writer)
        self._ids += 1
        cid = f"chatcmpl-{self._ids}"
        tool_calls = [
            {
                "id": tc.get("id") or f"call_{self._ids}_{i}",
                "type": "function",
                "function": {
                    "name": tc["name"],
                    "arguments": tc["arguments"]
                    if isinstance(tc["arguments"], str)
                    else json.dumps(tc["arguments"]),
                },
            }
            for i, tc in enumerate(resp.tool_calls)
        ]
        usage = resp.usage or {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
        finish = resp.finish_reason or ("tool_calls" if tool_calls else "stop")
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await stream_completion(
                self.model,
                writer,
                cid,
                resp.content,
                tool_calls,
                finish,
                usage if include_usage else None,
            )
        message: dict[str, Any] = {"role": "assistant", "content": resp.content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        await send_json(
            writer,
            200,
            {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            },
        )


def prompt_tokens(body: dict[str, Any], chars_per_token: float = 4.0) -> int:
    """The scripted server's token count of a request: ~4 characters a token, as /tokenize."""
    return int(len(json.dumps([body.get("messages", []), body.get("tools", [])])) / chars_per_token)


def schema_instance(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A small value valid under a JSON Schema (the subset pydantic writes): what the scripted
    model answers to a ``response_format`` request. Strings are ``"done"``."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return schema_instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return schema_instance(schema[key][0], defs)
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {k: schema_instance(props[k], defs) for k in schema.get("required", props)}
    if kind == "array":
        return [schema_instance(schema.get("items", {}), defs)] * max(schema.get("minItems", 1), 1)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return int(low) + 1 if kind == "integer" else float(low) + 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "done"


def loop_responder(
    steps: int, tool: str = "calculator", arguments: dict[str, Any] | None = None
) -> Responder:
    """Answer ``steps`` tool calls per conversation, then the final answer (a ``final_answer``
    call when the request says tool_choice=required), or a value of the request's
    ``response_format`` schema. Stateless, so runs may interleave."""
    args = arguments or {"expression": "1 + 1"}

    def respond(body: dict[str, Any]) -> Response:
        wanted = (body.get("response_format") or {}).get("json_schema")
        if wanted is not None:  # structured output: a value of the schema
            return reply(json.dumps(schema_instance(wanted["schema"])))
        done = sum(1 for m in body.get("messages", ()) if m.get("role") == "tool")
        if done < steps:
            return call(
                tool, dict(args, expression=f"{done} + 1") if tool == "calculator" else args
            )
        if body.get("tool_choice") == "required":
            return call("final_answer", answer="done")
        return reply("done")

    return respond


def spawn_loop_server(steps: int) -> tuple[subprocess.Popen[str], str]:
    """A ``loop_responder(steps)`` server in a process of its own (benchmarks time the client
    apart from it): the process and the server's URL. Terminate the process when done."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.testing.scripted_server", "--loop-steps", str(steps)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"the scripted server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--loop-steps",
        type=int,
        default=5,
        help="tool calls per conversation before the final answer",
    )
    ns = parser.parse_args()
    server = ScriptedServer(
        responder=loop_responder(ns.loop_steps), port=ns.port, record=False
    ).start()
    print(f"READY {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
