"""genstudy.pipeline.deferred: runs written without MLflow, logged by the next stage, each exactly once."""

import json
import multiprocessing
import subprocess
import sys
import time

import pytest

from genstudy.pipeline import deferred, tracking
from tests.helpers.project import ROOT
from tests.helpers.tracking import client, parents, stage


def pending(name, key, monkeypatch, tmp_path, fail=False):
    """One deferred run of stage `name` under pipeline key `key`; its record."""
    monkeypatch.setattr(tracking, "pipeline_key", lambda: key)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / f"{name}.csv"
    with deferred.deferred_stage_run(name, {"labels": {"n": 10}}, "fashion_mnist", inputs={"subset": out}) as run:
        out.write_text("index,label\n3,1\n")
        run.log_metric("min_per_class", 1)
        run.log_artifact(out)
        if fail:
            raise RuntimeError("boom")
    return json.loads((tmp_path / "reports" / "runs" / f"{name}.json").read_text())


def logged(uri):
    c = client(uri)
    experiment = c.get_experiment_by_name(tracking.EXPERIMENT)
    return [] if experiment is None else c.search_runs([experiment.experiment_id], f"tags.`{deferred.UID_TAG}` != ''")


def test_a_deferred_run_is_logged_by_the_next_stage_under_the_same_parent(store, monkeypatch, tmp_path):
    record = pending("sample_labels@10-0", "dvc:1-2.00", monkeypatch, tmp_path)
    assert record["mlflow_run_id"] is None and record["seconds"] >= 0
    assert not logged(store), "nothing reaches MLflow before a stage that imports it"
    (folder,) = deferred.pending_root().iterdir()
    entry = json.loads((folder / "run.json").read_text())

    later = stage("train_vae", "dvc:1-2.00", monkeypatch, tmp_path)
    (run,) = logged(store)
    assert run.data.tags[deferred.UID_TAG] == record["run_uid"]
    assert run.data.tags["mlflow.parentRunId"] == later.data.tags["mlflow.parentRunId"]
    assert run.info.run_name == "sample_labels@10-0" and run.info.status == "FINISHED"
    assert (run.info.start_time, run.info.end_time) == (entry["start_ms"], entry["end_ms"])
    assert run.data.params == {"labels.n": "10"} and run.data.metrics["min_per_class"] == 1
    contexts = sorted((i.dataset.name, i.tags[0].value) for i in run.inputs.dataset_inputs)
    assert contexts == [("fashion_mnist", "test"), ("fashion_mnist", "train"), ("subset", "train")]
    assert [a.path for a in client(store).list_artifacts(run.info.run_id)] == ["sample_labels@10-0.csv"]
    assert not any(deferred.pending_root().iterdir()), "a logged run is no longer pending"
    (parent,) = parents(store)
    assert parent.info.status == "FINISHED"


def test_a_failed_deferred_stage_fails_its_parent(store, monkeypatch, tmp_path):
    with pytest.raises(RuntimeError):
        pending("sample_labels@10-0", "dvc:3-4.00", monkeypatch, tmp_path, fail=True)
    assert deferred.flush() == 1
    (run,) = logged(store)
    (parent,) = parents(store)
    assert run.info.status == "FAILED" and parent.info.status == "FAILED"
    stage("encode", "dvc:3-4.00", monkeypatch, tmp_path)  # `--keep-going`: a later stage succeeds
    assert client(store).get_run(parent.info.run_id).info.status == "FAILED"


def test_a_run_flushed_by_another_pipeline_gets_its_own_finished_parent(store, monkeypatch, tmp_path):
    pending("sample_labels@10-0", "dvc:5-6.00", monkeypatch, tmp_path)
    later = stage("encode", "dvc:7-8.00", monkeypatch, tmp_path)
    (run,) = logged(store)
    assert run.data.tags["mlflow.parentRunId"] != later.data.tags["mlflow.parentRunId"]
    assert {p.info.status for p in parents(store)} == {"FINISHED"} and len(parents(store)) == 2


def _flush(uri, cwd, barrier, out):
    import os

    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.chdir(cwd)
    tracking.ensure_experiment()
    barrier.wait()
    out.put(deferred.flush())


def test_two_processes_flushing_at_once_log_each_run_once(store, monkeypatch, tmp_path):
    uids = {pending(f"sample_labels@10-{i}", None, monkeypatch, tmp_path)["run_uid"] for i in range(8)}
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_flush, args=(store, tmp_path, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert sum(out.get(timeout=5) for _ in procs) == 8 and all(p.exitcode == 0 for p in procs)
    runs = logged(store)
    assert sorted(r.data.tags[deferred.UID_TAG] for r in runs) == sorted(uids), "each run once, none missing"


def test_a_claim_left_by_a_dead_process_is_taken_over_and_its_half_logged_run_replaced(store, monkeypatch, tmp_path):
    uid = pending("sample_labels@10-0", None, monkeypatch, tmp_path)["run_uid"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (folder,) = deferred.pending_root().iterdir()
    folder.rename(folder.with_name(f"{folder.name}{deferred.CLAIM}{dead.stdout.strip()}"))
    experiment_id = tracking.ensure_experiment()
    client(store).create_run(experiment_id, tags={deferred.UID_TAG: uid}, run_name="half-logged")
    assert deferred.flush() == 1
    (run,) = logged(store)
    assert run.info.run_name == "sample_labels@10-0" and run.data.metrics["min_per_class"] == 1


def test_a_run_that_fails_to_log_stays_pending_and_the_flushing_stage_goes_on(store, monkeypatch, tmp_path, capsys):
    pending("sample_labels@10-0", None, monkeypatch, tmp_path)
    (folder,) = deferred.pending_root().iterdir()
    (folder / "artifacts" / "0" / "sample_labels@10-0.csv").unlink()  # the copy is gone: log_artifact fails
    stage("encode", None, monkeypatch, tmp_path)
    assert "not logged, kept for later" in capsys.readouterr().err
    assert [p.name for p in deferred.pending_root().iterdir()] == [folder.name]
    assert [r.info.status for r in logged(store)] == [], "the half-logged try was deleted"


def test_a_run_being_written_is_not_flushed(store, monkeypatch, tmp_path):
    monkeypatch.setattr(tracking, "pipeline_key", lambda: None)
    with deferred.deferred_stage_run("sample_labels@10-0", {}, None):
        assert deferred.flush() == 0  # only a finished run's folder has a name flushers take
    assert deferred.flush() == 1


def test_the_label_stage_imports_neither_mlflow_nor_pandas_nor_torch():
    heavy = "{'mlflow', 'pandas', 'torch', 'sklearn'}"
    code = f"import sys, stages.sample_labels; print(sorted({heavy} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_process_seconds_counts_from_the_process_start_to_the_hundredth():
    code = "import time; time.sleep(0.3); from genstudy.pipeline import tracking; print(tracking.process_seconds())"
    start = time.time()
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.time() - start
    assert 0.3 <= float(result.stdout) <= wall + 0.02  # psutil's create_time can be up to 1 s early


def artifact_paths(c, run_id, path=None) -> list[str]:
    out = []
    for item in c.list_artifacts(run_id, path):
        out += artifact_paths(c, run_id, item.path) if item.is_dir else [item.path]
    return out


def test_a_deferred_run_logs_steps_tags_dicts_and_artifact_folders_as_mlflow_would(store, monkeypatch, tmp_path):
    monkeypatch.setattr(tracking, "pipeline_key", lambda: None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figures" / "per_class").mkdir(parents=True)
    (tmp_path / "figures" / "grid.png").write_bytes(b"top")
    (tmp_path / "figures" / "per_class" / "grid.png").write_bytes(b"nested")  # the same name twice
    params = {f"p{i}": i for i in range(150)}  # more than one batch of MLflow's 100
    with deferred.deferred_stage_run("train_m2@m1-10-0", params, None) as run:
        run.log_metric("x", 1.0, step=3)
        run.log_metrics({"x": 2.0, "y": 5.0}, step=4)
        run.log_step_rows([{"epoch": e, "loss": 1 / (e + 1)} for e in range(1200)], "epoch", "history.")
        run.log_dict({"source": "here"}, "meta/sources.json")
        run.log_artifacts(tmp_path / "figures", "figures")
        run.log_artifact(tmp_path / "figures" / "grid.png", "model")
        run.set_tag("champion", "dcgan-dcgan")
    assert deferred.flush() == 1
    (logged_run,) = logged(store)
    c, run_id = client(store), logged_run.info.run_id
    assert logged_run.data.params == {k: str(v) for k, v in params.items()}
    assert [(m.step, m.value) for m in c.get_metric_history(run_id, "x")] == [(3, 1.0), (4, 2.0)]
    losses = c.get_metric_history(run_id, "history.loss")
    assert sorted((m.step, m.value) for m in losses) == [(e, 1 / (e + 1)) for e in range(1200)]
    assert logged_run.data.tags["champion"] == "dcgan-dcgan"
    assert sorted(artifact_paths(c, run_id)) == [
        "figures/grid.png",
        "figures/per_class/grid.png",
        "meta/sources.json",
        "model/grid.png",
    ]
    local = c.download_artifacts(run_id, "figures/per_class/grid.png", str(tmp_path / "back"))
    assert open(local, "rb").read() == b"nested"
    assert json.loads(open(c.download_artifacts(run_id, "meta/sources.json", str(tmp_path / "back"))).read()) == {
        "source": "here"
    }


DEFERRED_STAGES = [
    "download",
    "sample_labels",
    "encode",
    "fit_svm",
    "train_m2",
    "m1_table",
    "evaluate_gan",
    "gan_reference",
    "gan_table",
    "gan_figures",
    "theory_divergences",
    "theory_gan2d",
    "theory_sequence_cost",
]


@pytest.mark.parametrize("name", DEFERRED_STAGES)
def test_a_deferred_stage_neither_imports_mlflow_nor_opens_a_tracked_run(name):
    source = (ROOT / "stages" / f"{name}.py").read_text()
    assert "deferred_stage_run(" in source and "stage_run(" not in source.replace("deferred_stage_run(", "")
    code = f"import sys, stages.{name}; print('mlflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
