"""Pytest plugin: a real, throwaway PostgreSQL server for the thread-store tests.

* ``postgres_server`` (session): a cluster made with ``initdb`` in a temp dir and started with
  ``pg_ctl`` on a free loopback port (Debian's PostgreSQL; ``.ci/run`` installs it where it is
  missing), trust authentication, stopped and removed at the end. Run as root, the server runs
  as the ``postgres`` user (``initdb`` refuses root). Tests using it carry
  ``@pytest.mark.postgres``; without PostgreSQL binaries they are skipped, except under CI,
  where that is a failure.
* ``postgres_url``: a fresh database on that server for one test.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_USER = "agent"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


@dataclass(frozen=True)
class PostgresServer:
    port: int
    bin_dir: Path
    as_user: list[str]  # the command prefix that runs a tool as the server's owner

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        subprocess.run(
            [*self.as_user, str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p",
             str(self.port), "-U", _USER, name],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = "PostgreSQL is not installed (no initdb / pg_ctl): apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="agent-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", _USER, "--auth=trust",
         "-E", "UTF8", "--no-sync"],
        **run,  # type: ignore[call-overload]
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    subprocess.run(
        [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
         str(base / "server.log"), "-w", "start"],
        **run,  # type: ignore[call-overload]
    )  # fmt: skip
    try:
        yield PostgresServer(port, bin_dir, as_user)
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()
