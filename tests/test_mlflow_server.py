"""`make mlflow-server` (tools/mlflow_server.py): the pipeline's stages log to an MLflow server on PostgreSQL.

A few tiny stages run through the real DVC with MLFLOW_TRACKING_URI set to a server on loopback; the runs are
read back through the server, and from PostgreSQL itself. Needs Debian's `postgresql` package: without it the
test is skipped, except under CI (GENSTUDY_CI=1), where it fails.
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path

import pytest

from genstudy.pipeline import tracking
from tests.helpers.project import BIN, make_project, ran_stages, read_params, run
from tools import mlflow_server

pytestmark = pytest.mark.slow


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


def test_stages_log_to_the_postgres_backed_server(tmp_path, server):
    import mlflow

    project = make_project(tmp_path / "project")
    labels = read_params(project)["labels"]
    sample = [f"sample_labels@{n}-{seed}" for n in labels["counts"] for seed in labels["seeds"]]
    # `env`: tests.helpers.project.run gives each command the default store; this dvc process gets the server.
    result = run(project, "env", f"MLFLOW_TRACKING_URI={server.uri}", BIN / "dvc", "repro", *sample, "train_vae")
    stages = {"download", *sample, "train_vae"}
    assert ran_stages(result.stdout) == stages
    # The label stages' runs are deferred: train_vae logs those that ran before it, `make mlflow-ui` the rest.
    run(project, "env", f"MLFLOW_TRACKING_URI={server.uri}", BIN / "python", "-m", "genstudy.pipeline.deferred")

    client = mlflow.MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("genstudy")
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), "artifacts go through the server"
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if tracking.PARENT_TAG in r.data.tags]
    runs = [r for r in runs if tracking.PARENT_TAG not in r.data.tags]
    assert len(parents) == 1, "one parent run for the one dvc repro"
    assert sorted(r.info.run_name for r in runs) == sorted(stages), "one run per stage, named by stage"
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parents[0].info.run_id}
    by_stage = {r.info.run_name: r for r in runs}
    for stage, r in by_stage.items():
        assert r.info.status == "FINISHED", stage
        assert r.data.tags["dvc.stage"] == stage
        assert r.data.params, stage
        assert r.data.metrics["stage_seconds"] > 0, stage
        record = json.loads((project / "reports" / "runs" / f"{stage}.json").read_text())
        if stage in sample:
            assert record["run_uid"] == r.data.tags["genstudy.run_uid"], stage
        else:
            assert record["mlflow_run_id"] == r.info.run_id, stage

    assert by_stage["download"].data.params["data.dataset"] == "tiny"
    vae = by_stage["train_vae"].data
    assert vae.params["vae.epochs"] == "2" and vae.metrics["final_epochs"] == 2
    assert {p.path for p in client.list_artifacts(by_stage["train_vae"].info.run_id)} >= {"figures", "vae_history.csv"}
    for stage in sample:
        n, seed = stage.split("@")[1].split("-")
        r = by_stage[stage]
        assert r.data.params == {"labels.n": n, "labels.seed": seed}
        assert r.data.metrics["min_per_class"] == int(n) // 10
        name = f"n{n}-seed{seed}.csv"
        assert [a.path for a in client.list_artifacts(r.info.run_id)] == [name]
        fetched = mlflow.artifacts.download_artifacts(
            run_id=r.info.run_id, artifact_path=name, dst_path=str(tmp_path / stage), tracking_uri=server.uri
        )
        assert Path(fetched).read_bytes() == (project / "data" / "labels" / name).read_bytes()
        assert len(list((server.data / "artifacts").rglob(name))) == 1, "stored in the server's artifact folder"

    assert not (project / "mlflow.db").exists(), "no stage fell back to the default SQLite store"
    assert not (project / "mlartifacts").exists()

    # The backend really is PostgreSQL, reached with the password file the server uses (owner-only).
    assert server.passfile.stat().st_mode & 0o777 == 0o600
    with contextlib.closing(server.connect()) as db, db.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")
        cursor.execute("SELECT name, status, experiment_id FROM runs")
        rows = cursor.fetchall()
    names = [*stages, parents[0].info.run_name]  # the stage runs and their parent
    assert sorted(rows) == sorted((s, "FINISHED", int(experiment.experiment_id)) for s in names)
