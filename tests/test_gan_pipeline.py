"""The GAN stages run by DVC on tiny data in the shared study (tests/conftest.py): the architecture x method
matrix end to end, per-item params, and MLflow.

The study's matrix is both presets x {dcgan, wgan_gp} (the two most different objectives): every stage costs
seconds of process start and MLflow logging. WGAN's code paths are the same stages with other params, and
tests/test_gan_train.py covers its loop."""

import json

import pandas as pd
import pytest
import torch

from genstudy.gan import checkpoint
from tests.helpers.project import ran_stages, read_params
from tests.helpers.study import edited_params, mlflow_query, set_key, stale

pytestmark = pytest.mark.slow

ARCHS, METHODS = ("dcgan", "mlp_g"), ("dcgan", "wgan_gp")
RUNS = [f"{a}-{m}" for a in ARCHS for m in METHODS]


def test_gan_train_accuracy_trains_for_its_own_epochs(study):
    """GAN-train's classifier: the judge's net and recipe for gan.evaluation.gan_train_epochs, not the judge's."""
    from genstudy import data, judge

    project, p = study.path, read_params(study.path)
    ev, judge_cfg = p["gan"]["evaluation"], p["judge"]
    assert ev["gan_train_epochs"] != judge_cfg["epochs"]
    train_x, train_y = data.load_pixels(project / "data/raw", "train")
    test_x, test_y = data.load_pixels(project / "data/raw", "test")
    idx = data.balanced_subset(train_y, 10 * ev["per_class"], ev["seed"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the stages run here (OMP_NUM_THREADS=1): the same sums, the same bits
    try:
        cfg = {**judge_cfg, "epochs": ev["gan_train_epochs"]}
        expected = judge.trained_accuracy(train_x[idx], train_y[idx], test_x, test_y, cfg)
    finally:
        torch.set_num_threads(threads)
    reference = json.loads((project / "metrics/gan/reference.json").read_text())
    assert reference["gan_train_accuracy_real"] == expected


def test_matrix_runs_every_architecture_and_method(study):
    project = study.path
    gan_stages = {"train_judge", "gan_reference", "gan_table", "gan_figures"}
    assert gan_stages | {f"{s}@{r}" for s in ("train_gan", "evaluate_gan") for r in RUNS} <= ran_stages(
        study.first_output
    )
    for r in RUNS:
        metrics = json.loads((project / f"metrics/gan/{r}.json").read_text())
        assert 0 <= metrics["judge_accuracy"] <= 1 and metrics["frechet_distance"] >= 0
        assert metrics["failed_attempts"] == 0 and len(metrics["per_class_accuracy"]) == 10
        assert 0 <= metrics["diversity"] and 0 <= metrics["gan_train_accuracy"] <= 1
        assert metrics["final_check"]["cause"] is None and metrics["final_check"]["diversity_train"] >= 0
        # The quality curve: a row per snapshot (every grid_every = 3 iterations), scored by the judge.
        curve = pd.read_csv(project / f"metrics/gan/curves/{r}.csv")
        assert list(curve.iteration) == [3, 6] and (curve.seconds.diff().dropna() > 0).all()
        assert (curve.frechet_distance >= 0).all() and curve.judge_accuracy.between(0, 1).all()
        saved, snapshots = checkpoint.load_snapshots(project / f"models/gan/snapshots/{r}.pt")
        assert saved["iterations"] == [3, 6] and list(curve.seconds) == pytest.approx(saved["seconds"], rel=1e-5)
        weights = torch.load(project / f"models/gan/{r}.pt", weights_only=True)
        assert [weights["arch"], weights["method"]] == r.split("-")
        assert weights["dataset"] == "tiny" and weights["class_names"] == [str(c) for c in range(10)]
        loaded, g, _ = checkpoint.load(project / f"models/gan/{r}.pt")  # as `genstudy generate` loads it
        assert loaded["seed"] == metrics["seed"] and g.z_dim == 8 and not g.training
        trained_with = loaded["trained_with"]
        assert trained_with["train"]["iterations"] == 6 and trained_with["train"]["failure"]["warmup"] == 1000
        assert trained_with["generator"]["type"] in ("conv", "mlp") and "norm" in trained_with["critic"]
        history = (project / f"metrics/gan/history/{r}.csv").read_text().splitlines()
        assert len(history) == 1 + 6 and history[0].startswith("iteration,")
        grids = sorted(p.name for p in (project / f"reports/figures/gan/{r}").iterdir())
        assert grids == ["grid_000003.png", "grid_000006.png", "losses.png"]
        assert not (project / f"checkpoints/gan/{r}.pt").exists()  # removed once the outputs are written
        record = json.loads((project / f"metrics/gan/train/{r}.json").read_text())
        assert (record["iterations"], record["attempts"], record["converged"]) == (6, 1, True)
    reference = json.loads((project / "metrics/gan/reference.json").read_text())
    assert {"frechet_distance_train_test", "judge_accuracy_test", "frechet_distance_vae_samples"} <= set(reference)
    assert 0 <= reference["gan_train_accuracy_real"] <= 1
    assert "frechet_distance_mirrored_shoes" not in reference  # the tiny classes are 0-9: no shoes to mirror
    for arch in ARCHS:
        for figure in (f"gan/curves/{arch}.png", f"gan_overview/losses_shared_{arch}.png"):
            assert (project / "reports/figures" / figure).stat().st_size > 10_000
    curves = json.loads((project / "metrics/gan_figures.json").read_text())["curves"]
    assert set(curves) == set(RUNS) and all(c["snapshots"] == 2 and c["final_iteration"] == 6 for c in curves.values())
    report = (project / "reports/report.md").read_text()
    assert "## GAN quality during training" in report and "figures/gan/curves/dcgan.png" in report
    table = (project / "reports/gan_table.md").read_text()
    assert all(f"| {r} |" in table for r in RUNS) and "M1 VAE" in table
    summary = json.loads((project / "metrics/gan_summary.json").read_text())
    assert set(summary["runs"]) == set(RUNS)


@pytest.mark.parametrize(
    "key, value, declared, stale_runs",
    [
        # one method: its trainings
        ("gan.methods.wgan_gp.lr", 3e-4, "gan.methods.wgan_gp", ["dcgan-wgan_gp", "mlp_g-wgan_gp"]),
        # one preset: its trainings
        ("gan.architectures.mlp_g.critic.filters", 8, "gan.architectures.mlp_g", ["mlp_g-dcgan", "mlp_g-wgan_gp"]),
        # a shared setting: every training
        ("gan.train.z_dim", 4, "gan.train.z_dim", RUNS),
    ],
)
def test_an_edit_makes_only_the_trainings_that_read_it_stale(study, key, value, declared, stale_runs):
    """Per-item params: what `dvc repro` would rerun after the edit (the evaluations and tables follow from
    their changed inputs, so `dvc status` does not list them yet). The edit is undone afterwards."""
    assert stale(study) == {}
    with edited_params(study, lambda p: set_key(p, key, value)):
        status = stale(study)
    assert set(status) == {f"train_gan@{r}" for r in stale_runs}
    assert all(declared in json.dumps(changes) for changes in status.values())
    assert stale(study) == {}


def test_a_new_judge_rescores_the_curves_and_retrains_no_gan(study):
    """The snapshots are train_gan's outputs and evaluate_gan scores them: a judge edit reaches the
    evaluations (they train GAN-train classifiers with the judge params) and never a training."""
    assert stale(study) == {}
    with edited_params(study, lambda p: set_key(p, "judge.epochs", 3)):
        status = stale(study)
    assert set(status) == {"train_judge", "gan_reference"} | {f"evaluate_gan@{r}" for r in RUNS}
    assert stale(study) == {}


def test_mlflow_has_one_run_per_stage_with_curves_and_models(study):
    project = study.path
    names = [name for (name,) in mlflow_query(project, "select name from runs")]
    curve = mlflow_query(
        project,
        "select count(*) from metrics m join runs r using (run_uuid) where r.name = ? and m.key = 'gradient_penalty'",
        "train_gan@dcgan-wgan_gp",
    )[0][0]
    assert {f"train_gan@{r}" for r in RUNS} <= set(names)
    assert all(names.count(f"train_gan@{r}") == 1 for r in RUNS)  # no test reruns a training
    assert curve == 6  # one value per generator iteration
    quality = mlflow_query(
        project,
        "select m.step from metrics m join runs r using (run_uuid) where r.name = ? "
        "and m.key = 'curve_frechet_distance' order by m.step",
        "evaluate_gan@dcgan-wgan_gp",
    )
    assert [step for (step,) in quality] == [3, 6]  # a point per snapshot, at its iteration
    assert any((project / "mlartifacts").rglob("grid_000006.png"))
    assert len(list((project / "mlartifacts").rglob("MLmodel"))) >= 2 * len(RUNS) + 2  # G and D per run, judge, VAE
