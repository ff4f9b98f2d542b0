"""Lifecycle and failure paths of the local vLLM server manager.

Most tests run a stand-in for vLLM: a package named ``vllm`` put first on PYTHONPATH, so the
exact command we build (``python -m vllm.entrypoints.openai.api_server ...``) starts a small HTTP
server that answers ``/v1/models`` (or sleeps, or fails to import). That exercises our process
handling (pid file, readiness wait, timeout, SIGTERM of the group) in a second instead of the
3 minutes a real start takes. One test starts the real vLLM on a bogus model folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.cli.exit_codes import ExitCode
from agent.errors import LocalServerError
from agent.local import (
    ProgressEvent,
    ServerConfig,
    check_vllm_importable,
    read_pid_file,
    served_models,
    start_server,
    stop_server,
)
from agent.local.model import LOCAL_MODELS, MARKER_NAME
from agent.local.server import check_port_free, server_command, server_env
from agent.settings import DEFAULT_LOCAL_MODEL, Settings

STAND_IN_SERVER = """
import argparse, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--host")
    parser.add_argument("--served-model-name")
    args, _ = parser.parse_known_args()
    behaviour = os.environ.get("STAND_IN", "serve")
    print("stand-in vllm starting", behaviour, flush=True)
    if behaviour == "sleep":
        time.sleep(3600)
    if behaviour == "crash":
        print("ValueError: Unrecognized model in /nowhere. No `model_type` key", flush=True)
        sys.exit(3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": args.served_model_name}]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    HTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_package(root: Path, api_server_source: str, init_source: str = "") -> Path:
    package = root / "vllm" / "entrypoints" / "openai"
    package.mkdir(parents=True)
    (root / "vllm" / "__init__.py").write_text(init_source)
    (root / "vllm" / "entrypoints" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "api_server.py").write_text(api_server_source)
    return root


@pytest.fixture
def stand_in_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = _write_package(tmp_path / "stand-in", STAND_IN_SERVER)
    monkeypatch.setenv("PYTHONPATH", str(root))
    return root


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture
def cfg(tmp_path: Path, model_dir: Path) -> Iterator[ServerConfig]:
    config = ServerConfig(
        host="127.0.0.1",
        port=_free_port(),
        model_dir=model_dir,
        served_name="tiny-test-model",
        kv_cache_gib=1,
        max_model_len=2048,
        start_timeout_s=60.0,
        state_dir=tmp_path / "state",
    )
    yield config
    stop_server(config, grace_s=5.0)  # never leave a server behind, whatever the test did


@pytest.fixture
def events() -> list[ProgressEvent]:
    """What ``start_server`` reports; pass ``on_progress=events.append``."""
    return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


def test_command_has_the_flags_this_model_needs(cfg: ServerConfig) -> None:
    cmd = server_command(cfg)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(cmd)
    for flag in (
        "--enable-auto-tool-choice",
        "--tool-call-parser hermes",
        "--tool-strict-level parameter",
        "--served-model-name tiny-test-model",
        "--host 127.0.0.1",
        f"--port {cfg.port}",
        "--dtype bfloat16",
        "--max-model-len 2048",
    ):
        assert flag in joined
    i = cmd.index("--structured-outputs-config")
    assert json.loads(cmd[i + 1]) == {"backend": "xgrammar", "disable_any_whitespace": True}
    env = server_env(cfg)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert env["HF_HUB_OFFLINE"] == "1"


def test_config_follows_the_base_url_port(tmp_path: Path) -> None:
    settings = Settings.load(llm_base_url="http://localhost:8123/v1", cache_dir=tmp_path)
    cfg = ServerConfig.from_settings(settings, model_dir=tmp_path)
    assert (cfg.host, cfg.port, cfg.base_url) == ("127.0.0.1", 8123, "http://127.0.0.1:8123/v1")
    assert cfg.log_path == tmp_path / "vllm" / "vllm-8123.log"


def test_a_remote_base_url_is_not_a_local_server(tmp_path: Path) -> None:
    settings = Settings.load(llm_base_url="http://gpu-box:8000/v1", cache_dir=tmp_path)
    with pytest.raises(LocalServerError, match="not a local address"):
        ServerConfig.from_settings(settings, model_dir=tmp_path)


def test_missing_vllm_says_how_to_install_it() -> None:
    # The interpreter this venv was made from has no vllm.
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is not None)"
    assert os.system(f'{base_python} -c "{probe}"') == 0, "base python unexpectedly has vllm"
    with pytest.raises(LocalServerError) as info:
        check_vllm_importable(str(base_python))
    message = str(info.value)
    assert "vllm is not installed" in message
    assert (
        ".[local-cpu]" in message
        and "pip uninstall -y torchvision torchaudio torchcodec" in message
    )


def test_cuda_leftovers_breaking_the_import_get_the_uninstall_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a CUDA torchvision next to CPU torch raises when vllm imports it.
    root = _write_package(
        tmp_path / "broken",
        "",
        init_source='raise RuntimeError("operator torchvision::nms does not exist")\n',
    )
    monkeypatch.setenv("PYTHONPATH", str(root))
    with pytest.raises(LocalServerError) as info:
        check_vllm_importable(sys.executable)
    message = str(info.value)
    assert "torchvision is a CUDA build" in message
    assert f"{sys.executable} -m pip uninstall -y torchvision torchaudio torchcodec" in message


def test_port_in_use_is_a_clear_error(cfg: ServerConfig, events: list[ProgressEvent]) -> None:
    with socket.socket() as squatter:
        squatter.bind((cfg.host, cfg.port))
        squatter.listen()
        with pytest.raises(
            LocalServerError, match=f"port {cfg.port} on 127.0.0.1 is already in use"
        ):
            check_port_free(cfg.host, cfg.port)
        with pytest.raises(LocalServerError, match="agent llm serve --port N"):
            start_server(cfg, on_progress=events.append)
    assert not cfg.pid_path.exists()
    assert events == []  # refused before any slow step


def test_missing_model_folder_says_to_pull(cfg: ServerConfig, events: list[ProgressEvent]) -> None:
    (cfg.model_dir / "config.json").unlink()
    with pytest.raises(LocalServerError, match="run `agent llm pull` first"):
        start_server(cfg, on_progress=events.append)
    assert events == []


def test_start_status_stop(
    cfg: ServerConfig, stand_in_vllm: Path, events: list[ProgressEvent]
) -> None:
    pid = start_server(cfg, on_progress=events.append)
    assert served_models(cfg.base_url) == ["tiny-test-model"]
    # The import check, then the wait; each stage starts, then finishes, in that order.
    assert [(e.stage, e.finished) for e in events[:3]] == [
        ("check", False),
        ("check", True),
        ("start", False),
    ]
    assert events[-1].stage == "start" and events[-1].finished
    assert not any(e.finished for e in events[2:-1])
    assert events[0].message == f"Checking that vllm imports with {cfg.python}"
    assert events[-1].message == f"vLLM serves tiny-test-model at {cfg.base_url}"
    state = read_pid_file(cfg)
    assert state is not None and state["pid"] == pid and state["base_url"] == cfg.base_url
    assert "stand-in vllm starting" in cfg.log_path.read_text()

    with pytest.raises(LocalServerError, match=f"already running \\(pid {pid}\\)"):
        start_server(cfg, on_progress=events.append)

    assert stop_server(cfg) == pid
    assert not _alive(pid)
    assert not cfg.pid_path.exists()
    assert served_models(cfg.base_url) is None
    assert stop_server(cfg) is None


def test_a_server_dying_during_start_reports_its_log(
    cfg: ServerConfig,
    stand_in_vllm: Path,
    events: list[ProgressEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAND_IN", "crash")
    with pytest.raises(LocalServerError) as info:
        start_server(cfg, on_progress=events.append)
    message = str(info.value)
    assert "vLLM exited with code 3 while starting: ValueError: Unrecognized model" in message
    assert "Unrecognized model in /nowhere" in message
    assert str(cfg.log_path) in message
    assert not cfg.pid_path.exists()
    starting = [e for e in events if e.stage == "start"]
    assert starting and not any(e.finished for e in starting)


def test_a_server_that_never_answers_times_out_and_is_killed(
    cfg: ServerConfig,
    stand_in_vllm: Path,
    events: list[ProgressEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAND_IN", "sleep")
    slow = ServerConfig(**{**cfg.__dict__, "start_timeout_s": 3.0})
    started = time.monotonic()
    with pytest.raises(LocalServerError) as info:
        start_server(slow, on_progress=events.append)
    message = str(info.value)
    assert "did not answer" in message and "within 3 s" in message
    assert "AGENT_VLLM_START_TIMEOUT_S" in message and str(cfg.log_path) in message
    assert time.monotonic() - started < 30
    assert not cfg.pid_path.exists()
    assert "stand-in vllm starting sleep" in cfg.log_path.read_text()
    # Status while waiting: seconds waited, and the server's latest log line.
    waiting = [e for e in events if e.stage == "start"]
    assert waiting[0].message == "Starting vLLM (a cold start takes 2-5 min)"
    assert all(e.unit == "s" and e.total is None for e in waiting)
    seconds = [e.done for e in waiting]
    assert seconds == sorted(seconds) and 1 <= seconds[-1] <= 4
    assert waiting[-1].detail == "stand-in vllm starting sleep"
    assert not any(e.finished for e in waiting)


def test_cli_serve_status_stop(
    tmp_path: Path, model_dir: Path, stand_in_vllm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    (model_dir / MARKER_NAME).write_text(
        json.dumps({"gguf_sha256": LOCAL_MODELS[DEFAULT_LOCAL_MODEL].gguf_sha256})
    )
    monkeypatch.setenv("AGENT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AGENT_LOCAL_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("AGENT_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("AGENT_VLLM_DTYPE", "float32")
    runner = CliRunner()
    cfg = ServerConfig.from_settings(Settings.load(), model_dir=model_dir)
    try:
        down = runner.invoke(app, ["llm", "status"])
        assert down.exit_code == ExitCode.LLM_UNAVAILABLE and "not answering" in down.output

        up = runner.invoke(app, ["llm", "serve", "--detach", "--no-pull"])
        assert up.exit_code == 0, up.output
        assert f"at http://127.0.0.1:{port}/v1" in up.output
        assert "✓ Checking that vllm imports" in up.output  # the progress, drawn on stderr
        assert "Computing in float32: AGENT_VLLM_DTYPE=float32." in up.output
        assert " --dtype float32 " in cfg.log_path.read_text()  # the command the log records

        again = runner.invoke(app, ["llm", "serve", "--detach"])
        assert again.exit_code == 0 and "Already serving" in again.output

        status = runner.invoke(app, ["llm", "status"])
        assert status.exit_code == 0
        assert f"serves {DEFAULT_LOCAL_MODEL}" in status.output
        assert "dtype:  float32" in status.output

        # up, but not serving the model the agent would ask for: every request would be a 404
        monkeypatch.setenv("AGENT_LLM_MODEL", "foo")
        other = runner.invoke(app, ["llm", "status"])
        assert other.exit_code == ExitCode.USAGE, other.output
        assert f"serves {DEFAULT_LOCAL_MODEL}" in other.output
        assert "The agent asks for 'foo' (AGENT_LLM_MODEL)" in " ".join(other.output.split())
        monkeypatch.delenv("AGENT_LLM_MODEL")

        stopped = runner.invoke(app, ["llm", "stop"])
        assert stopped.exit_code == 0 and "Stopped the local vLLM server" in stopped.output
        assert served_models(cfg.base_url) is None
    finally:
        stop_server(cfg, grace_s=5.0)


def test_cli_serve_without_a_model_and_no_pull_says_to_pull(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AGENT_LLM_BASE_URL", f"http://127.0.0.1:{_free_port()}/v1")
    result = CliRunner().invoke(app, ["llm", "serve", "--no-pull"])
    assert result.exit_code == ExitCode.USAGE
    assert "agent llm pull" in result.output


def test_cli_status_names_a_model_pull_does_not_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AGENT_LLM_BASE_URL", f"http://127.0.0.1:{_free_port()}/v1")
    monkeypatch.setenv("AGENT_LLM_MODEL", "qwen-typo")
    result = CliRunner().invoke(app, ["llm", "status"])
    assert result.exit_code == ExitCode.LLM_UNAVAILABLE  # nothing answers on that port
    line = result.output.splitlines()[0]
    assert "AGENT_LLM_MODEL='qwen-typo' is not a model `agent llm pull` knows" in line
    assert DEFAULT_LOCAL_MODEL in line


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the local-cpu extra")
def test_real_vllm_on_a_bogus_model_dies_and_says_so(
    cfg: ServerConfig, events: list[ProgressEvent]
) -> None:
    (cfg.model_dir / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    with pytest.raises(LocalServerError) as info:
        start_server(cfg, on_progress=events.append)
    message = str(info.value)
    assert "vLLM exited with code" in message
    assert str(cfg.log_path) in message
    assert "no-such-model" in message or "model_type" in message
    assert not cfg.pid_path.exists()
