"""The real stages, run by DVC on a tiny generated dataset in a scratch copy of the project."""

import json
import shutil
import sqlite3

import pytest
import yaml

from tests.scratch import BIN, make_project, ran_stages, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("scratch") / "project")
    first = run(project, BIN / "dvc", "repro", "m1_table")  # M1 and what it needs, nothing else
    return project, first.stdout


def test_full_pipeline_builds_the_results_table(project):
    project, output = project
    expected = {"download", "train_vae", "encode", "m1_table"} | {
        f"{s}@{n}-0" for s in ("sample_labels", "fit_svm_m1", "fit_svm_pixels") for n in (20, 50)}
    assert ran_stages(output) == expected
    table = json.loads((project / "metrics/m1.json").read_text())
    assert set(table) == {"m1", "m1_transductive", "raw_pixels"}
    for method in table.values():
        assert set(method) == {"20", "50"}
        for cell in method.values():
            assert 0 <= cell["accuracy_mean"] <= 1
            assert cell["error_mean"] == pytest.approx(100 * (1 - cell["accuracy_mean"]), abs=0.01)
    # The tiny classes are separable: the raw-pixel SVM must find them.
    assert table["raw_pixels"]["50"]["accuracy_mean"] > 0.8
    md = (project / "reports/m1_table.md").read_text()
    assert "M1 + SVM" in md and "rbf kernel" in md
    for figure in ("elbo", "reconstructions", "samples", "latent_map"):
        assert (project / f"reports/figures/vae/{figure}.png").stat().st_size > 1000
    assert (project / "models/vae.pt").exists()
    assert (project / "models/svm/m1-n20-seed0.joblib").exists()
    # svm.augment: each labelled image and its four one-pixel shifts (the M1 copies encoded by the VAE).
    for features in ("m1", "pixels"):
        fit = json.loads((project / f"metrics/svm/{features}-n20-seed0.json").read_text())["methods"][features]
        assert fit["augment"] == ["shift"] and fit["training_points"] == 20 * 5


def test_labels_are_balanced_and_nested(project):
    project, _ = project
    import pandas as pd

    small = pd.read_csv(project / "data/labels/n20-seed0.csv")
    large = pd.read_csv(project / "data/labels/n50-seed0.csv")
    assert small["label"].value_counts().tolist() == [2] * 10
    assert set(small["index"]) < set(large["index"])


def test_nothing_reruns_and_svm_params_rerun_only_svm_stages(project):
    project, _ = project
    assert ran_stages(run(project, BIN / "dvc", "repro", "m1_table").stdout) == set()
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["svm"]["C"] = [1, 10, 100]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    rerun = ran_stages(run(project, BIN / "dvc", "repro", "m1_table").stdout)
    svm_stages = {f"{s}@{n}-0" for s in ("fit_svm_m1", "fit_svm_pixels") for n in (20, 50)}
    # m1_table reruns only if some SVM's results changed; nothing upstream reruns.
    assert svm_stages <= rerun <= svm_stages | {"m1_table"}


def test_same_params_same_metrics(project):
    project, _ = project
    before = {p: (project / p).read_bytes() for p in ("metrics/vae.json", "metrics/svm/m1-n50-seed0.json")}
    run(project, BIN / "dvc", "repro", "--force", "--single-item", "train_vae", "encode", "fit_svm_m1@50-0")
    for path, content in before.items():
        assert (project / path).read_bytes() == content, path


def test_mlflow_has_one_run_per_stage_execution(project):
    project, _ = project
    with sqlite3.connect(project / "mlflow.db") as db:
        names = [row[0] for row in db.execute("select name from runs")]
        params = db.execute("select count(*) from params p join runs r on p.run_uuid = r.run_uuid "
                            "where r.name = 'train_vae'").fetchone()[0]
        curve = db.execute("select count(*) from metrics m join runs r on m.run_uuid = r.run_uuid "
                           "where r.name = 'train_vae' and m.key = 'test_elbo'").fetchone()[0]
    assert {"download", "train_vae", "encode", "m1_table", "fit_svm_m1@20-0", "sample_labels@50-0"} <= set(names)
    assert params >= 8 and curve >= 2
    assert any((project / "mlartifacts").rglob("latent_map.png"))


@pytest.mark.parametrize("key, value, stage, message", [
    ("vae.epochs", 0, "train_vae", "vae.epochs = 0 is invalid"),
    ("vae.lr", -0.1, "train_vae", "vae.lr = -0.1 is invalid"),
    ("svm.kernel", "cubic", "fit_svm", "svm.kernel = 'cubic' is invalid"),
    ("data.dataset", "cifar", "download", "data.dataset = 'cifar' is invalid"),
    ("vae.lr_schedule", "step", "train_vae", "vae.lr_schedule = 'step' is invalid"),
    ("svm.augment.transforms", ["twist"], "fit_svm", "svm.augment.transforms = ['twist'] is invalid"),
])
def test_bad_params_stop_with_a_clear_message_and_keep_outputs(project, key, value, stage, message):
    project, _ = project
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    *parents, name = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[name] = value
    params_file.write_text(yaml.safe_dump(params))
    outputs = {p: p.read_bytes() for p in (project / "metrics").rglob("*.json")}
    try:
        args = ["--features", "m1", "--n", "20", "--seed", "0"] if stage == "fit_svm" else []
        result = run(project, BIN / "python", "-m", f"stages.{stage}", *args, check=False)
    finally:
        params_file.write_text(original)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in outputs} == outputs


def test_missing_upstream_output_names_the_stage(project, tmp_path):
    project, _ = project
    moved = tmp_path / "vae.pt"
    shutil.move(project / "models/vae.pt", moved)
    try:
        result = run(project, BIN / "python", "-m", "stages.encode", check=False)
    finally:
        shutil.move(moved, project / "models/vae.pt")
    assert result.returncode == 2
    assert "models/vae.pt" in result.stderr and "dvc repro train_vae" in result.stderr
