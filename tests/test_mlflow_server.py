"""`make mlflow-server` (tools/mlflow_server.py): the pipeline's stages log to an MLflow server on PostgreSQL.

A few tiny stages run through the real DVC with MLFLOW_TRACKING_URI set to a server on loopback; the runs are
read back through the server, and from PostgreSQL itself. Needs Debian's `postgresql` package: without it the
test is skipped, except under CI (GENSTUDY_CI=1), where it fails.
"""

import contextlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from genstudy.pipeline import paths, tracking
from tests.helpers.project import BIN, make_project, ran_stages, read_params, run, run_env
from tools import mlflow_server

pytestmark = pytest.mark.slow


def test_stages_log_to_the_postgres_backed_server(tmp_path, server):
    import mlflow

    project = make_project(tmp_path / "project")
    labels = read_params(project)["labels"]
    sample = [f"sample_labels@{n}-{seed}" for n in labels["counts"] for seed in labels["seeds"]]
    # `env`: tests.helpers.project.run gives each command the default store; this dvc process gets the server.
    result = run(
        project,
        "env",
        f"MLFLOW_TRACKING_URI={server.uri}",
        BIN / "dvc",
        "repro",
        *map(paths.target, [*sample, "train_vae"]),
    )
    stages = {"download", *sample, "train_vae"}
    assert ran_stages(result.stdout) == stages
    # download's and the label stages' runs are deferred: train_vae logs them (`make mlflow-ui` would too).
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
        if stage != "train_vae":  # a deferred run: its record names it by the tag that finds it
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


def test_a_stage_whose_server_goes_away_fails_naming_the_server_and_leaves_no_output(tmp_path, server):
    import mlflow

    # Enough epochs that the tiny VAE is still training when the server stops.
    project = make_project(tmp_path / "project", edit=lambda p: p["vae"].update(epochs=2000))
    # No retries: MLflow's default backoff would spend minutes before giving up on a server that is gone.
    env = ("env", f"MLFLOW_TRACKING_URI={server.uri}", "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0")
    run(project, *env, BIN / "dvc", "repro", paths.target("download"))
    stage = subprocess.Popen(
        [*env, str(BIN / "dvc"), "repro", "--single-item", paths.target("train_vae")],
        cwd=project,
        env=run_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = mlflow.MlflowClient(server.uri)

    def training():  # download's run is deferred: the experiment may not exist before train_vae starts
        experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
        return experiment is not None and client.search_runs(
            [experiment.experiment_id], "tags.`dvc.stage` = 'train_vae' and attributes.status = 'RUNNING'"
        )

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not training():
        time.sleep(0.5)
    mlflow_server.stop_process(server.process)  # the server goes away while the stage logs its epochs
    output = stage.communicate(timeout=300)[0]

    assert stage.returncode != 0, output
    assert f"failed to reproduce '{paths.target('train_vae')}'" in output
    assert f"{server.uri}/api/2.0/mlflow/" in output, "the error names the server it could not reach"
    assert not (project / "models" / "vae.pt").exists(), "no model written by a stage that failed"
    assert not list((project / "models").glob("*.tmp*")), "no half-written file left behind"
    status = run(project, BIN / "dvc", "status", paths.target("train_vae")).stdout
    assert "train_vae" in status, "DVC recorded no output"
