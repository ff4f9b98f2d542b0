"""The real ``agent chat`` in a pseudo-terminal (pexpect), against the scripted LLM server.

Each test starts the installed ``agent`` command with ``AGENT_*`` variables pointing at a
``ScriptedServer`` running in the test process, types into it like a person, and checks both what
the screen shows (ANSI codes stripped) and what the model was sent.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from agent import Agent
from agent.cli.exit_codes import ExitCode
from agent.events import Approval, ToolCallRequest
from agent.settings import Settings
from agent.testing import Response, ScriptedServer, call, error, reply

AGENT = str(Path(sys.executable).parent / "agent")
START_TIMEOUT = 90  # a cold start imports langgraph, openai and jsonschema: slow on a busy box
STEP_TIMEOUT = 20
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
USAGE = r"\d+ tokens \("


def plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


def chat_env(url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
    env.update(
        AGENT_LLM_BASE_URL=url,
        AGENT_LLM_MODEL="scripted-model",
        AGENT_DATA_DIR=str(data_dir),
        AGENT_TOOL_CALL_MODE="native",
        AGENT_LLM_MAX_RETRIES="0",
        AGENT_MCP_SERVERS="[]",  # no error-lookup server process: these tests are about the REPL
        PROMPT_TOOLKIT_NO_CPR="1",  # no cursor-position queries a pty would never answer
        TERM="xterm-256color",
    )
    env.pop("NO_COLOR", None)
    return env


class Chat:
    """One ``agent chat`` process in a pty; ``screen`` is everything it printed, ANSI-free."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.log = io.StringIO()
        self.seen = 0  # how far into ``screen`` the expectations have consumed
        self.child = pexpect.spawn(
            AGENT,
            ["chat", *args],
            env=env,
            cwd=str(cwd),
            encoding="utf-8",
            codec_errors="replace",
            dimensions=(40, 110),
            timeout=STEP_TIMEOUT,
        )
        self.child.logfile_read = self.log
        self.expect(r"(new|resumed) thread", timeout=START_TIMEOUT)
        self.prompt()

    @property
    def screen(self) -> str:
        return plain(self.log.getvalue())

    def expect(self, pattern: str, timeout: float = STEP_TIMEOUT) -> str:
        """Wait until ``pattern`` shows on the screen after what was already matched (styles
        split text into pieces in the raw output, so match on the ANSI-free text)."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.screen, self.seen)
            if found:
                self.seen = found.end()
                return found.group(0)
            left = deadline - time.monotonic()
            if left <= 0 or not self.child.isalive():
                tail = self.screen[self.seen :][-1500:]
                raise AssertionError(f"{pattern!r} did not show up; the screen ends with:\n{tail}")
            try:
                self.child.read_nonblocking(size=65536, timeout=min(left, 0.2))
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                continue

    def prompt(self) -> None:
        self.expect("›")

    def submit(self, text: str) -> None:
        self.child.send(text + "\r")

    def turn(self, question: str) -> str:
        """Ask and wait for the turn's usage line; returns what the turn printed."""
        start = self.seen
        self.submit(question)
        self.expect(USAGE)
        self.prompt()
        return self.screen[start : self.seen]

    def exit(self) -> int:
        self.submit("/exit")
        self.child.expect(pexpect.EOF, timeout=STEP_TIMEOUT)
        self.child.close()
        return int(self.child.exitstatus or 0)

    def kill(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def env(scripted_llm: ScriptedServer, tmp_path: Path) -> dict[str, str]:
    return chat_env(scripted_llm.url, tmp_path / "data")


@pytest.fixture
def chats() -> Iterator[list[Chat]]:
    """Started chats, killed at the end whatever happened."""
    started: list[Chat] = []
    yield started
    for chat in started:
        chat.kill()


def start(chats: list[Chat], env: dict[str, str], cwd: Path, *args: str) -> Chat:
    chat = Chat(env, cwd, *args)
    chats.append(chat)
    return chat


def tool_contents(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_streamed_answer_with_a_tool_panel(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path, chats: list[Chat]
) -> None:
    scripted_llm.push(
        call("calculator", expression="6*7"),
        reply("The answer is **42**, as the calculator says."),
    )
    chat = start(chats, env, tmp_path)
    out = chat.turn("What is 6*7?")
    assert chat.exit() == 0
    scripted_llm.assert_done()
    assert all(r["stream"] is True for r in scripted_llm.requests)
    # the tool panel: name, arguments, result, duration
    assert "✓ calculator" in out and 'expression="6*7"' in out and "→ 42" in out
    assert re.search(r"\d+\.\d\ds", out)
    # the text as it streamed (raw, in the live region), then rendered as markdown
    assert "The answer is **42**" in out
    assert re.search(r"^The answer is 42, as the calculator says\.", out, re.MULTILINE)
    assert "2 steps · 50 tokens (40 in, 10 out)" in out
    assert "What is 6*7?" in (tmp_path / "data" / "chat_history").read_text()


def test_slash_commands_tools_mode_and_help(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path, chats: list[Chat]
) -> None:
    chat = start(chats, env, tmp_path)
    chat.child.send("/too")
    chat.expect("the tools the agent may call")  # the completion menu, as you type
    chat.submit("\t")  # Tab completes /too -> /tools
    chat.expect("arguments")
    chat.prompt()
    chat.submit("/help")
    chat.expect("/approve")
    chat.prompt()
    chat.submit("/frobnicate")
    chat.expect("unknown command")
    chat.prompt()
    chat.submit("/mode required")
    chat.expect(r"tool-call mode: required")
    chat.prompt()
    # In required mode the answer arrives as a final_answer call: no tokens, still rendered.
    scripted_llm.push(call("final_answer", answer="Required mode works."))
    out = chat.turn("hello")
    assert chat.exit() == 0
    scripted_llm.assert_done()
    screen = chat.screen
    assert "calculator" in screen and "expression: string (required)" in screen
    assert "/resume ID" in screen
    assert "Required mode works." in out and "final_answer" not in out
    assert scripted_llm.requests[0]["tool_choice"] == "required"


def test_approval_refused_approved_and_edited(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path, chats: list[Chat]
) -> None:
    scripted_llm.push(
        call("calculator", expression="2+2"),
        call("calculator", expression="3+3"),
        call("calculator", expression="4+4"),
        reply("all done"),
    )
    chat = start(chats, env, tmp_path)
    chat.submit("/approve on")
    chat.expect("approval on")
    chat.prompt()
    chat.submit("compute things")
    chat.expect(r"Run it\?")
    chat.submit("n not now")
    chat.expect(r"Run it\?")
    chat.submit("y")
    chat.expect(r"Run it\?")
    chat.submit("e")
    chat.expect(r"arguments \(JSON\)")
    chat.submit("\x15" + '{"expression": "5*5"}')  # Ctrl-U clears the pre-filled arguments
    chat.expect(USAGE)
    chat.prompt()
    # Ctrl-C at the approval prompt cancels the turn; the next question still works.
    scripted_llm.push(call("calculator", expression="7+7"), reply("back again"))
    chat.submit("one more")
    chat.expect(r"Run it\?")
    chat.child.sendintr()
    chat.expect("cancelled")
    chat.prompt()
    assert "back again" in chat.turn("go on")
    assert chat.exit() == 0
    scripted_llm.assert_done()
    roles = [m["role"] for m in scripted_llm.requests[-1]["messages"]]
    assert roles[-4:] == ["user", "assistant", "tool", "user"]  # the open call was answered
    refused, approved, edited = (tool_contents(r)[-1] for r in scripted_llm.requests[1:4])
    assert "did not allow" in refused and "not now" in refused
    assert approved == "6"
    assert edited == "25"
    screen = chat.screen
    assert "approve? calculator" in screen
    assert 'expression="5*5"' in screen  # the panel shows the arguments that really ran

    assert "all done" in screen


def test_tools_that_need_approval_stop_the_run_and_the_repl_asks(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path, chats: list[Chat]
) -> None:
    """AGENT_APPROVE_TOOLS, without /approve: the run stops, the REPL asks, the run resumes."""
    env = {**env, "AGENT_APPROVE_TOOLS": '["calculator"]'}
    scripted_llm.push(call("calculator", expression="2+2"), reply("four"))
    chat = start(chats, env, tmp_path)
    chat.submit("2+2?")
    chat.expect("waiting for approval")
    chat.expect(r"Run it\?")
    chat.submit("y")
    chat.expect("four")
    chat.prompt()
    assert chat.exit() == 0
    scripted_llm.assert_done()
    assert tool_contents(scripted_llm.requests[-1]) == ["4"]


def test_ctrl_c_cancels_the_turn_and_the_thread_goes_on(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path, chats: list[Chat]
) -> None:
    scripted_llm.push(Response(content="too late", delay_s=30), reply("fast answer"))
    chat = start(chats, env, tmp_path)
    chat.submit("slow question")
    chat.expect("thinking")  # the spinner while waiting for the first token
    deadline = time.monotonic() + STEP_TIMEOUT
    while not scripted_llm.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scripted_llm.requests, "the chat never called the LLM"
    chat.child.sendintr()
    chat.expect("cancelled")
    chat.prompt()
    out = chat.turn("second question")
    assert chat.exit() == 0
    assert "fast answer" in out and "too late" not in chat.screen
    messages = scripted_llm.requests[1]["messages"]
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "slow question"),
        ("user", "second question"),
    ]


def test_resume_after_restart(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path, chats: list[Chat]
) -> None:
    scripted_llm.push(reply("Nice to meet you, Ada."))
    first = start(chats, env, tmp_path)
    first.turn("My name is Ada.")
    thread = re.search(r"new thread (\w{8})", first.screen)
    assert thread is not None
    assert first.exit() == 0

    # A new process: /threads lists the saved thread, /resume continues it.
    second = start(chats, env, tmp_path)
    second.submit("/threads")
    second.expect("My name is Ada")
    second.prompt()
    second.submit(f"/resume {thread[1]}")
    second.expect("resumed thread")
    second.prompt()
    assert "Nice to meet you, Ada." in second.screen  # where the conversation stands
    scripted_llm.push(reply("Your name is Ada."))
    second.turn("What is my name?")
    assert second.exit() == 0
    sent = [m["content"] for m in scripted_llm.requests[1]["messages"][1:]]
    assert sent == ["My name is Ada.", "Nice to meet you, Ada.", "What is my name?"]

    # `agent chat --thread ID` (the short id is enough) resumes it too.
    third = start(chats, env, tmp_path, "--thread", thread[1])
    assert "resumed thread" in third.screen
    scripted_llm.push(reply("Still Ada."))
    third.turn("And now?")
    assert third.exit() == 0
    assert len(scripted_llm.requests[2]["messages"]) == 6  # system + 5 earlier/new messages
    scripted_llm.assert_done()

    # a mistyped id is said to match nothing before it starts a thread of that name
    fourth = start(chats, env, tmp_path, "--thread", "zz-no-such")
    assert "no saved thread matches 'zz-no-such'" in " ".join(fourth.screen.split())
    assert fourth.exit() == 0


def test_unreachable_server_keeps_the_chat_alive(tmp_path: Path, chats: list[Chat]) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = chat_env(f"http://127.0.0.1:{port}/v1", tmp_path / "data")
    chat = start(chats, env, tmp_path)
    chat.submit("hello?")
    chat.expect("cannot reach the LLM server")
    chat.expect("check:")
    chat.prompt()
    chat.submit("/model")  # the session still answers
    chat.expect("scripted-model")
    chat.prompt()
    assert chat.exit() == 0
    assert f"127.0.0.1:{port}" in chat.screen


def test_piped_chat_prints_plain_text(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_llm.push(call("calculator", expression="2**10"), reply("It is 1024."))
    done = subprocess.run(
        [AGENT, "chat"],
        input="What is 2**10?\n/exit\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout  # no colour codes, spinners or cursor moves in a pipe
    assert '[tool ok] calculator(expression="2**10") -> 1024' in done.stdout
    assert "It is 1024." in done.stdout
    scripted_llm.assert_done()


def test_piped_chat_exits_with_the_code_of_a_failed_turn(
    scripted_llm: ScriptedServer, env: dict[str, str], tmp_path: Path
) -> None:
    scripted_llm.push(error(500, "engine crashed"), reply("It is 4."))
    done = subprocess.run(
        [AGENT, "chat"],
        input="What is 2+2?\nWhat is 2+2?\n/exit\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert "engine crashed" in done.stdout + done.stderr
    assert "It is 4." in done.stdout  # the chat went on after the failed turn
    assert done.returncode == ExitCode.LLM_ERROR, done.stderr  # but does not report success
    scripted_llm.assert_done()


# ---- Agent.athreads, the API the /threads command stands on ---------------------------------


def test_athreads_lists_newest_first_with_the_first_question(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("a1"), reply("b1"), reply("a2"))
    with Agent(settings, tools=[]) as agent:
        agent.run("first of a", thread_id="a")
        agent.run("first of b", thread_id="b")
        assert [t.thread_id for t in agent.threads()] == ["b", "a"]
        agent.run("second of a", thread_id="a")
        threads = agent.threads()
        assert len(agent.threads(limit=1)) == 1
    assert [(t.thread_id, t.first_question, t.messages) for t in threads] == [
        ("a", "first of a", 4),
        ("b", "first of b", 2),
    ]
    assert all(t.updated_at is not None for t in threads)
    assert threads[0].updated_at is not None and threads[1].updated_at is not None
    assert threads[0].updated_at > threads[1].updated_at


def test_athreads_in_memory_and_without_persistence(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    scripted_llm.push(reply("x"), reply("y"))
    with Agent(settings, tools=[], persistence="memory") as agent:
        agent.run("hello", thread_id="m")
        assert [(t.thread_id, t.first_question) for t in agent.threads()] == [("m", "hello")]
    with Agent(settings, tools=[], persistence="none") as agent:
        agent.run("hello")
        assert agent.threads() == []


async def test_a_cancelled_turn_keeps_what_finished(
    scripted_llm: ScriptedServer, settings: Settings
) -> None:
    """Ctrl-C at the approval prompt: the tool step finished (a refusal) but its run was cancelled
    before the commit; the next question must still send that tool message."""
    scripted_llm.push(call("calculator", expression="1+1"), reply("ok"))
    async with Agent(settings) as agent:
        turn: asyncio.Task[None] | None = None

        async def cancel_turn(request: ToolCallRequest) -> Approval:
            assert turn is not None
            turn.cancel()  # what the REPL does on Ctrl-C at the prompt
            return Approval.refuse("the user cancelled the turn")

        async def consume() -> None:
            async for _event in agent.astream("first", thread_id="t", approve=cancel_turn):
                pass

        turn = asyncio.create_task(consume())
        await asyncio.wait({turn})
        assert turn.cancelled()
        result = await agent.arun("second", thread_id="t")
    assert result.answer == "ok"
    sent = scripted_llm.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert "cancelled the turn" in sent[3]["content"]
    scripted_llm.assert_done()
