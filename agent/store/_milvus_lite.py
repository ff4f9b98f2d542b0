"""Milvus Lite specifics: one process per database file, enforced by an advisory lock."""

from __future__ import annotations

import fcntl
import os

from agent.errors import StoreLockedError


def is_lite_uri(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


def lite_path(uri: str) -> str:
    return os.path.abspath(os.path.expanduser(uri))


def lite_is_locked_elsewhere(path: str) -> bool:
    """True if another process holds Milvus Lite's advisory lock on ``path``."""
    from milvus_lite.server_manager import server_manager_instance

    if path in getattr(server_manager_instance, "_servers", {}):
        return False  # this process already serves it: pymilvus will reuse that server
    lock_file = os.path.join(path, "LOCK")
    if not os.path.exists(lock_file):
        return False
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def locked_error(path: str) -> StoreLockedError:
    return StoreLockedError(
        f"the Milvus Lite database {path} is in use by another process, and Lite allows one "
        "process per file. Fixes: (1) stop the other process (e.g. a running `agent chat` or "
        f"`agent docs add`), or (2) serve the file to several processes with "
        f"`milvus-lite server --data-dir {path}` and set AGENT_MILVUS_URI=http://127.0.0.1:19530, "
        "or (3) point AGENT_MILVUS_URI at a Milvus server (http://host:19530)."
    )
