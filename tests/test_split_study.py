"""A study split across machines (docs/scale-out.md): two clones each run half of the GAN matrix and
push with the run-cache (`make push`); a third, sharing only the DVC remote and the MLflow server,
restores every training with `dvc repro --pull` and builds the report from what was restored.

Each clone has its own DVC cache. The workers run at the same time, as two machines would.
"""

import json
import subprocess

import mlflow
import pytest

from genstudy.pipeline import paths
from tests.helpers.project import BIN, GIT, ROOT, make_project, make_target, ran_stages, run, run_env

pytestmark = pytest.mark.slow


def one_label_subset(params):
    params["labels"]["counts"] = [20]  # the split is about the GAN matrix: fewer SVM and M2 stages


def stage_graph(project) -> tuple[dict[str, set[str]], set[str]]:
    """({stage: the stages that read its outputs, directly or not}, the stages DVC keeps no run-cache
    entry for), from DVC's stage graph.

    DVC saves no run of a stage with an output kept in git that is neither a metric nor a plot: the
    table stages (their Markdown tables), which read other stages' metrics and train nothing."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        direct = {s.name: set() for s in repo.index.graph.nodes}  # addressing is relative to the cwd
        for stage, dependency in repo.index.graph.edges:  # an edge runs from a stage to one it reads from
            direct[dependency.name].add(stage.name)
        uncached = {
            s.name for s in repo.index.stages if any(not o.use_cache and not (o.is_metric or o.is_plot) for o in s.outs)
        }
    closed = {}
    for stage in direct:
        seen, todo = set(), [stage]
        while todo:
            for reader in direct[todo.pop()] - seen:
                seen.add(reader)
                todo.append(reader)
        closed[stage] = seen
    return closed, uncached


def push(clone, env):
    """`make push`, as the Makefile has it, from a clone that has no tools/ of its own."""
    (command,) = make_target("push")
    assert command == "python tools/push_run_cache.py"
    return run(clone, *env, BIN / "python", ROOT / "tools" / "push_run_cache.py")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from inside DVC
def test_two_machines_share_the_study_through_the_remote_and_a_third_trains_nothing(tmp_path, server):
    origin = make_project(tmp_path / "origin", edit=one_label_subset)
    run(origin, BIN / "dvc", "remote", "add", "-d", "team", str(tmp_path / "remote"))
    run(origin, *GIT, "add", "-A")
    run(origin, *GIT, "commit", "-qm", "the tiny study, nothing run")

    graph, uncached = stage_graph(origin)
    half_b = {s for s in graph if s.startswith("train_gan@mlp_g")}
    gathering = set().union(*(graph[s] for s in half_b))  # what reads machine B's results
    half_a = set(graph) - half_b - gathering  # the data, M1, M2, the judge, the dcgan half, theory
    assert {s for s in half_a if s.startswith("train_gan@")} == {"train_gan@dcgan-dcgan", "train_gan@dcgan-wgan_gp"}
    assert "report" in gathering
    assert uncached == {"m1_table", "gan_table", "report"}, "each a table: it trains nothing"

    env = ("env", f"MLFLOW_TRACKING_URI={server.uri}")
    workers = {}
    for name, targets in (("a", half_a), ("b", half_b)):
        clone = tmp_path / name
        run(tmp_path, "git", "clone", "-q", str(origin), str(clone))
        log = (tmp_path / f"{name}.log").open("w")
        command = [*env, str(BIN / "dvc"), "repro", *sorted(map(paths.target, targets))]
        workers[name] = (clone, log, subprocess.Popen(command, cwd=clone, env=run_env(clone), stdout=log, stderr=log))
    for name, (clone, log, process) in workers.items():
        assert process.wait(timeout=900) == 0, (tmp_path / f"{name}.log").read_text()
        log.close()
        run(clone, *env, BIN / "python", "-m", "genstudy.pipeline.deferred")  # the label stages' pending runs
        assert "more objects pushed" in push(clone, env).stdout
    ran_by = {name: ran_stages((tmp_path / f"{name}.log").read_text()) for name in workers}
    assert ran_by["a"] == half_a and half_b <= ran_by["b"], "each ran its half (B also the data it needs)"

    third = tmp_path / "third"
    run(tmp_path, "git", "clone", "-q", str(origin), str(third))
    assert not (third / ".dvc" / "cache").exists()
    repro = run(third, *env, BIN / "dvc", "repro", "--pull")
    cached = [line.split("'")[1] for line in repro.stdout.splitlines() if "is cached - skipping run" in line]
    restored = {address.rpartition(":")[2] for address in cached}
    assert restored == (half_a | half_b) - uncached, "every stage the workers ran is restored"
    assert ran_stages(repro.stdout) == gathering | uncached, "only what reads both halves, and the tables, run here"
    assert not any(s.startswith(("train_", "fit_")) for s in ran_stages(repro.stdout)), "nothing is trained"
    assert "Data and pipelines are up to date" in run(third, BIN / "dvc", "status").stdout

    # The report is built from the restored outputs: it cites every stage's run, and each is on the server.
    report = (third / "reports" / "report.md").read_text()
    assert "mlp_g" in report and "dcgan" in report
    client = mlflow.MlflowClient(server.uri)
    records = {p.stem: json.loads(p.read_text()) for p in (third / "reports" / "runs").glob("*.json")}
    assert set(records) == set(graph) - {"report"}
    runs = client.search_runs([records["train_vae"]["mlflow_experiment_id"]], max_results=1000)
    by_id = {r.info.run_id: r for r in runs}
    by_uid = {r.data.tags.get("genstudy.run_uid"): r for r in runs}  # a deferred run's record has no run id
    for stage, record in records.items():
        logged_run = by_id.get(record["mlflow_run_id"]) or by_uid.get(record.get("run_uid"))
        assert logged_run is not None and logged_run.data.tags["dvc.stage"] == stage, f"{stage}'s run is on the server"
    logged = {r.data.tags.get("dvc.stage") for r in runs}
    assert set(graph) <= logged, "MLflow holds a run of every stage, from whichever machine ran it"
