"""One tiny study per test session: built once, in the background, while the tests that do not need it
run; each test process then works on its own copy.

Building the study is one `dvc repro` of some thirty stages, each a process of its own, on one
thread: minutes on two cores. Two pytest-xdist workers that each built their own spent that twice.

    python -m tests.helpers.shared_study DIR   builds DIR/project; DIR/ready or DIR/failed says how it went
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from genstudy.io import write_text
from tests.helpers.project import BIN, ROOT, make_project, run

READY, FAILED, STARTED, LOG = "ready", "failed", "started", "build.log"


def start(shared: Path) -> subprocess.Popen | None:
    """Start building the study under `shared`, unless some process of this session already did.

    Returns the builder process to the one caller that started it (it must wait for it before it
    exits), None to the others.
    """
    shared.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(shared / STARTED, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return None
    with open(shared / LOG, "w") as log:
        command = [sys.executable, "-m", "tests.helpers.shared_study", str(shared)]
        # A session of its own: stop() ends the build and the `dvc repro` under it together.
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(builder: subprocess.Popen):
    """End an unfinished build (the test session was interrupted), stages included."""
    if builder.poll() is None:
        os.killpg(builder.pid, signal.SIGTERM)
        builder.wait()


def wait(shared: Path, timeout: float = 1800) -> tuple[Path, str]:
    """(the built project, what its first `dvc repro` printed), once the builder is done."""
    deadline = time.monotonic() + timeout
    while not (shared / READY).exists():
        if (shared / FAILED).exists():
            raise AssertionError(f"the tiny study did not build:\n{(shared / FAILED).read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the tiny study was not built after {timeout:.0f} s: see {shared / LOG}")
        time.sleep(0.5)
    return shared / "project", (shared / READY).read_text()


def copy(built: Path, project: Path) -> Path:
    """A working copy of the built study at `project`.

    DVC's files hold relative paths; MLflow's store holds absolute ones (artifact locations, model
    sources), which are pointed at the copy's own artifacts. DVC's .dvc/tmp (locks, its index cache)
    is left behind: DVC rebuilds it. params.yaml keeps its tiny data source, which no test writes to.
    """

    def leave_dvc_tmp(directory, names):
        return ["tmp"] if Path(directory) == built / ".dvc" else []

    shutil.copytree(built, project, symlinks=True, ignore=leave_dvc_tmp)
    old, new = f"{built}/", f"{project}/"
    with sqlite3.connect(project / "mlflow.db") as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for _, column, kind, *_ in db.execute(f'PRAGMA table_info("{table}")').fetchall():
                if kind.upper().startswith(("VARCHAR", "TEXT")):
                    db.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) WHERE instr("{column}", ?) > 0',
                        (old, new, old),
                    )
    db.close()
    return project


def build(shared: Path):
    try:
        project = make_project(shared / "project")
        first = run(project, BIN / "dvc", "repro")
    except Exception as e:  # whatever stopped it, the waiters hear of it rather than time out
        write_text(shared / FAILED, f"{type(e).__name__}: {e}")
        raise
    write_text(shared / READY, first.stdout)  # atomic: a waiter never reads it half-written


if __name__ == "__main__":
    build(Path(sys.argv[1]))
