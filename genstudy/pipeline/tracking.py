"""The one MLflow entry point: where runs are stored, how they are named and tagged.

Default store: SQLite at the repository root (`mlflow.db`, artifacts in
`mlartifacts/`), both absolute so that `dvc exp run --temp/--queue`, which runs in
a copy under `.dvc/tmp/exps/`, still logs to the main store.
`MLFLOW_TRACKING_URI` overrides the store.

Every stage run is the child of one parent run per pipeline execution (one `dvc repro`
or one DVC experiment; `pipeline_key`), linked by the tag `mlflow.parentRunId`: the
stages are separate processes, so `mlflow.start_run(parent_run_id=...)` cannot nest
them. A stage run by hand, outside DVC, has no parent. Each run also logs its inputs:
the dataset's IDX files (by their content MD5s) and any label subset it reads.
"""

import contextlib
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from genstudy.pipeline import paths

EXPERIMENT = "genstudy"
# MLflow 3's experiment type: with "custom_model_development" ("Machine learning" in the UI's type
# selector) `mlflow ui` opens the experiment on its runs table rather than the GenAI overview.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
PARENT_TAG = "genstudy.pipeline"  # on parent runs only: the pipeline key (children carry mlflow.parentRunId)
PARENT_ID_TAG = "mlflow.parentRunId"
CONTEXT_TAG = "mlflow.data.context"

_parent_run_id: str | None = None  # the current stage run's parent, for log_parent_metrics


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


def process_seconds() -> float:
    """Wall seconds since this process started, its imports included.

    From /proc/self/stat and the boot clock where Linux has them (10 ms resolution). psutil's
    create_time adds /proc/stat's boot time, which is rounded down to the second: up to 1 s too long.
    """
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):  # not Linux
        import psutil

        return time.time() - psutil.Process().create_time()


def ensure_experiment() -> str:
    """Create the study's experiment if needed, tagged as a model-training experiment; return its id."""
    import mlflow

    # Decide before set_tracking_uri, which exports MLFLOW_TRACKING_URI itself.
    default_store = not os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri())
    # The first access creates a new SQLite store's tables: two queued experiments starting at once
    # would both run the migrations ("table jobs already exists"). The lock makes one wait.
    with _store_lock():
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            location = (repo_root() / "mlartifacts").as_uri() if default_store else None
            try:
                return mlflow.create_experiment(EXPERIMENT, artifact_location=location, tags={KIND_TAG: KIND})
            except mlflow.exceptions.MlflowException:
                # Another process (on another machine) created it between our lookup and create.
                experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if not experiment.tags.get(KIND_TAG):  # an experiment made before the tag; a kind chosen in the UI stays
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, KIND_TAG, KIND)
    return experiment.experiment_id


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


# --- one parent run per pipeline execution ------------------------------------------------------


def _is_dvc(cmdline: list[str]) -> bool:
    """`dvc ...`, `python .../bin/dvc ...` (a console script) or `python -m dvc ...`."""
    if not cmdline:
        return False
    first = os.path.basename(cmdline[0])
    if first in ("dvc", "dvc.exe"):
        return True
    if first.startswith("python") and len(cmdline) > 1:
        return os.path.basename(cmdline[1]) in ("dvc", "dvc.exe") or cmdline[1:3] == ["-m", "dvc"]
    return False


def dvc_ancestor():
    """The nearest ancestor `dvc` process (DVC starts a stage as `$SHELL -c CMD`), or None."""
    import psutil

    try:
        proc = psutil.Process().parent()
        for _ in range(12):
            if proc is None:
                return None
            if _is_dvc(proc.cmdline()):
                return proc
            proc = proc.parent()
    except psutil.Error:
        pass
    return None


def pipeline_key() -> str | None:
    """What identifies the pipeline execution this stage belongs to; None for a stage run by hand.

    The DVC experiment's name (DVC_EXP_NAME, set by `dvc exp run`) and the nearest ancestor `dvc`
    process (pid and start time: one `dvc repro`, or the executor of one queued experiment).
    Both where there are both, so rerunning an experiment under the same name (`-f`) gets a new parent.
    """
    parts = []
    if os.environ.get("DVC_EXP_NAME"):
        parts.append(f"exp:{os.environ['DVC_EXP_NAME']}")
    dvc = dvc_ancestor()
    if dvc is not None:
        try:
            parts.append(f"dvc:{dvc.pid}-{dvc.create_time():.2f}")
        except Exception:  # psutil.Error: it ended meanwhile
            pass
    # Only characters that need no quoting in a search filter.
    return re.sub(r"[^A-Za-z0-9_.:@/+-]", "_", "/".join(parts)) if parts else None


def params_sha256(path="params.yaml") -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


@contextlib.contextmanager
def _store_lock():
    """Serialize creating the store, the experiment and parents between processes of this machine."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the keep-the-oldest re-search below is the only guard
        yield
        return
    name = f"genstudy-mlflow-{hashlib.sha1(tracking_uri().encode()).hexdigest()[:12]}.lock"
    try:
        handle = open(Path(tempfile.gettempdir()) / name, "a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _parents(client, experiment_id: str, key: str) -> list:
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{key}'", max_results=100)
    return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))


def parent_run(experiment_id: str, key: str, commit: str | None = None):
    """The parent run of pipeline execution `key`, created by the first stage that asks for it.

    Two processes that ask at once: a lock file serializes them on one machine; elsewhere both may
    create one, re-search, keep the oldest and delete their own if it is not the one kept.
    """
    import mlflow

    client = mlflow.MlflowClient()
    with _store_lock():
        found = _parents(client, experiment_id, key)
        if found:
            return found[0]
        commit = commit or git_commit()
        exp, params_hash = os.environ.get("DVC_EXP_NAME"), params_sha256()
        tags = {
            PARENT_TAG: key,
            "git.commit": commit,
            "mlflow.note.content": "One pipeline execution (`dvc repro` or one DVC experiment); "
            "its child runs are the stages it ran.",
        }
        if params_hash:
            tags["params.sha256"] = params_hash
        if exp:
            tags["dvc.exp_name"] = exp
            if os.environ.get("DVC_EXP_BASELINE_REV"):
                tags["dvc.exp_baseline_rev"] = os.environ["DVC_EXP_BASELINE_REV"]
        name = exp or ("dvc repro" if commit == "unknown" else f"dvc repro {commit[:7]}")
        mine = client.create_run(experiment_id, tags=tags, run_name=name)
        found = _parents(client, experiment_id, key)
    keep = found[0] if found else mine
    if keep.info.run_id != mine.info.run_id:
        client.delete_run(mine.info.run_id)
    return keep


def log_parent_metrics(metrics: dict) -> str | None:
    """Log headline metrics ({name: number}) on the current stage run's parent; its id, or None without one."""
    if _parent_run_id is None or not metrics:
        return None
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
    mlflow.MlflowClient().log_batch(_parent_run_id, metrics=batch, synchronous=True)
    return _parent_run_id


# --- inputs --------------------------------------------------------------------------------------


def _checksums(dataset: str) -> dict | None:
    """{IDX file: MD5 of its content} of `dataset`: the built-in table, else params.yaml's data.checksums
    (read directly: a checksum is what identifies the data, not a param this stage depends on)."""
    from genstudy import data

    if dataset in data.MD5:
        return data.MD5[dataset]
    try:
        from genstudy.pipeline.params import read_yaml

        return (read_yaml("params.yaml").get("data", {}).get("checksums") or {}).get(dataset)
    except Exception:  # no params.yaml here, or not readable: no checksums, no input logged
        return None


def _dataset_class():
    """A MetaDataset (metadata only, nothing read or copied) that also carries a profile."""
    from mlflow.data.meta_dataset import MetaDataset

    class FilesDataset(MetaDataset):
        def __init__(self, source, name, digest, profile):
            self._profile = profile
            super().__init__(source, name=name, digest=digest)

        @property
        def profile(self):
            return self._profile

        def to_dict(self):
            return super().to_dict() | {"profile": json.dumps(self._profile)}

    return FilesDataset


def _local_source(path):
    from mlflow.data.dataset_source_registry import get_registered_sources

    cls = next(s for s in get_registered_sources() if s._get_source_type() == "local")
    return cls(Path(path).resolve().as_uri())


def split_inputs(dataset: str) -> list[dict]:
    """One input per split of `dataset`: name = dataset, context = split, digest = MD5 of the split's
    images and labels MD5s (both in the profile); nothing is read. Plain dicts, as `log_inputs` takes
    them: a deferred run writes them to JSON without importing MLflow."""
    from genstudy import data

    checksums = _checksums(dataset) or {}
    out = []
    for split in ("train", "test"):
        files = sorted(data.FILES[f"{split}_{part}"] for part in ("images", "labels"))
        if not set(files) <= set(checksums):
            continue
        profile = {"md5": {name: checksums[name] for name in files}}
        digest = hashlib.md5(" ".join(profile["md5"].values()).encode()).hexdigest()
        source = str(Path(paths.RAW).resolve())
        out.append({"name": dataset, "source": source, "digest": digest, "profile": profile, "context": split})
    return out


def file_inputs(inputs: dict) -> list[dict]:
    """One 'train' input per {name: file}: digest = MD5 of the file."""
    out = []
    for name, path in inputs.items():
        content = Path(path).read_bytes()
        profile = {"path": str(path), "bytes": len(content)}
        digest = hashlib.md5(content).hexdigest()
        source = str(Path(path).resolve())
        out.append({"name": name, "source": source, "digest": digest, "profile": profile, "context": "train"})
    return out


def log_inputs(run_id: str, inputs: list[dict], tries: int = 4):
    """Log `inputs` (from `split_inputs`/`file_inputs`) on run `run_id`.

    MLflow's stores find-or-insert each dataset of an experiment without a lock: two processes that
    log the same new dataset at once (two queued experiments, two flushes) collide on its unique key
    and one fails. Its transaction is rolled back, and on the next try the dataset exists.
    """
    if not inputs:
        return
    import mlflow
    from mlflow.entities import DatasetInput, InputTag

    cls = _dataset_class()
    entities = [
        DatasetInput(
            cls(_local_source(d["source"]), d["name"], d["digest"], d["profile"])._to_mlflow_entity(),
            [InputTag(CONTEXT_TAG, d["context"])],
        )
        for d in inputs
    ]
    client = mlflow.MlflowClient()
    for attempt in range(tries):
        try:
            client.log_inputs(run_id, datasets=entities)
            return
        except Exception:
            if attempt == tries - 1:
                raise
            time.sleep(0.05 * 2**attempt)


@contextlib.contextmanager
def stage_run(stage: str, params: dict, dataset: str | None = None, record=None, inputs: dict | None = None):
    """One MLflow run for one execution of DVC stage `stage` (e.g. `fit_svm_m1@100-0`).

    The run is a child of the pipeline execution's parent run (`pipeline_key`), which is RUNNING
    while a stage runs and FINISHED after it (FAILED once a stage failed). It logs `dataset`'s splits
    as inputs and, at its end, `inputs` ({name: file}, e.g. {"labels-n100-seed0": CSV}; read then,
    so a stage may write the file inside the run).

    On success also writes reports/runs/<stage>.json (or `record`): the run id and the
    stage's wall time since its process started (imports and data loading included).
    The run record is a DVC output of the stage, so the report cites runs without querying
    MLflow. The report stage passes its own `record`: it depends on reports/runs as a whole,
    and DVC refuses a stage whose output lies inside its own dependency.
    """
    global _parent_run_id
    import mlflow

    from genstudy.io import write_json

    experiment_id = ensure_experiment()
    from genstudy.pipeline.deferred import flush

    flush(experiment_id)  # runs of earlier stages that did not import MLflow, before the parent is read
    tags = {"dvc.stage": stage, "git.commit": git_commit()}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    if dataset:
        tags["dataset"] = dataset
    key = pipeline_key()
    parent = parent_run(experiment_id, key, tags["git.commit"]) if key else None
    client = mlflow.MlflowClient()
    _parent_run_id = parent.info.run_id if parent is not None else None
    if parent is not None:
        tags[PARENT_ID_TAG] = _parent_run_id
        if parent.info.status == "FINISHED":
            client.update_run(_parent_run_id, status="RUNNING")
    failed = parent is not None and parent.info.status == "FAILED"  # a failed execution stays failed
    try:
        with mlflow.start_run(experiment_id=experiment_id, run_name=stage, tags=tags) as run:
            mlflow.log_params(flatten(params))
            log_inputs(run.info.run_id, split_inputs(dataset) if dataset else [])
            yield run
            log_inputs(run.info.run_id, file_inputs(inputs or {}))
            seconds = process_seconds()
            mlflow.log_metric("stage_seconds", seconds)
    except BaseException:
        failed = True
        raise
    finally:
        if parent is not None:
            client.set_terminated(parent.info.run_id, "FAILED" if failed else "FINISHED")
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
