"""The one MLflow entry point: where runs are stored, how they are named and tagged.

Default store: SQLite at the repository root (`mlflow.db`, artifacts in
`mlartifacts/`), both absolute so that `dvc exp run --temp/--queue`, which runs in
a copy under `.dvc/tmp/exps/`, still logs to the main store.
`MLFLOW_TRACKING_URI` overrides the store.
"""

import contextlib
import os
import subprocess
import time
from pathlib import Path

from genstudy.pipeline import paths

EXPERIMENT = "genstudy"


def repo_root() -> Path:
    """The repository root, also when running inside a DVC experiment's temp copy."""
    here = str(Path(__file__).resolve().parents[2])
    cut = here.find(f"{os.sep}.dvc{os.sep}tmp{os.sep}exps{os.sep}")
    return Path(here[:cut]) if cut >= 0 else Path(here)


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def ensure_experiment() -> str:
    """Create the study's experiment if needed; return its id."""
    import mlflow

    # Decide before set_tracking_uri, which exports MLFLOW_TRACKING_URI itself.
    default_store = not os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri())
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    location = (repo_root() / "mlartifacts").as_uri() if default_store else None
    try:
        return mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another process created it between our lookup and create.
        return mlflow.get_experiment_by_name(EXPERIMENT).experiment_id


def flatten(params: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists become strings."""
    flat = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def log_step_rows(run_id: str, rows: list[dict], step_key: str, prefix: str = ""):
    """Per-step metric rows ({step_key: step, name: value, ...}) in batches, as MLflow takes them."""
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(prefix + k, float(v), now, int(r[step_key])) for r in rows for k, v in r.items() if k != step_key]
    client = mlflow.MlflowClient()
    for i in range(0, len(metrics), 1000):  # MLflow's limit per batch
        client.log_batch(run_id, metrics=metrics[i : i + 1000], synchronous=True)


@contextlib.contextmanager
def stage_run(stage: str, params: dict, dataset: str | None = None, record=None):
    """One MLflow run for one execution of DVC stage `stage` (e.g. `fit_svm_m1@100-0`).

    On success also writes reports/runs/<stage>.json (or `record`): the run id and the
    stage's wall time since its process started (imports and data loading included).
    The run record is a DVC output of the stage, so the report cites runs without querying
    MLflow. The report stage passes its own `record`: it depends on reports/runs as a whole,
    and DVC refuses a stage whose output lies inside its own dependency.
    """
    import mlflow
    import psutil

    from genstudy.io import write_json

    experiment_id = ensure_experiment()
    tags = {"dvc.stage": stage, "git.commit": git_commit()}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    if dataset:
        tags["dataset"] = dataset
    with mlflow.start_run(experiment_id=experiment_id, run_name=stage, tags=tags) as run:
        mlflow.log_params(flatten(params))
        yield run
        seconds = time.time() - psutil.Process().create_time()
        mlflow.log_metric("stage_seconds", seconds)
    write_json(
        record or paths.run_record(stage),
        {
            "stage": stage,
            "mlflow_run_id": run.info.run_id,
            "mlflow_experiment_id": experiment_id,
            "git_commit": tags["git.commit"],
            "seconds": round(seconds, 1),
        },
    )
