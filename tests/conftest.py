"""Shared fixtures: one torch thread for tiny tensors, tiny IDX sources, a scratch MLflow store, one
scratch study, and an MLflow server on PostgreSQL.

`study` is the whole pipeline on tiny generated data, run once per test process by the real DVC
and stages (tests.helpers.project): under `make test`'s two pytest-xdist workers, each has its own.
Tests that change its params restore them before they end.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from genstudy.pipeline import tracking
from tests.helpers.project import BIN, make_project, run
from tests.helpers.tiny_data import write_tiny
from tools import mlflow_server


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors run faster on one thread, and far faster on a machine shared with other work."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_source(tmp_path):
    """(directory of gzipped tiny IDX files, their checksums)."""
    directory = tmp_path / "source"
    return directory, write_tiny(directory)


class Study:
    """The scratch project after its first `dvc repro`, and what that run printed."""

    def __init__(self, path, first_output: str):
        self.path, self.first_output = path, first_output

    def run(self, *args, **kwargs):
        return run(self.path, *args, **kwargs)

    def dvc(self, *args, **kwargs):
        return run(self.path, BIN / "dvc", *args, **kwargs)


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("study") / "project")
    first = run(project, BIN / "dvc", "repro")
    return Study(project, first.stdout)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory):
    """An SQLite file with MLflow's tables: creating them takes seconds, copying the file milliseconds."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store):
    """A fresh SQLite store as MLFLOW_TRACKING_URI, cwd in tmp_path (with a params.yaml), no DVC around."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("x: 1\n")
    monkeypatch.setattr(tracking, "_parent_run_id", None)
    return uri


def postgres_or_skip():
    try:
        mlflow_server.postgres_bin()
    except mlflow_server.ServerError as e:
        if os.environ.get("GENSTUDY_CI") == "1":
            pytest.fail(f"GENSTUDY_CI=1 and PostgreSQL is missing: {e}")
        pytest.skip(f"needs PostgreSQL's server binaries for a real MLflow backend: {e}")


@pytest.fixture
def server():
    """PostgreSQL + `mlflow server` on free loopback ports, in a folder of their own.

    Not under pytest's tmp_path: as root, PostgreSQL runs as user `postgres`, who may not enter
    /tmp/pytest-of-root (mode 0700).
    """
    postgres_or_skip()
    with tempfile.TemporaryDirectory(prefix="genstudy-mlflow-server-") as data:
        Path(data).chmod(0o711)
        log = Path(data) / "mlflow.log"
        with mlflow_server.running_server(Path(data), port=mlflow_server.free_port(), log=log) as running:
            yield running
