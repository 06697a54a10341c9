"""Faults a shared workspace meets: a second `dvc repro` while one runs is refused by DVC's lock.

DVC locks the outputs of the stage being run (.dvc/tmp/rwlock): a second repro skips what is up to
date and stops, with DVC's own message, at the stage whose outputs the first one is writing."""

import json
import os
import shutil
import subprocess

import pytest

from genstudy.pipeline import paths
from tests.helpers.project import BIN, read_params, run, write_params

pytestmark = pytest.mark.slow


def test_a_second_dvc_repro_in_the_same_workspace_is_refused_by_the_lock(study, tmp_path):
    project = tmp_path / "project"  # a copy: the rerun must not touch the shared study
    shutil.copytree(study.path, project)
    # A longer 2-D GAN in the copy, so the first repro is still writing when the second one starts.
    params = read_params(project)
    params["theory"]["gan2d"]["epochs"] = 3000
    write_params(project, params)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    first = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "--single-item", paths.target("theory_gan2d")],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in first.stdout:  # the stage is running: the first repro holds the lock
            if line.startswith("Running stage"):
                break
        second = run(project, BIN / "dvc", "repro", check=False)
    finally:
        rest = first.communicate(timeout=300)[0]
    assert second.returncode != 0
    message = second.stderr
    assert f"failed to reproduce '{paths.target('theory_gan2d')}'" in message and ".dvc/tmp/rwlock" in message, message
    assert first.returncode == 0, rest
    # Nothing was corrupted: the rerun stage's lock entry matches its params and outputs; only the
    # report, which reads its outputs and run record, is stale.
    status = json.loads(run(project, BIN / "dvc", "status", "--json").stdout)
    assert list(status) == ["report"], status
