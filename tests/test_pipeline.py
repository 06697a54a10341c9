"""The real stages run by DVC on tiny generated data, in the shared study (tests/conftest.py): the M1 half
(labels, VAE, features, SVMs, table), what reruns after an edit, MLflow, the file layout, and bad input."""

import json
import shutil

import pandas as pd
import pytest

from genstudy import svm
from genstudy.pipeline import paths
from tests.helpers import dependencies
from tests.helpers.project import BIN, ran_stages, read_params
from tests.helpers.study import edited_params, mlflow_query, outputs, rerun_back, set_key, stale

pytestmark = pytest.mark.slow

COUNTS = (20, 50)  # the tiny study's labels.counts (seed 0 only)
SVM_STAGES = {f"{s}@{n}-0" for s in ("fit_svm_m1", "fit_svm_pixels") for n in COUNTS}
M1_STAGES = {"download", "train_vae", "encode", "m1_table"} | SVM_STAGES | {f"sample_labels@{n}-0" for n in COUNTS}
GAN_STAGES = ("train_judge", "train_gan", "evaluate_gan", "gan_reference", "gan_table", "gan_figures")


def test_the_m1_stages_build_the_results_table(study):
    project = study.path
    assert M1_STAGES <= ran_stages(study.first_output)
    table = json.loads((project / "metrics/m1.json").read_text())
    assert set(table) == {"m1", "m1_transductive", "m1_m2", "raw_pixels"}
    for method in table.values():
        assert set(method) == {str(n) for n in COUNTS}
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
    # The SVMs are plain arrays: they load without running code (allow_pickle=False) and predict.
    fitted = svm.load(project / "models/svm/m1-n20-seed0.npz")
    assert set(fitted) == {"m1", "m1_transductive"} and fitted["m1"].support_vectors.shape[0] > 0
    # svm.augment: each labelled image and its four one-pixel shifts (the M1 copies encoded by the VAE).
    for features in ("m1", "pixels"):
        fit = json.loads((project / f"metrics/svm/{features}-n20-seed0.json").read_text())["methods"][features]
        assert fit["augment"] == ["shift"] and fit["training_points"] == 20 * 5


def test_labels_are_balanced_and_nested(study):
    small = pd.read_csv(study.path / "data/labels/n20-seed0.csv")
    large = pd.read_csv(study.path / "data/labels/n50-seed0.csv")
    assert small["label"].value_counts().tolist() == [2] * 10
    assert set(small["index"]) < set(large["index"])


def test_the_layout_of_paths_is_what_the_pipeline_writes(study):
    """genstudy.pipeline.paths names every output and stage; dvc.yaml says the same in its own words."""
    root, p = study.path, read_params(study.path)
    files = [paths.RAW, paths.VAE_MODEL, paths.VAE_METRICS, paths.VAE_HISTORY, paths.VAE_FIGURES, paths.M1_FEATURES]
    files += [paths.M1_SUMMARY, paths.M1_ACCURACY_CSV, paths.M1_TABLE, paths.M1_FIGURE, paths.JUDGE_MODEL]
    files += [paths.JUDGE_METRICS, paths.JUDGE_HISTORY, paths.GAN_REFERENCE, paths.GAN_SUMMARY, paths.GAN_TABLE_CSV]
    files += [paths.GAN_TABLE, paths.GAN_PER_CLASS_FIGURE, paths.GAN_OVERVIEW, paths.GAN_OVERVIEW_SUMMARY]
    files += [paths.REPORT_MD, paths.REPORT_HTML, paths.REPORT_RECORD]
    for n in p["labels"]["counts"]:
        for seed in p["labels"]["seeds"]:
            files.append(paths.labels(n, seed))
            files += [
                f(features, n, seed) for f in (paths.svm_metrics, paths.svm_model) for features in ("m1", "pixels")
            ]
    runs = [(a, m) for a in p["gan"]["matrix"]["arch"] for m in p["gan"]["matrix"]["method"]]
    for arch, method in runs:
        files += [paths.gan_model(arch, method), paths.gan_train_record(arch, method), paths.gan_history(arch, method)]
        files += [paths.gan_metrics(arch, method), paths.gan_run_figures(arch, method)]
        files.append(paths.gan_samples_grid(arch, method))
        assert not (root / paths.gan_checkpoint(arch, method)).exists()  # removed once the outputs are written
    for name in ("divergences", "sequence_cost", "gan2d"):
        files += paths.theory(name)
    assert [f for f in files if not (root / f).exists()] == []
    # Every stage of dvc.yaml wrote its run record under the name paths.stage_name gives it.
    stages = {st.name for st in dependencies.stages(root)}
    assert {paths.stage_name("fit_svm_m1", 20, 0), paths.stage_name("train_gan", "mlp_g", "wgan_gp")} <= stages
    assert {paths.stage_name(b, a, m) for b in ("train_gan", "evaluate_gan") for a, m in runs} <= stages
    recorded = {json.loads(f.read_text())["stage"] for f in (root / paths.RUN_RECORDS).glob("*.json")}
    assert recorded == stages - {"report"} and all((root / paths.run_record(s)).exists() for s in recorded)


def test_nothing_reruns_and_an_svm_param_reruns_only_svm_stages_m1_table_and_the_report(study):
    assert stale(study) == {}
    assert ran_stages(study.dvc("repro").stdout) == set()
    with edited_params(study, lambda p: set_key(p, "svm.C", [1, 10, 100])):
        rerun = ran_stages(study.dvc("repro").stdout)
    # m1_table reruns only if some SVM's results changed; the report reruns (new run records); nothing upstream.
    assert SVM_STAGES | {"report"} <= rerun <= SVM_STAGES | {"m1_table", "report"}
    assert not {s for s in rerun if s.split("@")[0] in GAN_STAGES}
    # The study's own params again: at most the same stages rerun (DVC's run cache may restore them).
    assert rerun_back(study) <= SVM_STAGES | {"m1_table", "report"}


def test_same_params_same_outputs(study):
    project = study.path
    kept = ("metrics/vae.json", "models/vae.pt", "data/features/m1.npz", "metrics/svm/m1-n50-seed0.json")
    before = {p: (project / p).read_bytes() for p in kept}
    targets = map(paths.target, ["train_vae", "encode", "fit_svm_m1@50-0"])
    ran = ran_stages(study.dvc("repro", "--force", "--single-item", *targets).stdout)
    assert ran == {"train_vae", "encode", "fit_svm_m1@50-0"}
    for path, content in before.items():
        assert (project / path).read_bytes() == content, path
    # Only the report is stale (new run records); no stage that reads the unchanged outputs.
    assert rerun_back(study) == {"report"}


def test_mlflow_has_one_run_per_stage_execution(study):
    names = [name for (name,) in mlflow_query(study.path, "select name from runs")]
    params = mlflow_query(
        study.path, "select count(*) from params p join runs r using (run_uuid) where r.name = ?", "train_vae"
    )
    curve = mlflow_query(
        study.path,
        "select count(*) from metrics m join runs r using (run_uuid) where r.name = ? and m.key = 'test_elbo'",
        "train_vae",
    )
    assert M1_STAGES <= set(names)
    # The first `dvc repro`'s stage runs (each stage's earliest) are the children of one parent run.
    parent_of = {}
    for name, parent in mlflow_query(
        study.path,
        "select r.name, t.value from runs r join tags t using (run_uuid) "
        "where t.key = 'mlflow.parentRunId' order by r.start_time",
    ):
        parent_of.setdefault(name, parent)
    first = ran_stages(study.first_output)
    assert first <= set(parent_of) and len({parent_of[s] for s in first}) == 1
    assert params[0][0] >= 8 * names.count("train_vae") and curve[0][0] == 2 * names.count("train_vae")  # 2 epochs
    assert any((study.path / "mlartifacts").rglob("latent_map.png"))


SVM_ARGS = ["--features", "m1", "--n", "20", "--seed", "0"]


BAD_PARAMS = [
    ("vae.epochs", 0, "train_vae", "params.yaml: vae.epochs = 0 is invalid; it must be greater than or equal to 1"),
    ("vae.lr", -0.1, "train_vae", "params.yaml: vae.lr = -0.1 is invalid; it must be greater than 0"),
    ("vae.lr_schedule", "step", "train_vae", "vae.lr_schedule = 'step' is invalid; it must be 'constant' or"),
    ("vae.epocs", 3, "train_vae", "params.yaml: unknown key 'vae.epocs'; did you mean 'vae.epochs'?"),
    ("svm.kernel", "cubic", "fit_svm", "svm.kernel = 'cubic' is invalid; it must be 'rbf', 'linear'"),
    ("svm.augment.transforms", ["twist"], "fit_svm", "svm.augment.transforms.0 = 'twist' is invalid; it must"),
    ("data.dataset", "cifar", "download", "data.dataset = 'cifar' is invalid; known datasets are"),
    (
        "gan.architectures.dcgan.critic.nrom",
        "batch",
        "train_gan",
        "unknown key 'gan.architectures.dcgan.critic.nrom'; did you mean 'gan.architectures.dcgan.critic.norm'?",
    ),
    (
        "theory.divergences.fd_step",
        0.5,
        "theory_divergences",
        "theory.divergences.fd_step = 0.5 is invalid; it must be smaller than the theta grid spacing 1/(6 - 1)",
    ),
]


@pytest.mark.parametrize("key, value, stage, message", BAD_PARAMS, ids=[c[0] for c in BAD_PARAMS])
def test_bad_params_stop_the_stage_with_a_clear_message_and_keep_its_outputs(study, key, value, stage, message):
    before = outputs(study.path)
    args = {"fit_svm": SVM_ARGS, "train_gan": ["--arch", "dcgan", "--method", "dcgan"]}.get(stage, [])
    with edited_params(study, lambda p: set_key(p, key, value)):
        result = study.run(BIN / "python", "-m", f"stages.{stage}", *args, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: params.yaml: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line: key, value, what is allowed, the fix
    assert outputs(study.path) == before
    assert stale(study) == {}


def test_missing_upstream_output_names_the_stage(study, tmp_path):
    moved = tmp_path / "vae.pt"
    shutil.move(study.path / "models/vae.pt", moved)
    try:
        result = study.run(BIN / "python", "-m", "stages.encode", check=False)
    finally:
        shutil.move(moved, study.path / "models/vae.pt")
    assert result.returncode == 2
    assert (
        "error: missing upstream output models/vae.pt; run `dvc repro pipelines/m1/dvc.yaml:train_vae` first"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert stale(study) == {}
