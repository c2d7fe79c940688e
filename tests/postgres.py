"""A throwaway PostgreSQL server for the tests: Debian's own binaries (`make test`
installs the `postgresql` package where it is missing), a data directory made by initdb
in a temporary directory, listening on 127.0.0.1 only, removed at the end.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres`
user the package creates."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The directory holding initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin
    (the highest version there)."""
    found = shutil.which("pg_ctl")
    if found and Path(found).with_name("initdb").exists():
        return Path(found).parent
    dirs = [Path(d).parent for d in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    version = lambda d: [int(x) for x in re.findall(r"\d+", d.parent.name)]  # noqa: E731
    dirs = sorted((d for d in dirs if (d / "initdb").exists()), key=version)
    return dirs[-1] if dirs else None


@contextmanager
def postgres_server(port: int):
    """Yield the base URL (postgresql://digitlab@127.0.0.1:PORT) of a fresh server."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl not found: install Debian's postgresql package "
                           "(`make test` does)")
    user = None
    root = Path(tempfile.mkdtemp(prefix="digitlab-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    run = dict(check=True, capture_output=True, text=True, timeout=60,
               user=user.pw_uid if user else None, group=user.pw_gid if user else None)
    data, log = root / "data", root / "server.log"
    try:
        subprocess.run([bindir / "initdb", "-D", data, "-U", "digitlab", "-A", "trust", "-E", "UTF8", "--no-sync"],
                       **run)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off"
        subprocess.run([bindir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"], **run)
        try:
            yield f"postgresql://digitlab@127.0.0.1:{port}"
        finally:
            subprocess.run([bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                           **{**run, "check": False})
    except subprocess.CalledProcessError as e:
        text = log.read_text() if log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {e.stderr}{text}") from None
    finally:
        shutil.rmtree(root, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    """A new empty database on the server; returns its URL."""
    import psycopg

    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"
