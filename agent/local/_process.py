"""The server's process: spawned detached in its own group, watched, and stopped as a group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

from agent.errors import LocalServerError


def spawn_detached(cmd: list[str], env: dict[str, str], log_fd: int) -> int:
    """Start ``cmd`` in its own session, output to ``log_fd``, and return its pid.

    Not ``subprocess.Popen``: a detached server outlives the ``Popen`` object, whose finalizer
    then warns that the child is still running.
    """
    executable = cmd[0] if os.path.isabs(cmd[0]) else shutil.which(cmd[0]) or cmd[0]
    try:
        return os.posix_spawn(
            executable,
            cmd,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            setsid=True,
        )
    except OSError as exc:
        raise LocalServerError(f"cannot start {executable}: {exc}") from exc


def exit_code(pid: int) -> int | None:
    """The exit code of our child ``pid`` if it has exited (reaping it), else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (started by another process): ask the kernel
        return None if _group_alive(pid) else -1
    return os.waitstatus_to_exitcode(status) if done else None


def is_running_server(pid: int, entrypoint: str) -> bool:
    """Alive and running ``entrypoint``: a pid file can outlive its process, its pid be reused."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (macOS): trust the pid file if the process exists
        except OSError:
            return False
        return True
    return entrypoint.encode() in cmdline and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def terminate_group(pid: int, *, grace_s: float) -> None:
    # The server spawns an engine-core process; signalling the group stops both.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not _group_alive(pid):
            return
        time.sleep(0.1)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader (our own child, not yet reaped) keeps the group "alive".
    return not (_is_zombie(pgid) and not _group_has_others(pgid))


def _group_has_others(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == pgid:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
