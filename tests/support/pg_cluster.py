"""A throwaway PostgreSQL cluster for the tests: Debian's server binaries
(`pg_config --bindir`), initdb and pg_ctl in a temporary directory, a Unix
socket only, password authentication. As root (CI), the server runs as the
`postgres` system user, since initdb refuses root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PASSWORD = "pg-s3cret-pa55"


class Cluster:
    def __init__(self, settings: str = ""):
        self.settings = settings  # more server settings, as `-c name=value ...`
        self.bindir = Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
        self.base = Path(tempfile.mkdtemp(prefix="treeship-pg-"))
        self.data, self.socket, self.log = self.base / "data", self.base / "socket", self.base / "server.log"
        self.socket.mkdir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.socket, "postgres")
        (self.base / "pwfile").write_text(PASSWORD + "\n")
        if self.as_root:
            shutil.chown(self.base / "pwfile", "postgres")
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={self.base / 'pwfile'}",
                 "--no-sync", "-E", "UTF8", "--locale=C")
        self.start()

    def run(self, program: str, *args) -> None:
        command = [str(self.bindir / program), *map(str, args)]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        self.run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o",
                 f"-k {self.socket} -c listen_addresses='' -c fsync=off -c full_page_writes=off "
                 f"-c synchronous_commit=off {self.settings}", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@/{database}?host={self.socket}"

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)
