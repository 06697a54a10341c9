"""An MLflow tracking server on a local PostgreSQL database: `make mlflow-server`.

    python tools/mlflow_server.py [--data DIR] [--host 127.0.0.1] [--port 5001]

The first run creates a PostgreSQL cluster under DIR (default `mlflow-server/` at the repository root,
ignored by git) with Debian's `initdb` (package `postgresql`, binaries in /usr/lib/postgresql/*/bin):

    DIR/postgres/     the cluster (owned by the user that runs PostgreSQL, mode 0700)
    DIR/pgpass        the database password of role `mlflow`, libpq's passfile format (mode 0600)
    DIR/artifacts/    the artifact store; clients upload through the server (proxied artifacts)
    DIR/postgres.log  PostgreSQL's log

Each run then starts PostgreSQL and `mlflow server --backend-store-uri postgresql+psycopg2://mlflow@...
--artifacts-destination DIR/artifacts`, and stays in the foreground until Ctrl-C or SIGTERM, which stop
MLflow and then the database. Point the pipeline at it with `MLFLOW_TRACKING_URI=http://127.0.0.1:5001`.

Authentication: PostgreSQL listens on TCP 127.0.0.1 only, on a free port picked at each start, and
pg_hba.conf admits exactly one thing there: role `mlflow` to database `mlflow`, with a SCRAM password.
The password is random (`secrets`), generated at the first start and kept only in DIR/pgpass (mode 0600,
readable by the user who started the server); MLflow and psycopg2 read it through libpq's PGPASSFILE, so
it is in no URI, command line, environment value or repository file. The cluster owner's superuser role
is reached only by `peer` authentication on a Unix socket in a private temporary folder (mode 0700), used
to create the role and the database. Delete DIR/pgpass to get a new password at the next start.

PostgreSQL refuses to run as root: as root, the cluster belongs to the system user `postgres` (created by
Debian's package, or here when absent), and initdb/pg_ctl/psql run through `runuser -u postgres`.
Every folder above DIR must then be enterable by that user (`chmod o+x`).

Problems are reported as one line, `error: ... Fix: ...`, with exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "mlflow-server"
ROLE = DATABASE = "mlflow"
OWNER_WHEN_ROOT = "postgres"
START_TIMEOUT_S = 180  # MLflow creates its tables on first start: slow on a busy machine


class ServerError(Exception):
    """A problem the user can fix; the message says what and how (`... Fix: ...`)."""


@dataclasses.dataclass
class Server:
    """A running server: its tracking URI and how to reach its database."""

    uri: str
    data: Path
    db_port: int
    passfile: Path
    process: subprocess.Popen = dataclasses.field(repr=False)

    def connect(self):
        """A psycopg2 connection to MLflow's database, as MLflow connects."""
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.db_port, dbname=DATABASE, user=ROLE, passfile=str(self.passfile)
        )


def postgres_bin() -> Path:
    """The folder of initdb, pg_ctl and psql: Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(re.sub(r"\D", "", p) or 0))
    initdb = found[-1] if found else shutil.which("initdb")
    if not initdb:
        raise ServerError(
            "PostgreSQL binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH). "
            "Fix: apt-get install postgresql"
        )
    folder = Path(initdb).parent
    for name in ("pg_ctl", "psql"):
        if not (folder / name).exists():
            raise ServerError(f"{folder} has initdb but no {name}. Fix: apt-get install postgresql")
    return folder


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port_free(host: str, port: int):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ServerError(
                f"port {port} on {host} is taken ({e.strerror}). "
                f"Fix: stop what listens there (ss -ltnp 'sport = :{port}') or pass --port with a free port"
            ) from None


class Cluster:
    """The PostgreSQL cluster under `data`, run by its owner (`postgres` when we are root)."""

    def __init__(self, data: Path, bindir: Path):
        self.data, self.bin = data, bindir
        self.pgdata = data / "postgres"
        self.passfile = data / "pgpass"
        self.log = data / "postgres.log"
        self.as_root = os.geteuid() == 0
        self.owner = OWNER_WHEN_ROOT if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.port = 0
        self.socket_dir: Path | None = None

    def run(self, *args, input: str | None = None) -> subprocess.CompletedProcess:
        """A PostgreSQL program run as the cluster's owner."""
        command = [str(self.bin / args[0]), *map(str, args[1:])]
        if self.as_root:
            command = ["runuser", "-u", self.owner, "--", *command]
        # An inherited PGPASSFILE/PGUSER etc. would not mean this cluster; cwd: the owner may not enter ours.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        result = subprocess.run(command, input=input, capture_output=True, text=True, env=env, cwd="/")
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().replace("\n", " | ")
            raise ServerError(
                f"{Path(args[0]).name} failed: {detail[-600:]}. "
                f"Fix: see {self.log} if it exists; to start over, stop the server and delete {self.data}"
            )
        return result

    def _owned_dir(self, path: Path, mode: int):
        path.mkdir(mode=mode, exist_ok=True)
        if self.as_root:
            shutil.chown(path, self.owner, self.owner)
        path.chmod(mode)

    def _ensure_owner(self):
        if not self.as_root:
            return
        try:
            pwd.getpwnam(self.owner)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", self.owner], check=True
            )

    def init(self):
        """initdb on first use: loopback TCP with SCRAM for `mlflow`, peer on a private socket for the owner."""
        self.data.mkdir(parents=True, exist_ok=True)
        (self.data / "artifacts").mkdir(exist_ok=True)
        if (self.pgdata / "PG_VERSION").exists():
            return
        self._ensure_owner()
        self._owned_dir(self.pgdata, 0o700)
        if self.as_root and subprocess.run(["runuser", "-u", self.owner, "--", "test", "-w", self.pgdata]).returncode:
            raise ServerError(
                f"user {self.owner} (PostgreSQL refuses to run as root) cannot enter {self.pgdata}. "
                f"Fix: let others enter every folder above it (chmod o+x), or pass --data elsewhere"
            )
        self.run("initdb", "-D", self.pgdata, "-U", self.owner, "--auth-local=peer", "--auth-host=reject", "-E", "UTF8")
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# genstudy (tools/mlflow_server.py): loopback only; the port and socket folder come from pg_ctl\n"
                "listen_addresses = '127.0.0.1'\npassword_encryption = 'scram-sha-256'\n"
            )
        (self.pgdata / "pg_hba.conf").write_text(
            "# genstudy (tools/mlflow_server.py): nothing else may connect.\n"
            "# TYPE  DATABASE  USER       ADDRESS        METHOD\n"
            f"local   all       {self.owner:<10} peer\n"
            f"host    {DATABASE:<9} {ROLE:<10} 127.0.0.1/32   scram-sha-256\n"
        )

    def running(self) -> bool:
        try:
            self.run("pg_ctl", "-D", self.pgdata, "status")
        except ServerError:
            return False
        return True

    def start(self, port: int = 0):
        """Start PostgreSQL on 127.0.0.1:`port` (0: a free one); a leftover server of this cluster is stopped."""
        if self.running():
            print(f"PostgreSQL of {self.pgdata} is still running from an earlier start: stopping it", file=sys.stderr)
            self.run("pg_ctl", "-D", self.pgdata, "-m", "fast", "-w", "stop")
        self.port = port or free_port()
        check_port_free("127.0.0.1", self.port)
        self.socket_dir = Path(tempfile.mkdtemp(prefix="genstudy-pg-"))
        if self.as_root:
            shutil.chown(self.socket_dir, self.owner, self.owner)
        if not self.log.exists():
            self.log.touch(mode=0o640)
        if self.as_root:
            shutil.chown(self.log, self.owner, self.owner)
        options = f"-p {self.port} -k {self.socket_dir}"
        self.run("pg_ctl", "-D", self.pgdata, "-l", self.log, "-o", options, "-w", "-t", "120", "start")

    def ensure_database(self):
        """Role `mlflow` with the password of DIR/pgpass (a new random one if that file is absent), and its database."""
        sql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.socket_dir, "-p", self.port, "-d", "postgres"]
        exists = self.run(*sql, "-tAc", f"SELECT count(*) FROM pg_roles WHERE rolname = '{ROLE}'").stdout.strip()
        if exists != "1" or not self.passfile.exists():
            password = secrets.token_urlsafe(32)  # [A-Za-z0-9_-]: nothing to escape in SQL or in a passfile
            self.passfile.unlink(missing_ok=True)
            fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("# hostname:port:database:username:password (libpq's passfile)\n")
                f.write(f"127.0.0.1:*:{DATABASE}:{ROLE}:{password}\n")
            verb = "ALTER" if exists == "1" else "CREATE"
            # On stdin, never on a command line that `ps` shows.
            self.run(*sql, "-f", "-", input=f"{verb} ROLE {ROLE} LOGIN PASSWORD '{password}';\n")
        has_db = self.run(*sql, "-tAc", f"SELECT count(*) FROM pg_database WHERE datname = '{DATABASE}'").stdout
        if has_db.strip() != "1":
            self.run(*sql, "-c", f"CREATE DATABASE {DATABASE} OWNER {ROLE}")

    def stop(self):
        try:
            if self.running():
                self.run("pg_ctl", "-D", self.pgdata, "-m", "fast", "-w", "-t", "60", "stop")
        finally:
            if self.socket_dir:
                shutil.rmtree(self.socket_dir, ignore_errors=True)
                self.socket_dir = None


def _wait_healthy(url: str, process: subprocess.Popen, log: Path | None):
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if process.poll() is not None:
            where = f"its log {log}" if log else "its output above"
            raise ServerError(f"mlflow server exited with status {process.returncode}. Fix: see {where}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise ServerError(
        f"mlflow server did not answer {url}/health within {START_TIMEOUT_S} s. Fix: see {log or 'its output above'}"
    )


def stop_process(process: subprocess.Popen, timeout: float = 30):
    """SIGTERM to the server's process group (uvicorn and its workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def running_server(
    data: Path = DEFAULT_DATA,
    host: str = "127.0.0.1",
    port: int = 5001,
    db_port: int = 0,
    workers: int = 1,
    log: Path | None = None,
) -> Iterator[Server]:
    """PostgreSQL + `mlflow server` for the body; both stopped after, also on errors and signals.

    `log`: where MLflow's output goes (None: inherited, e.g. the terminal).
    """
    data = Path(data).resolve()
    bindir = postgres_bin()
    check_port_free(host, port)
    cluster = Cluster(data, bindir)
    cluster.init()
    process = None
    try:
        cluster.start(db_port)
        cluster.ensure_database()
        url_host = f"[{host}]" if ":" in host else host
        uri = f"http://{url_host}:{port}"
        command = [
            *(str(Path(sys.executable).parent / "mlflow"), "server"),
            # +psycopg2: the project's driver (psycopg2-binary); SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3.
            *("--backend-store-uri", f"postgresql+psycopg2://{ROLE}@127.0.0.1:{cluster.port}/{DATABASE}"),
            *("--artifacts-destination", str(data / "artifacts")),
            *("--host", host, "--port", str(port), "--workers", str(workers)),
        ]
        env = dict(os.environ, PGPASSFILE=str(cluster.passfile))
        env.pop("MLFLOW_TRACKING_URI", None)
        # MLflow's job runner (GenAI scorers, periodic tasks: seven Huey consumers) does nothing for this study.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        with open(log, "ab") if log else contextlib.nullcontext() as out:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=data,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                start_new_session=True,
            )
        _wait_healthy(uri.replace("0.0.0.0", "127.0.0.1"), process, log)
        yield Server(uri=uri, data=data, db_port=cluster.port, passfile=cluster.passfile, process=process)
    finally:
        try:
            if process is not None:
                stop_process(process)
        finally:
            cluster.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"the server's folder (default {DEFAULT_DATA})")
    parser.add_argument("--host", default="127.0.0.1", help="interface MLflow binds (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=5001, help="MLflow's port (default 5001)")
    parser.add_argument("--db-port", type=int, default=0, help="PostgreSQL's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--workers", type=int, default=2, help="MLflow's worker processes (default 2)")
    args = parser.parse_args(argv)

    def terminate(signum, frame):
        # Once: a second Ctrl-C must not cut the shutdown of MLflow and PostgreSQL short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, terminate)
    signal.signal(signal.SIGTERM, terminate)
    try:
        with running_server(args.data, args.host, args.port, args.db_port, args.workers) as server:
            print(
                f"MLflow tracking server: {server.uri} (PostgreSQL on 127.0.0.1:{server.db_port}, data in "
                f"{server.data}). Use it with: export MLFLOW_TRACKING_URI={server.uri}   Stop: Ctrl-C",
                flush=True,
            )
            status = server.process.wait()
            raise ServerError(f"mlflow server exited by itself with status {status}. Fix: see its output above")
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped MLflow and PostgreSQL", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
