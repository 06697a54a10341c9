"""A scratch copy of the project on tiny generated data, driven by the real DVC and stages."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.tiny_data import write_tiny

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READS = "params-reads"  # where each stage process of the scratch project records the params keys it read
GIT = ("git", "-c", "user.name=genstudy test", "-c", "user.email=test@localhost")  # commits in scratch projects


def tiny_params(source: Path, checksums: dict) -> dict:
    """params.yaml with the tiny dataset and every stage shrunk to seconds."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"] = {
        "dataset": "tiny",
        "sources": {"tiny": [str(source)]},
        "checksums": {"tiny": checksums},
        "timeout_s": 5,
    }
    params["labels"] = {"counts": [20, 50], "seeds": [0]}
    params["vae"].update(hidden=32, z_dim=8, epochs=2, batch_size=50, lr=0.003, kl_warmup_epochs=1)
    params["svm"].update(C=[1, 10], gamma_factors=[1], cv_folds=2)
    params["svm"]["m1"].update(
        drop_inactive=False, transductive={"enabled": True, "pool": 100, "n_neighbors": 5, "alpha": 0.2, "keep": 0.5}
    )
    params["m2"].update(
        hidden=16, z_dim=4, epochs=2, batch_unlabelled=50, batch_labelled=10, validation={"size": 50, "seed": 0}
    )
    params["judge"].update(width=8, features=16, epochs=2, batch_size=32, augment=False, min_test_accuracy=0.0)
    gan = params["gan"]
    # Both architectures (the report compares them), two methods: each GAN stage costs seconds of start-up.
    gan["matrix"] = {"arch": ["dcgan", "mlp_g"], "method": ["dcgan", "wgan_gp"]}
    for preset in gan["architectures"].values():
        preset["generator"]["filters"] = 4 if preset["generator"]["type"] == "conv" else 16
        preset["critic"]["filters"] = 4
    for method in gan["methods"].values():
        method.update(iterations=6, critic_steps=min(method["critic_steps"], 2))
    gan["train"].update(batch_size=16, z_dim=8, grid_every=3, log_every=2, checkpoint_every=2)
    gan["train"]["failure"]["warmup"] = 1000
    # Six iterations cannot converge: the failure checks are off here and tested on their own.
    gan["evaluation"].update(per_class=10, curve_per_class=5, min_diversity=0.0, gan_train_epochs=1)
    t = params["theory"]
    t["divergences"].update(
        theta_points=6,
        w_samples=200,
        hist_samples=2000,
        bin_widths=[0.1, 0.02],
        knn_sizes=[100, 1000],
        growth_thetas=[0.0, 0.5],
    )
    t["sequence_cost"].update(
        lengths=[16, 32, 64, 128],
        recompute_max_length=128,
        fit_min_length=32,
        flop_max_length=1024,
        flop_check_length=4,
        repeats=1,
    )
    t["gan2d"].update(epochs=300, eval_every=100, eval_size=200, snapshot_epochs=[0, 100])
    params["report"].update(labels=[3, 7], loss_smoothing=2)  # the tiny dataset's classes are 0-9
    return params


def make_project(directory: Path, edit=None) -> Path:
    """Copy the code and the pipeline files into `directory`, write tiny data and params, git + dvc init.

    `edit(params)` may change the tiny params in place before they are written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for item in ("genstudy", "stages", "dvc.yaml", "pipelines", "profiles", "bench/budget.yaml", "bench/results"):
        src = ROOT / item
        if src.is_dir():  # not the committed study's locks: the scratch study makes its own
            shutil.copytree(src, directory / item, ignore=shutil.ignore_patterns("__pycache__", "dvc.lock"))
        elif src.exists():
            (directory / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, directory / item)
    source = directory.parent / f"{directory.name}-source"
    params = tiny_params(source, write_tiny(source))
    if edit:
        edit(params)
    write_params(directory, params)
    run(directory, "git", "init", "-q")
    run(directory, BIN / "dvc", "init", "-q")
    return directory


def read_params(project: Path) -> dict:
    return yaml.safe_load((project / "params.yaml").read_text())


def write_params(project: Path, params: dict):
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_env(project: Path, env=None) -> dict:
    """The venv first on PATH, the default MLflow store, one torch thread per stage (tiny tensors),
    no DVC usage reports, and each stage's params reads recorded under READS."""
    full_env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        OMP_NUM_THREADS="1",
        DVC_NO_ANALYTICS="1",  # a scratch project's `dvc init` turns DVC's usage reports on
        GENSTUDY_PARAMS_READS=str(project / READS),
        **(env or {}),
    )
    full_env.pop("MLFLOW_TRACKING_URI", None)
    return full_env


def run(project: Path, *args, check=True, env=None) -> subprocess.CompletedProcess:
    """Run a command in the project, in run_env's environment."""
    result = subprocess.run(
        [str(a) for a in args], cwd=project, env=run_env(project, env), capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ran_stages(output: str) -> set:
    """Names of the stages `dvc repro` says it ran (`pipelines/m1/dvc.yaml:encode` is `encode`)."""
    return {line.split("'")[1].rpartition(":")[2] for line in output.splitlines() if line.startswith("Running stage")}


def make_target(name: str) -> list[str]:
    """The commands of a Makefile target."""
    text = (ROOT / "Makefile").read_text()
    body = re.search(rf"^{name}:.*\n((?:\t.*\n)+)", text, re.M).group(1)
    return [line.strip() for line in body.splitlines()]
