"""Working on the shared study (tests/conftest.py's `study`) without disturbing the tests after this one:
params edits are undone, stages made stale are rerun, MLflow is read back."""

import contextlib
import json
import sqlite3
from pathlib import Path

import yaml

from tests.helpers.project import BIN, ran_stages


def set_key(params: dict, key: str, value):
    """Set dotted `key` of a params dict (the last part is added if absent)."""
    *parents, leaf = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[leaf] = value


def stale(study) -> dict:
    """`dvc status --json` of the study: {stage name: what changed}; {} when everything is up to date."""
    status = json.loads(study.dvc("status", "--json").stdout or "{}")
    return {address.rpartition(":")[2]: changes for address, changes in status.items()}


@contextlib.contextmanager
def edited_params(study, edit):
    """The study's params.yaml with `edit(params)` applied for the body, its exact bytes restored after."""
    path = study.path / "params.yaml"
    before = path.read_text()
    params = yaml.safe_load(before)
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        yield params
    finally:
        path.write_text(before)


def rerun_back(study) -> set:
    """`dvc repro` whatever a test made stale; the study is up to date again. Returns the stages that ran."""
    ran = ran_stages(study.dvc("repro").stdout)
    assert stale(study) == {}, "the study is up to date again"
    return ran


def flush_pending(study) -> int:
    """Log the pending MLflow runs of stages that do not open MLflow (`make mlflow-ui` does the same)."""
    return int(study.run(BIN / "python", "-m", "genstudy.pipeline.deferred").stdout.split()[0])


def outputs(root: Path) -> dict:
    """{path: bytes} of every file the pipeline wrote (data, models, metrics, reports)."""
    return {
        p: p.read_bytes()
        for d in ("data", "models", "metrics", "reports")
        for p in (root / d).rglob("*")
        if p.is_file()
    }


def mlflow_query(root: Path, sql: str, *args) -> list[tuple]:
    """Rows of an SQL query on the study's MLflow store (mlflow.db: tables runs, params, metrics, ...)."""
    with contextlib.closing(sqlite3.connect(root / "mlflow.db")) as db:
        return db.execute(sql, args).fetchall()
