"""``agent chat``: the interactive chat (the REPL itself is ``agent.cli.repl``)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli._common import (
    BaseUrlOption,
    DataDirOption,
    MaxStepsOption,
    ModelOption,
    ModeOption,
    exit_on_agent_error,
    load_settings,
)


def chat(
    thread: Annotated[
        str | None,
        typer.Option(
            "--thread",
            "-t",
            help="continue this saved thread (an id or its first characters, as /threads shows)",
            show_default=False,
        ),
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="ask before each tool call runs (/approve on)")
    ] = False,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
    max_steps: MaxStepsOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Chat with the agent in the terminal. Every chat is a saved thread.

    [bold]Examples[/]

      agent chat                          new thread

      agent chat --thread 3f2a9c1e...     continue a saved thread after a restart

      agent chat --approve                confirm every tool call before it runs

      agent chat --base-url http://gpu-box:8000/v1 --model qwen2.5-7b

    [bold]Keys[/]: Enter sends, Esc-Enter (Alt-Enter) adds a line, Tab completes /commands,
    Ctrl-C cancels the answer in progress, Ctrl-D leaves.

    [bold]Commands[/]: /help /tools /new /threads /resume ID /mode /model /approve
    /clear /exit

    Threads live in DATA_DIR/threads.sqlite,
    the input history in DATA_DIR/chat_history.

    Piped input works too: echo "What is 2**10?" | agent chat

    """
    with exit_on_agent_error():
        settings = load_settings(
            base_url=base_url, model=model, mode=mode, max_steps=max_steps, data_dir=data_dir
        )
        from agent.cli.repl import run_repl  # deferred: `agent --help` should not load langgraph

        code = run_repl(settings, thread_id=thread, approve_calls=approve)
    raise typer.Exit(code)
