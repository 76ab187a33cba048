"""A throwaway PostgreSQL cluster for the tests: Debian's binaries (.ci/install-postgresql installs them), a
data directory in a temporary folder, a free port on 127.0.0.1 and its socket in that folder.

PostgreSQL refuses to run as root, and CI runs as root: the cluster then runs as the unprivileged user
`nobody`, owning the temporary folder; anyone else runs it as themself. `Cluster.stop` stops the server and
removes the folder.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.ports import free_port

UNPRIVILEGED = "nobody"
SKIP_REASON = "PostgreSQL's pg_ctl and initdb are not installed (.ci/install-postgresql installs them)"


def binaries() -> Path | None:
    """The folder of Debian's (or the PATH's) initdb and pg_ctl, newest version first; None when missing."""
    found = shutil.which("pg_ctl")
    candidates = ([str(Path(found).parent)] if found else []) + sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for folder in candidates:
        if all(os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _temporary_root() -> str:
    shm = "/dev/shm"
    return shm if os.access(shm, os.W_OK) else tempfile.gettempdir()


class Cluster:
    """One PostgreSQL server of the tests; `url(database)` connects to it as the superuser `postgres`."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="hta-pg-", dir=_temporary_root()))
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = free_port()
        self.as_user: dict = {}
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam(UNPRIVILEGED)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self.as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.root), "LC_ALL": "C.UTF-8"}
        return subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, check=check,
                              timeout=120, **self.as_user)  # fmt: skip

    def start(self) -> Cluster:
        """initdb (first time), then start the server and wait until it accepts connections."""
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")  # fmt: skip
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`mode`: smart, fast or immediate)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The URL of one database of the cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A new, empty database (a copy of `template` when given); returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database, ending its connections."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
