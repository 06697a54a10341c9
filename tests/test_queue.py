"""DVC's experiment queue on one machine (`make queue`): queued experiments run side by side, each
stage run lands in MLflow tagged with its experiment, and an experiment killed mid-run harms
nothing else.

Each experiment changes vae.free_bits of the committed tiny study, so it reruns train_vae (and
encode, where that is the target) and restores everything upstream from the shared DVC cache.
"""

import json
import shutil
import sqlite3
import subprocess
import time
from subprocess import DEVNULL

import psutil
import pytest

from genstudy.pipeline import paths, tracking
from tests.helpers.project import BIN, GIT, run, run_env

pytestmark = pytest.mark.slow

STATES = ("Queued", "Running", "Success", "Failed")
FLUSH = "genstudy.pipeline.deferred"  # logs the pending runs of stages that do not open MLflow


def committed_copy(study, path):
    """The tiny study as a committed checkout (experiments start from a commit), with a fresh MLflow store."""
    shutil.copytree(study.path, path, ignore=shutil.ignore_patterns("mlflow.db", "mlartifacts", "params-reads"))
    run(path, *GIT, "add", "-A")
    run(path, *GIT, "commit", "-qm", "study")
    return path


def start_workers(project, *env):
    """`dvc queue start -j 2`, workers inheriting OMP_NUM_THREADS=1. Their output is not captured:
    the detached workers would hold the pipes open, and a capturing run would wait for them to exit."""
    command = [*env, str(BIN / "dvc"), "queue", "start", "-j", "2"]
    subprocess.run(command, cwd=project, env=run_env(project), stdout=DEVNULL, stderr=DEVNULL, check=True)


def statuses(project) -> dict:
    """{experiment name: state} as `dvc queue status` prints them."""
    rows = {}
    for line in run(project, BIN / "dvc", "queue", "status").stdout.splitlines():
        words = line.split()
        if len(words) >= 3 and words[-1] in STATES:
            rows[words[1]] = words[-1]
    return rows


def wait_until(project, names, states=("Success", "Failed"), timeout=600) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        now = statuses(project)
        if all(now.get(name) in states for name in names):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s the queue is at {now}")
        time.sleep(1)


def experiments_shown(project) -> dict:
    """{experiment name: its metrics files} from `dvc exp show --json`."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") and isinstance(node.get("data"), dict):
                found[node["name"]] = node["data"].get("metrics") or {}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(run(project, BIN / "dvc", "exp", "show", "--json").stdout))
    return found


def stage_runs_by_experiment(uri: str) -> dict:
    import mlflow

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    runs = {}
    for r in client.search_runs([experiment.experiment_id]):
        if tracking.PARENT_TAG not in r.data.tags:
            runs.setdefault(r.data.tags.get("dvc.exp_name"), []).append(r)
    return runs


@pytest.fixture(params=["sqlite", "server"])
def store_uri(request):
    """Where the queued stages log: the SQLite default (None) or an MLflow server on PostgreSQL."""
    return None if request.param == "sqlite" else request.getfixturevalue("server").uri


def test_queued_experiments_run_two_at_a_time_and_every_stage_run_is_in_mlflow(study, tmp_path, store_uri):
    project = committed_copy(study, tmp_path / "project")
    bits = {"free-bits-0": 0.0, "free-bits-3": 3.0}  # one per worker
    for name, value in bits.items():
        settings = ("-S", f"vae.free_bits={value}", paths.target("encode"))
        run(project, BIN / "dvc", "exp", "run", "--queue", "--name", name, *settings)
    assert statuses(project) == dict.fromkeys(bits, "Queued")

    start_workers(project, *(("env", f"MLFLOW_TRACKING_URI={store_uri}") if store_uri else ()))
    try:
        assert wait_until(project, bits) == dict.fromkeys(bits, "Success")
    finally:
        run(project, BIN / "dvc", "queue", "stop", check=False)

    shown = experiments_shown(project)
    for name, value in bits.items():
        summary = shown[name]["metrics/vae.json"]["data"]
        assert summary["test_elbo"] < 0, name
    elbos = {shown[name]["metrics/vae.json"]["data"]["test_elbo"] for name in bits}
    assert len(elbos) == len(bits), "each experiment trained its own VAE"

    # encode's runs are deferred (no stage after it opened MLflow): `make mlflow-ui` logs them, like this.
    store_env = ("env", f"MLFLOW_TRACKING_URI={store_uri}") if store_uri else ()
    assert "2 pending MLflow runs logged" in run(project, *store_env, BIN / "python", "-m", FLUSH).stdout
    by_experiment = stage_runs_by_experiment(store_uri or f"sqlite:///{project / 'mlflow.db'}")
    assert set(by_experiment) == set(bits), "every stage run is tagged with its experiment"
    for name, value in bits.items():
        runs = by_experiment[name]
        assert sorted(r.info.run_name for r in runs) == ["encode", "train_vae"], name
        assert all(r.info.status == "FINISHED" for r in runs), name
        vae = next(r for r in runs if r.info.run_name == "train_vae")
        assert float(vae.data.params["vae.free_bits"]) == value
        assert len({r.data.tags[tracking.PARENT_ID_TAG] for r in runs}) == 1, "one parent per experiment"
    parents = {by_experiment[name][0].data.tags[tracking.PARENT_ID_TAG] for name in bits}
    assert len(parents) == len(bits)
    # Two workers: some experiment started before the one before it had ended.
    spans = sorted(
        (min(r.info.start_time for r in runs), max(r.info.end_time for r in runs)) for runs in by_experiment.values()
    )
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), f"one at a time: {spans}"
    if store_uri is None:
        with sqlite3.connect(project / "mlflow.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def experiment_processes(experiment: str) -> list | None:
    """A running queued experiment's processes: its executor (`dvc exp exec-run`, which the worker
    starts detached, outside its own process tree) and everything under it, train_vae included."""
    for proc in psutil.process_iter():
        try:
            if "stages.train_vae" in proc.cmdline() and proc.environ().get("DVC_EXP_NAME") == experiment:
                executor = next(p for p in proc.parents() if "exec-run" in p.cmdline())
                return [executor, *executor.children(recursive=True)]
        except (psutil.Error, StopIteration):
            continue
    return None


def training_logged(project, experiment: str) -> bool:
    """Whether the experiment's train_vae run is in the store, logging its epochs."""
    try:
        with sqlite3.connect(f"file:{project / 'mlflow.db'}?mode=ro", uri=True, timeout=5) as db:
            query = (
                "SELECT COUNT(*) FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid JOIN metrics "
                "ON metrics.run_uuid = runs.run_uuid WHERE runs.name = 'train_vae' AND runs.status = "
                "'RUNNING' AND tags.key = 'dvc.exp_name' AND tags.value = ?"
            )
            return db.execute(query, (experiment,)).fetchone()[0] > 0
    except sqlite3.Error:  # no store or no tables yet
        return False


def test_an_experiment_killed_mid_run_leaves_the_other_and_the_store_intact_and_reruns(study, tmp_path):
    project = committed_copy(study, tmp_path / "project")
    # The victim is still training when it is killed; the survivor trains on meanwhile, and ends.
    for name, value, epochs in (("survivor", 1.0, 300), ("killed", 3.0, 2000)):
        settings = ("-S", f"vae.free_bits={value}", "-S", f"vae.epochs={epochs}", paths.target("train_vae"))
        run(project, BIN / "dvc", "exp", "run", "--queue", "-n", name, *settings)
    start_workers(project)
    try:
        deadline = time.monotonic() + 300
        while (victims := experiment_processes("killed")) is None or not training_logged(project, "killed"):
            assert time.monotonic() < deadline, statuses(project)
            time.sleep(0.5)
        for proc in victims:  # SIGKILL: no handler runs, as when the machine under it goes away
            proc.kill()
        psutil.wait_procs(victims, timeout=30)
        assert wait_until(project, ["survivor", "killed"], timeout=300) == {"survivor": "Success", "killed": "Failed"}
    finally:
        run(project, BIN / "dvc", "queue", "stop", "--kill", check=False)

    with sqlite3.connect(project / "mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    runs = stage_runs_by_experiment(f"sqlite:///{project / 'mlflow.db'}")
    assert [r.info.status for r in runs["survivor"]] == ["FINISHED"]
    assert [r.info.status for r in runs["killed"]] == ["RUNNING"], "nothing was left to end the killed run"

    # The killed experiment runs again under its own name (-f: replace what the queue kept of it).
    run(project, BIN / "dvc", "queue", "remove", "killed", check=False)
    again = ("-S", "vae.free_bits=3.0", "-S", "vae.epochs=2", paths.target("train_vae"))
    run(project, BIN / "dvc", "exp", "run", "--temp", "-f", "-n", "killed", *again)
    assert experiments_shown(project)["killed"]["metrics/vae.json"]["data"]["epochs"] == 2
