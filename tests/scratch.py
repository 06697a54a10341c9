"""A scratch copy of the project on tiny generated data, driven by the real DVC and stages."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import write_tiny

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tiny_params(source: Path, checksums: dict) -> dict:
    """params.yaml with the tiny dataset and every stage shrunk to seconds."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"] = {"dataset": "tiny", "sources": {"tiny": [str(source)]}, "checksums": {"tiny": checksums},
                      "timeout_s": 5}
    params["labels"] = {"counts": [20, 50], "seeds": [0]}
    params["vae"].update(hidden=32, z_dim=8, epochs=2, batch_size=50, lr=0.003, kl_warmup_epochs=1)
    params["svm"].update(C=[1, 10], gamma_factors=[1], cv_folds=2)
    params["svm"]["m1"].update(drop_inactive=False, transductive={"enabled": True, "pool": 100, "n_neighbors": 5, "alpha": 0.2, "keep": 0.5})
    return params


def make_project(directory: Path, edit=None) -> Path:
    """Copy code and dvc.yaml into `directory`, write tiny data and params, git + dvc init.

    `edit(params)` may change the tiny params in place before they are written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for item in ("genstudy", "stages", "dvc.yaml", "profiles"):
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, directory / item, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy(src, directory / item)
    source = directory.parent / f"{directory.name}-source"
    params = tiny_params(source, write_tiny(source))
    if edit:
        edit(params)
    (directory / "params.yaml").write_text(yaml.safe_dump(params))
    run(directory, "git", "init", "-q")
    run(directory, BIN / "dvc", "init", "-q")
    return directory


def run(project: Path, *args, check=True) -> subprocess.CompletedProcess:
    """Run a command in the project with the venv first on PATH and the default MLflow store."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run([str(a) for a in args], cwd=project, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ran_stages(output: str) -> set:
    """Names of the stages `dvc repro` says it ran."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}
