"""MLflow runs of stages that do not need MLflow for their own work.

`import mlflow` alone costs about 1.5 s of CPU on the study's 2-core machine (MLflow 3 imports its
GenAI, tracing and server modules eagerly), and opening the SQLite store about 1 s more: in a
stage that samples label indices, fits one SVM or draws a table, most of the time went to tracking.
Such a stage uses `deferred_stage_run`, which needs no MLflow: every stage but the three trainings
that log their networks as MLflow models (`train_vae`, `train_judge`, `train_gan`), the model
registry (`register_models`) and the report. It writes its run (params, metrics with their steps,
tags, inputs, and a copy of each artifact) to a pending folder beside the store. The next process
that imports MLflow anyway logs it with its own start and end times, under its pipeline execution's
parent run: every stage that uses `tracking.stage_run` calls `flush`, and the report, the last
stage, leaves none pending; so does `python -m genstudy.pipeline.deferred` (`make mlflow-ui` runs
it) after a partial `dvc repro`.

A pending run is claimed by renaming its folder, which is atomic, so two processes flushing at
once never log it twice. A claim left by a process that died is taken over, and the half-logged
run it may have left (found by its `genstudy.run_uid` tag) is deleted first. A run that fails to
log stays pending and is reported on stderr; the stage that was flushing goes on.
"""

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

from genstudy.io import write_json
from genstudy.pipeline import paths, tracking

UID_TAG = "genstudy.run_uid"
CLAIM = ".claimed-"


def pending_root(uri: str | None = None) -> Path:
    """Where runs wait for store `uri`: beside an SQLite file (`mlflow.db-pending/`), else under the
    repository root, one folder per store."""
    uri = uri or tracking.tracking_uri()
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        return db.with_name(db.name + "-pending")
    return tracking.repo_root() / ".mlflow-pending" / hashlib.sha1(uri.encode()).hexdigest()[:12]


class DeferredRun:
    """What a stage logs inside `deferred_stage_run`: the parts of mlflow's fluent API the stages use,
    under the same names, so that a stage's logging code reads the same either way."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.metrics: list[tuple[str, float, int]] = []  # (key, value, step), in logging order
        self.artifacts: list[tuple[str, str | None]] = []  # (copy under folder/artifacts, artifact_path)
        self.tags: dict[str, str] = {}

    def log_metric(self, key: str, value: float, step: int = 0):
        self.metrics.append((key, float(value), int(step)))

    def log_metrics(self, metrics: dict, step: int = 0):
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    def log_step_rows(self, rows: list[dict], step_key: str, prefix: str = ""):
        """tracking.log_step_rows: per-step rows ({step_key: step, name: value, ...})."""
        for row in rows:
            self.log_metrics({prefix + k: v for k, v in row.items() if k != step_key}, int(row[step_key]))

    def set_tag(self, key: str, value):
        self.tags[key] = str(value)

    def log_artifact(self, local_path, artifact_path: str | None = None):
        """Copied now: the file may change before the run is logged."""
        path = Path(local_path)
        copy = Path(str(len(self.artifacts))) / path.name  # one folder per artifact: names may repeat
        (self.folder / "artifacts" / copy.parent).mkdir(parents=True)
        shutil.copyfile(path, self.folder / "artifacts" / copy)
        self.artifacts.append((copy.as_posix(), artifact_path))

    def log_artifacts(self, local_dir, artifact_path: str | None = None):
        """Every file under `local_dir`, at its relative place under `artifact_path`."""
        local_dir = Path(local_dir)
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            parent = path.parent.relative_to(local_dir).as_posix()
            self.log_artifact(path, "/".join(x for x in (artifact_path, parent) if x and x != ".") or None)

    def log_dict(self, dictionary: dict, artifact_file: str):
        """A JSON artifact (`artifact_file` may name a folder: `a/b.json`)."""
        folder, name = Path(artifact_file).parent.as_posix(), Path(artifact_file).name
        scratch = self.folder / "dicts" / str(len(self.artifacts)) / name
        scratch.parent.mkdir(parents=True)
        write_json(scratch, dictionary)
        self.log_artifact(scratch, None if folder == "." else folder)


@contextlib.contextmanager
def deferred_stage_run(stage: str, params: dict, dataset: str | None = None, inputs: dict | None = None):
    """`tracking.stage_run` without MLflow in this process: yields a DeferredRun, leaves the run pending.

    On success writes reports/runs/<stage>.json with the stage's wall time and the run's
    `genstudy.run_uid` (its MLflow id does not exist yet); a failed stage's run is left pending as FAILED.
    """
    start_ms = int((time.time() - tracking.process_seconds()) * 1000)
    uid = uuid.uuid4().hex
    root = pending_root()
    root.mkdir(parents=True, exist_ok=True)
    building = root / f".building-{uid}"  # not a pending run until complete: flushers skip dot-names
    building.mkdir()
    run = DeferredRun(building)
    commit = tracking.git_commit()
    tags = {"dvc.stage": stage, "git.commit": commit, UID_TAG: uid}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    if dataset:
        tags["dataset"] = dataset
    entry = {
        "stage": stage,
        "pipeline_key": tracking.pipeline_key(),
        "tags": tags,
        "params": {k: str(v) for k, v in tracking.flatten(params).items()},
        "inputs": tracking.split_inputs(dataset) if dataset else [],
        "start_ms": start_ms,
    }
    status = "FAILED"
    try:
        yield run
        entry["inputs"] += tracking.file_inputs(inputs or {})
        seconds = tracking.process_seconds()
        run.log_metric("stage_seconds", seconds)
        status = "FINISHED"
    finally:
        entry |= {"status": status, "end_ms": int(time.time() * 1000)}
        entry["tags"] |= run.tags
        entry |= {"metrics": run.metrics, "artifacts": run.artifacts}
        write_json(building / "run.json", entry)
        building.rename(root / f"{start_ms}-{uid}")
    record = {"stage": stage, "mlflow_run_id": None, "mlflow_experiment_id": None, "run_uid": uid}
    write_json(paths.run_record(stage), record | {"git_commit": commit, "seconds": round(seconds, 1)})


# --- logging the pending runs: only in processes that have imported MLflow -----------------------


def _claim(folder: Path) -> Path | None:
    """Rename a pending run's folder to mark it ours; None if another process has it."""
    if CLAIM in folder.name:
        import psutil

        base, pid = folder.name.rsplit(CLAIM, 1)
        if pid.isdigit() and psutil.pid_exists(int(pid)):
            return None  # being logged by a live process
    else:
        base = folder.name
    claimed = folder.with_name(f"{base}{CLAIM}{os.getpid()}")
    try:
        folder.rename(claimed)
    except OSError:  # another process renamed it first
        return None
    return claimed


def _log(client, experiment_id: str, folder: Path):
    run = json.loads((folder / "run.json").read_text())
    uid = run["tags"][UID_TAG]
    for stale in client.search_runs([experiment_id], filter_string=f"tags.`{UID_TAG}` = '{uid}'"):
        client.delete_run(stale.info.run_id)  # a half-logged try by a process that died
    tags = dict(run["tags"])
    parent = created_parent = None
    if run["pipeline_key"]:
        created_parent = not tracking._parents(client, experiment_id, run["pipeline_key"])
        parent = tracking.parent_run(experiment_id, run["pipeline_key"], tags["git.commit"])
        tags[tracking.PARENT_ID_TAG] = parent.info.run_id
    run_id = client.create_run(experiment_id, start_time=run["start_ms"], tags=tags, run_name=run["stage"]).info.run_id
    try:
        _log_content(client, run_id, folder, run)
    except BaseException:
        client.delete_run(run_id)  # not half-logged: the next flush logs it whole
        raise
    if parent is not None and (created_parent or run["status"] == "FAILED"):
        # A parent made for this run alone, or one whose execution failed here. A stage flushing
        # this run under its own parent sets that parent RUNNING again (a failed one stays FAILED).
        client.set_terminated(parent.info.run_id, run["status"])


def _log_content(client, run_id: str, folder: Path, run: dict):
    from mlflow.entities import Metric, Param

    metrics = run["metrics"]
    if isinstance(metrics, dict):  # written before runs kept steps: {key: value}
        metrics = [(k, v, 0) for k, v in metrics.items()]
    metrics = [Metric(k, v, run["end_ms"], step) for k, v, step in metrics]
    params = [Param(k, v) for k, v in run["params"].items()]
    for i in range(0, len(params), 100):  # MLflow's limits per batch: 100 params, 1,000 metrics
        client.log_batch(run_id, params=params[i : i + 100], synchronous=True)
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000], synchronous=True)
    tracking.log_inputs(run_id, run["inputs"])
    for artifact in run["artifacts"]:
        copy, artifact_path = (artifact, None) if isinstance(artifact, str) else artifact
        client.log_artifact(run_id, str(folder / "artifacts" / copy), artifact_path)
    client.set_terminated(run_id, run["status"], end_time=run["end_ms"])


def flush(experiment_id: str | None = None) -> int:
    """Log every pending run of the current store, oldest first; the number logged."""
    root = pending_root()
    if not root.is_dir():
        return 0
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        return 0
    import mlflow

    experiment_id = experiment_id or tracking.ensure_experiment()
    client = mlflow.MlflowClient()
    logged = 0
    for folder in folders:
        claimed = _claim(folder)
        if claimed is None:
            continue
        try:
            _log(client, experiment_id, claimed)
        except Exception as e:  # the stage flushing must not fail for another stage's run
            print(f"warning: pending MLflow run {folder.name} not logged, kept for later: {e}", file=sys.stderr)
            with contextlib.suppress(OSError):
                claimed.rename(root / claimed.name.split(CLAIM)[0])
            continue
        shutil.rmtree(claimed, ignore_errors=True)
        logged += 1
    return logged


if __name__ == "__main__":
    count = flush()
    print(f"{count} pending MLflow run{'s' if count != 1 else ''} logged to {tracking.tracking_uri()}")
