"""Stages without a command line answer --help and refuse stray arguments instead of running."""

import os
import subprocess
import sys

import pytest

from tests.helpers.project import ROOT

pytestmark = pytest.mark.slow  # each test starts a stage process (torch and MLflow imports: seconds)


def stage(tmp_path, module, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("module", ["stages.encode", "stages.m1_table"])
def test_help_describes_the_stage_and_runs_nothing(tmp_path, module):
    done = stage(tmp_path, module, "--help")
    assert done.returncode == 0, done.stderr
    assert f"usage: python -m {module}" in done.stdout and "params.yaml" in done.stdout
    assert "Stage `" in done.stdout  # the module's docstring
    assert not any(tmp_path.iterdir())  # no output, no MLflow store


def test_stray_arguments_are_refused_before_anything_runs(tmp_path):
    done = stage(tmp_path, "stages.train_vae", "--epochs", "3")
    assert done.returncode == 2
    assert "unexpected arguments --epochs 3" in done.stderr and "params.yaml" in done.stderr
    assert "`dvc repro pipelines/m1/dvc.yaml:train_vae`" in done.stderr  # the target DVC takes at the root
    assert not any(tmp_path.iterdir())
