"""Sharing through a DVC remote: a fresh clone plus `make pull` gets every output, with nothing to rerun."""

import shutil

import pytest

from tests.helpers.project import BIN, GIT, ROOT, make_target, ran_stages, run

pytestmark = pytest.mark.slow


def test_make_push_and_pull_carry_the_run_cache():
    assert make_target("push") == ["python tools/push_run_cache.py"]
    assert make_target("pull") == ["dvc pull --run-cache"]


def test_a_fresh_clone_pulls_every_output_and_reruns_nothing(study, tmp_path):
    # A team member's checkout: the study, committed, with a remote configured in .dvc/config.
    team = tmp_path / "team"
    shutil.copytree(study.path, team, ignore=shutil.ignore_patterns("mlflow.db", "mlartifacts", "params-reads"))
    remote = tmp_path / "remote"
    run(team, BIN / "dvc", "remote", "add", "-d", "team", str(remote))
    run(team, BIN / "python", ROOT / make_target("push")[0].split()[1])
    run(team, *GIT, "add", "-A")
    run(team, *GIT, "commit", "-qm", "study")

    fresh = tmp_path / "fresh"
    run(tmp_path, "git", "clone", "-q", str(team), str(fresh))
    assert not (fresh / "models/gan/dcgan-dcgan.pt").exists() and not (fresh / ".dvc/cache").exists()
    assert "not in cache" in run(fresh, BIN / "dvc", "status").stdout

    run(fresh, BIN / "dvc", *make_target("pull")[0].split()[1:])
    assert "Data and pipelines are up to date" in run(fresh, BIN / "dvc", "status").stdout
    out = run(fresh, BIN / "genstudy", "generate", "--arch", "dcgan", "--method", "dcgan", "-n", "2", "-o", "g.png")
    assert (fresh / "g.png").stat().st_size > 0, out.stderr
    repro = run(fresh, BIN / "dvc", "repro")
    assert ran_stages(repro.stdout) == set()
    assert not (fresh / "mlflow.db").exists()  # no stage ran, so nothing was logged
