"""genstudy.pipeline.tracking on a scratch SQLite store: the experiment's kind, one parent run per
pipeline execution (shared across stage processes, created once under a race), and dataset inputs."""

import hashlib
import json
import multiprocessing
import os
import subprocess

import pytest

from genstudy import data
from genstudy.pipeline import tracking
from tests.helpers.project import BIN, ROOT
from tests.helpers.tracking import client, parents, stage


def test_the_experiment_is_a_model_training_experiment(store):
    import mlflow

    experiment_id = tracking.ensure_experiment()
    assert client(store).get_experiment(experiment_id).tags[tracking.KIND_TAG] == "custom_model_development"
    # An experiment made before the tag gets it; a kind chosen in the UI is kept.
    mlflow.MlflowClient().delete_experiment_tag(experiment_id, tracking.KIND_TAG)
    tracking.ensure_experiment()
    assert client(store).get_experiment(experiment_id).tags[tracking.KIND_TAG] == "custom_model_development"
    mlflow.MlflowClient().set_experiment_tag(experiment_id, tracking.KIND_TAG, "finetuning")
    tracking.ensure_experiment()
    assert client(store).get_experiment(experiment_id).tags[tracking.KIND_TAG] == "finetuning"


def test_stages_of_one_pipeline_execution_share_one_finished_parent(store, monkeypatch, tmp_path):
    monkeypatch.setenv("DVC_EXP_NAME", "bold-yeti")
    first = stage("download", "exp:bold-yeti/dvc:1-2.00", monkeypatch, tmp_path)
    second = stage("train_vae", "exp:bold-yeti/dvc:1-2.00", monkeypatch, tmp_path)
    (parent,) = parents(store)
    assert first.data.tags["mlflow.parentRunId"] == second.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert parent.info.status == "FINISHED" and parent.info.run_name == "bold-yeti"
    tags = parent.data.tags
    assert tags["params.sha256"] == hashlib.sha256(b"x: 1\n").hexdigest()
    assert tags["dvc.exp_name"] == "bold-yeti" and tags["git.commit"] == first.data.tags["git.commit"]
    assert tracking.PARENT_TAG not in first.data.tags  # only the parent answers the parent search


def test_two_pipeline_executions_get_two_parents_and_a_stage_run_by_hand_none(store, monkeypatch, tmp_path):
    one = stage("download", "dvc:1-2.00", monkeypatch, tmp_path)
    other = stage("download", "dvc:3-4.00", monkeypatch, tmp_path)
    alone = stage("encode", None, monkeypatch, tmp_path)
    assert one.data.tags["mlflow.parentRunId"] != other.data.tags["mlflow.parentRunId"]
    assert len(parents(store)) == 2 and all(p.info.run_name.startswith("dvc repro") for p in parents(store))
    assert "mlflow.parentRunId" not in alone.data.tags
    assert tracking.log_parent_metrics({"x": 1.0}) is None  # no parent: nothing to log on


def test_the_report_logs_headline_metrics_on_the_parent(store, monkeypatch, tmp_path):
    monkeypatch.setattr(tracking, "pipeline_key", lambda: "dvc:5-6.00")
    with tracking.stage_run("report", {}, record=tmp_path / "report.json"):
        parent_id = tracking.log_parent_metrics({"m1.error_n100": 27.5, "judge.test_accuracy": 0.92})
    parent = client(store).get_run(parent_id)
    assert parent.data.metrics == {"m1.error_n100": 27.5, "judge.test_accuracy": 0.92}
    assert parent.info.status == "FINISHED"


def test_a_failed_stage_fails_its_parent_and_the_parent_stays_failed(store, monkeypatch, tmp_path):
    monkeypatch.setattr(tracking, "pipeline_key", lambda: "dvc:7-8.00")
    with pytest.raises(RuntimeError):
        with tracking.stage_run("train_vae", {}, record=tmp_path / "vae.json"):
            raise RuntimeError("boom")
    (parent,) = parents(store)
    assert parent.info.status == "FAILED"
    stage("encode", "dvc:7-8.00", monkeypatch, tmp_path)  # `dvc repro --keep-going`: a later stage succeeds
    assert client(store).get_run(parent.info.run_id).info.status == "FAILED"


def _create_parent(uri, key, barrier, out):
    os.environ["MLFLOW_TRACKING_URI"] = uri
    experiment_id = tracking.ensure_experiment()
    barrier.wait()
    out.put(tracking.parent_run(experiment_id, key).info.run_id)


def test_two_processes_creating_the_parent_at_once_end_with_one(store):
    tracking.ensure_experiment()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_create_parent, args=(store, "dvc:9-10.00", barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    ids = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert ids[0] == ids[1] and [p.info.run_id for p in parents(store, "dvc:9-10.00")] == ids[:1]


def test_a_process_that_lost_a_race_keeps_the_oldest_parent_and_deletes_its_own(store, monkeypatch):
    """The guard where the lock file cannot serialize (another machine): create, re-search, keep the oldest."""
    experiment_id = tracking.ensure_experiment()
    c = client(store)
    older = c.create_run(experiment_id, tags={tracking.PARENT_TAG: "dvc:11-12.00"}, start_time=1000)
    real, calls = tracking._parents, []

    def late_search(*args):  # the other process's parent is not visible yet at the first search
        calls.append(1)
        return [] if len(calls) == 1 else real(*args)

    monkeypatch.setattr(tracking, "_parents", late_search)
    assert tracking.parent_run(experiment_id, "dvc:11-12.00").info.run_id == older.info.run_id
    assert [p.info.run_id for p in parents(store, "dvc:11-12.00")] == [older.info.run_id]


def test_inputs_are_the_idx_splits_and_the_label_subset_by_md5(store, monkeypatch, tmp_path):
    labels = tmp_path / "n20-seed0.csv"
    labels.write_text("index,label\n3,0\n7,1\n")
    run = stage(
        "fit_svm_m1@20-0", None, monkeypatch, tmp_path, dataset="fashion_mnist", inputs={"labels-n20-seed0": labels}
    )
    got = {
        (i.dataset.name, next(t.value for t in i.tags if t.key == "mlflow.data.context")): i.dataset
        for i in run.inputs.dataset_inputs
    }
    assert set(got) == {("fashion_mnist", "train"), ("fashion_mnist", "test"), ("labels-n20-seed0", "train")}
    md5 = data.MD5["fashion_mnist"]
    for split, images, labels_file in (
        ("train", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        ("test", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ):
        dataset = got[("fashion_mnist", split)]
        pair = {images: md5[images], labels_file: md5[labels_file]}
        assert json.loads(dataset.profile) == {"md5": pair}
        assert dataset.digest == hashlib.md5(" ".join(v for _, v in sorted(pair.items())).encode()).hexdigest()
    subset = got[("labels-n20-seed0", "train")]
    assert subset.digest == hashlib.md5(labels.read_bytes()).hexdigest()
    assert json.loads(subset.source)["uri"] == labels.resolve().as_uri()


def test_a_registered_dataset_takes_its_checksums_from_params(store, monkeypatch, tmp_path):
    checksums = {name: f"{i:032x}" for i, name in enumerate(data.FILES.values())}
    (tmp_path / "params.yaml").write_text(json.dumps({"data": {"checksums": {"tiny": checksums}}}))
    run = stage("download", None, monkeypatch, tmp_path, dataset="tiny")
    assert sorted(i.dataset.name for i in run.inputs.dataset_inputs) == ["tiny", "tiny"]


def test_an_input_that_collides_with_another_process_is_logged_on_the_next_try(store, monkeypatch):
    """Two processes inserting one new dataset at once: the loser's insert fails once, then finds it."""
    import mlflow

    experiment_id = tracking.ensure_experiment()
    real, calls = mlflow.MlflowClient.log_inputs, []

    def collide_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise mlflow.exceptions.MlflowException("UNIQUE constraint failed: datasets.experiment_id")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(mlflow.MlflowClient, "log_inputs", collide_once)
    run_id = client(store).create_run(experiment_id).info.run_id
    tracking.log_inputs(run_id, tracking.split_inputs("fashion_mnist"))
    assert len(calls) == 2 and len(client(store).get_run(run_id).inputs.dataset_inputs) == 2

    def always(self, *args, **kwargs):
        calls.append(1)
        raise mlflow.exceptions.MlflowException("UNIQUE constraint failed: datasets.experiment_id")

    calls.clear()
    monkeypatch.setattr(mlflow.MlflowClient, "log_inputs", always)
    with pytest.raises(mlflow.exceptions.MlflowException, match="UNIQUE"):  # not a race: it gives up
        tracking.log_inputs(run_id, tracking.split_inputs("fashion_mnist"), tries=3)
    assert len(calls) == 3


def _log_inputs_at_once(uri, run_id, barrier, out):
    os.environ["MLFLOW_TRACKING_URI"] = uri
    tracking.ensure_experiment()
    barrier.wait()
    tracking.log_inputs(run_id, tracking.split_inputs("fashion_mnist"))
    out.put(run_id)


def test_processes_logging_one_new_dataset_at_once_all_succeed(store):
    experiment_id = tracking.ensure_experiment()
    run_ids = [client(store).create_run(experiment_id).info.run_id for _ in range(4)]
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(len(run_ids)), ctx.Queue()
    procs = [ctx.Process(target=_log_inputs_at_once, args=(store, r, barrier, out)) for r in run_ids]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    assert sorted(out.get(timeout=5) for _ in procs) == sorted(run_ids)
    assert all(len(client(store).get_run(r).inputs.dataset_inputs) == 2 for r in run_ids)


def test_pipeline_key_names_the_experiment_and_the_dvc_process(monkeypatch):
    assert tracking._is_dvc(["/venv/bin/python", "/venv/bin/dvc", "repro"])
    assert tracking._is_dvc(["dvc", "exp", "run"]) and tracking._is_dvc(["python3", "-m", "dvc", "repro"])
    assert not tracking._is_dvc(["/bin/sh", "-c", "python -m stages.encode"]) and not tracking._is_dvc([])
    monkeypatch.setattr(tracking, "dvc_ancestor", lambda: None)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert tracking.pipeline_key() is None
    monkeypatch.setenv("DVC_EXP_NAME", "it's-mine")
    assert tracking.pipeline_key() == "exp:it_s-mine"  # no quote left for the search filter


STAGE = """
import sys
from genstudy.pipeline import tracking
with tracking.stage_run(sys.argv[1], {}, record=f"out/{sys.argv[1]}.json"):
    pass
"""


@pytest.mark.slow
def test_stages_of_one_dvc_repro_share_one_parent_and_the_next_repro_gets_another(tmp_path):
    """The real `dvc repro`: each stage is a process DVC starts through a shell."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "stage.py").write_text(STAGE)
    (project / "dvc.yaml").write_text(
        "stages:\n"
        "  a: {cmd: python stage.py a, deps: [stage.py], outs: [out/a.json]}\n"
        "  b: {cmd: python stage.py b, deps: [out/a.json], params: [x], outs: [out/b.json]}\n"
    )
    (project / "params.yaml").write_text("x: 1\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    env["MLFLOW_TRACKING_URI"] = uri
    env.pop("DVC_EXP_NAME", None)

    def run(*args):
        subprocess.run(args, cwd=project, env=env, check=True, capture_output=True)

    run("git", "init", "-q")
    run(str(BIN / "dvc"), "init", "-q")
    run(str(BIN / "dvc"), "repro")
    (project / "params.yaml").write_text("x: 2\n")
    run(str(BIN / "dvc"), "repro")  # only b reruns
    c = client(uri)
    runs = c.search_runs([c.get_experiment_by_name(tracking.EXPERIMENT).experiment_id], order_by=["start_time ASC"])
    stages = [r for r in runs if tracking.PARENT_TAG not in r.data.tags]
    assert [r.info.run_name for r in stages] == ["a", "b", "b"]
    first, second = ({r.data.tags["mlflow.parentRunId"] for r in group} for group in (stages[:2], stages[2:]))
    assert len(first) == len(second) == 1 and first != second
    assert {p.info.run_id for p in parents(uri)} == first | second
    assert all(p.info.status == "FINISHED" for p in parents(uri))
