"""Shared fixtures: one torch thread for tiny tensors, tiny IDX sources, a scratch MLflow store, one
scratch study, and an MLflow server on PostgreSQL.

`study` is the whole pipeline on tiny generated data, run by the real DVC and stages
(tests.helpers.project). It is built once per session, in the background from the moment the tests
are collected (tests.helpers.shared_study), while the test files that do not need it run first; each
test process (`make test` runs two pytest-xdist workers) then works on its own copy.
Tests that change its params restore them before they end.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from genstudy.pipeline import tracking
from tests.helpers import shared_study
from tests.helpers.project import BIN, run
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


SHARED_STUDY = "GENSTUDY_TEST_SHARED_STUDY"  # the folder the session's one study is built in
_builder = None  # the build this process started, if it did


def pytest_configure(config):
    # The controller (or the only process) names the folder; xdist workers inherit it.
    if not hasattr(config, "workerinput") and SHARED_STUDY not in os.environ:
        os.environ[SHARED_STUDY] = tempfile.mkdtemp(prefix="genstudy-tests-study-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop(SHARED_STUDY), ignore_errors=True))


def uses_study(item) -> bool:
    return "study" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items):
    """Files in the order they should start: first those without a test that needs the study, which
    run while it builds, then the rest; within each, files with end-to-end (slow) tests first, so
    that the long ones do not start last. `make test` keeps this order (--no-loadscope-reorder)."""
    needing = {item.path for item in items if uses_study(item)}
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path in needing, item.path not in slow))  # stable within a file


def pytest_collection_finish(session):
    global _builder
    if session.config.option.collectonly:
        return
    if any(uses_study(item) for item in session.items):
        _builder = _builder or shared_study.start(Path(os.environ[SHARED_STUDY]))


def pytest_sessionfinish(session, exitstatus):
    if _builder is None:
        return
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        shared_study.stop(_builder)
    else:
        _builder.wait()  # another process may still need it: never leave it running behind the session


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    global _builder
    shared = Path(os.environ[SHARED_STUDY])
    _builder = _builder or shared_study.start(shared)  # a test that asks for the study at run time
    built, first_output = shared_study.wait(shared)
    return Study(shared_study.copy(built, tmp_path_factory.mktemp("study") / "project"), first_output)


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
