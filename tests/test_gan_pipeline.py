"""The GAN stages run by DVC on tiny data in a scratch project: the architecture x method matrix end to end.

The matrix is both presets x {dcgan, wgan_gp} (the two most different objectives) to keep the test near two
minutes: every stage costs seconds of process start and MLflow logging. WGAN's code paths are the same stages
with other params, and tests/test_gan_train.py covers its loop."""

import json
import sqlite3

import pytest
import torch
import yaml

from tests.scratch import BIN, make_project, ran_stages, run

pytestmark = pytest.mark.slow

METHODS = ("dcgan", "wgan_gp")
RUNS = [f"{a}-{m}" for a in ("dcgan", "mlp_g") for m in METHODS]


def tiny_gan(params):
    """Both presets and all three methods, shrunk to seconds; everything else as in params.yaml."""
    params["judge"].update(width=8, features=16, epochs=2, batch_size=32, augment=False, min_test_accuracy=0.0)
    gan = params["gan"]
    gan["matrix"]["method"] = list(METHODS)
    for preset in gan["architectures"].values():
        preset["generator"]["filters"] = 4 if preset["generator"]["type"] == "conv" else 16
        preset["critic"]["filters"] = 4
    for method in gan["methods"].values():
        method.update(iterations=6, critic_steps=min(method["critic_steps"], 2))
    gan["train"].update(batch_size=16, z_dim=8, grid_every=3, log_every=2, checkpoint_every=2)
    gan["train"]["failure"]["warmup"] = 1000
    gan["evaluation"]["per_class"] = 10


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("scratch") / "project", edit=tiny_gan)
    first = run(project, BIN / "dvc", "repro", "gan_table")
    return project, first.stdout


def test_matrix_runs_every_architecture_and_method(project):
    project, output = project
    assert ran_stages(output) == {"download", "train_vae", "train_judge", "gan_reference", "gan_table"} | {
        f"{s}@{r}" for s in ("train_gan", "evaluate_gan") for r in RUNS}
    for r in RUNS:
        metrics = json.loads((project / f"metrics/gan/{r}.json").read_text())
        assert 0 <= metrics["judge_accuracy"] <= 1 and metrics["frechet_distance"] >= 0
        assert metrics["failed_attempts"] == 0 and len(metrics["per_class_accuracy"]) == 10
        assert 0 <= metrics["diversity"]
        weights = torch.load(project / f"models/gan/{r}.pt", weights_only=True)
        assert [weights["arch"], weights["method"]] == r.split("-")
        history = (project / f"metrics/gan/history/{r}.csv").read_text().splitlines()
        assert len(history) == 1 + 6 and history[0].startswith("iteration,")
        grids = sorted(p.name for p in (project / f"reports/figures/gan/{r}").iterdir())
        assert grids == ["grid_000003.png", "grid_000006.png", "losses.png"]
        assert not (project / f"checkpoints/gan/{r}.pt").exists()  # removed once the outputs are written
    reference = json.loads((project / "metrics/gan/reference.json").read_text())
    assert {"frechet_distance_train_test", "judge_accuracy_test", "frechet_distance_vae_samples"} <= set(reference)
    table = (project / "reports/gan_table.md").read_text()
    assert all(f"| {r} |" in table for r in RUNS) and "M1 VAE" in table
    summary = json.loads((project / "metrics/gan_summary.json").read_text())
    assert set(summary["runs"]) == set(RUNS)


def test_editing_one_method_makes_only_its_trainings_stale(project):
    """Per-item params: what `dvc repro` would rerun after an edit of gan.methods.wgan_gp (its evaluations and
    the table follow from their changed inputs). The edit is undone afterwards."""
    project, _ = project
    params_file = project / "params.yaml"
    original = params_file.read_text()
    # Stages this fixture never ran (the report and its figures, the theory stages) are stale before
    # the edit too: compare with the status before it.
    before = set(json.loads(run(project, BIN / "dvc", "status", "--json").stdout))
    params = yaml.safe_load(original)
    params["gan"]["methods"]["wgan_gp"]["lr"] = 3e-4
    params_file.write_text(yaml.safe_dump(params))
    try:
        status = json.loads(run(project, BIN / "dvc", "status", "--json").stdout)
    finally:
        params_file.write_text(original)
    stale = {name for name in set(status) - before if name.startswith(("train_", "evaluate_gan", "gan_"))}
    assert stale == {"train_gan@dcgan-wgan_gp", "train_gan@mlp_g-wgan_gp"}
    assert "gan_figures" in before and "train_judge" not in before
    assert "gan.methods.wgan_gp" in json.dumps(status["train_gan@dcgan-wgan_gp"])


def test_mlflow_has_one_run_per_stage_with_curves_and_models(project):
    project, _ = project
    with sqlite3.connect(project / "mlflow.db") as db:
        names = [row[0] for row in db.execute("select name from runs")]
        curve = db.execute("select count(*) from metrics m join runs r on m.run_uuid = r.run_uuid "
                           "where r.name = 'train_gan@dcgan-wgan_gp' and m.key = 'gradient_penalty'").fetchone()[0]
    assert {f"train_gan@{r}" for r in RUNS} <= set(names) and names.count("train_gan@mlp_g-dcgan") == 1
    assert curve == 6  # one value per generator iteration
    assert any((project / "mlartifacts").rglob("grid_000006.png"))
    assert len(list((project / "mlartifacts").rglob("MLmodel"))) >= 2 * len(RUNS) + 2  # G and D per run, judge, VAE
