"""The report (genstudy.report, stages gan_figures and report): numbers from the metrics files, missing
parts named, figures embedded; in the shared study, the report is built last from the pipeline's outputs."""

import base64
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from genstudy import budget, data, references
from genstudy.pipeline import paths
from genstudy.pipeline.stage import StageError
from genstudy.report import ablation
from genstudy.report.assemble import assemble, run_records
from genstudy.report.figures import label_comparison, loss_panels
from genstudy.report.gan_overview import choose_arch
from genstudy.report.html import embed_images, to_html
from stages import gan_figures
from tests.helpers.project import ROOT, ran_stages
from tests.helpers.study import mlflow_query

# --- what the report shows, read back --------------------------------------------------------

LITERALS = [  # maths and citations, not results: the only numbers the report may state without a metrics file
    r"et al\.,? \(?(?:19|20)\d\d\)?",
    r"Table 1",
    r"log 2",
    r"\{0\}",
    r"\[0, 1\]",
    r"θ [=≠>] 0",
    r"Figure [23]",
]
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]\d+)?(?!\w)")


def prose_and_cells(md: str) -> str:
    """The report's text without code, link targets and the literal phrases of LITERALS."""
    md = re.sub(r"```.*?```", " ", md, flags=re.S)
    md = re.sub(r"`[^`]*`", " ", md)
    md = re.sub(r"\]\([^)]*\)", "]", md)
    for pattern in LITERALS:
        md = re.sub(pattern, " ", md)
    return md


def tables(md: str) -> list[list[list[str]]]:
    """Every pipe table as rows of cells (header first, the --- line dropped)."""
    out, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            if not re.fullmatch(r"\|(---\|)+", line):
                current.append([c.strip() for c in line.strip("|").split(" | ")])
        elif current:
            out.append(current)
            current = []
    return out


def numbers_in(value, out: list):
    """Numeric leaves of a JSON value, numeric keys, and numbers written inside its strings."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        out.append(value)
    elif isinstance(value, str):
        out.extend(float(t.replace(",", "")) for t in NUMBER.findall(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            numbers_in(k, out)
            numbers_in(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            numbers_in(v, out)


def sources(root: Path) -> list:
    """Every number the report may show: the metrics files, the stage run records (and the sums and
    counts the wall-time table makes of them), the published references."""
    values = []
    results = [*(root / "bench/results").glob("*.json")]  # results of the benches the report shows
    for path in [*(root / "metrics").rglob("*.json"), *(root / "reports/runs").glob("*.json"), *results]:
        numbers_in(json.loads(path.read_text()), values)
    records = run_records(root / "reports/runs")
    for _, g in records.groupby("base"):
        values += [g.seconds.sum(), len(g)]
    values.append(records.seconds.sum())
    numbers_in([v for k, v in vars(references).items() if k.isupper()], values)
    # The time-budget table: bench/budget.yaml's minutes, and each part's recorded minutes.
    plan = budget.read_budget(root / budget.BUDGET)
    parts, _ = budget.check(plan, dict(zip(records.stage, records.seconds)))
    values += [*parts.minutes, *parts.budget, *parts.stages]
    return values


def unmatched_numbers(md: str, values: list) -> list[str]:
    """Numbers in the report's text and tables that no source value gives at the shown precision."""
    shown = {}
    for v in values:
        for d in range(7):
            shown.setdefault(("f", d), set()).add(f"{v:.{d}f}")
        for d in range(4):
            shown.setdefault(("e", d), set()).add(f"{v:.{d}e}")
    bad = []
    for token in NUMBER.findall(prose_and_cells(md)):
        plain = token.replace(",", "")
        mantissa = plain.split("e")[0]
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        if plain not in shown[("e" if "e" in plain else "f", digits)]:
            bad.append(token)
    return bad


def table_after(md: str, heading: str) -> list[list[str]]:
    """The first table after the line containing `heading`."""
    return tables(md[md.index(heading) :])[0]


def check_m1_tables(md: str, m1: dict):
    """The Table 1-style cells are metrics/m1.json's mean ± std, at 2 (error %) and 4 (accuracy) decimals."""
    names = {
        "M1 + SVM": "m1",
        "M1 + label spreading + SVM (transductive)": "m1_transductive",
        "SVM on raw pixels (baseline)": "raw_pixels",
    }
    for heading, key, digits in (("**Test error (%)**", "error", 2), ("**Test accuracy**", "accuracy", 4)):
        rows = table_after(md, heading)
        counts = [c.removeprefix("N = ") for c in rows[0][1:]]
        seen = set()
        for row in rows[1:]:
            if row[0] in names:
                cells = m1[names[row[0]]]
                seen.add(names[row[0]])
                assert row[1:] == [
                    f"{cells[n][key + '_mean']:.{digits}f} ± {cells[n][key + '_std']:.{digits}f}" for n in counts
                ], row
        assert seen == set(m1) & set(names.values())


def check_gan_rows(md: str, root: Path):
    rows = {r[0]: r for r in table_after(md, "## GAN metrics")[1:]}
    for path in (root / "metrics/gan").glob("*-*.json"):
        m = json.loads(path.read_text())
        if path.stem in rows:
            assert rows[path.stem][4:8] == [
                f"{m['judge_accuracy']:.4f}",
                f"{m['gan_train_accuracy']:.4f}" if "gan_train_accuracy" in m else "",
                f"{m['frechet_distance']:.2f}",
                f"{m['diversity']:.3f}",
            ]


# --- (a) the assembly on synthetic metrics --------------------------------------------------


def write(root: Path, path: str, obj):
    file = root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(obj))


def png(path: Path):
    """A real 2x2 PNG (a figure the HTML must embed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, [[0, 1], [1, 0]])


STUDY = dict(
    dataset="fashion_mnist", counts=[100, 600], seeds=[0, 1], archs=["dcgan", "mlp_g"], methods=["dcgan", "wgan"]
)


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The working directory: empty, so the report can read only what it is given as its root."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def report(root: Path, run_id="RUN") -> str:
    return assemble(**STUDY, report_run_id=run_id, root=root)


@pytest.fixture
def synthetic(tmp_path, elsewhere):
    """A tree of outputs for N = 100, 600, seeds 0, 1 and one GAN run of two archs x two methods."""
    root = tmp_path / "tree"
    (root / "bench").mkdir(parents=True)
    shutil.copy(ROOT / budget.BUDGET, root / budget.BUDGET)
    cell = lambda a, s: {  # noqa: E731
        "accuracy_mean": a,
        "accuracy_std": s,
        "error_mean": round(100 * (1 - a), 2),
        "error_std": round(100 * s, 2),
        "seeds": 2,
    }
    m1 = {
        "m1": {"100": cell(0.7123, 0.0111), "600": cell(0.8034, 0.0056)},
        "m1_transductive": {"100": cell(0.7201, 0.0102), "600": cell(0.8012, 0.0044)},
        "raw_pixels": {"100": cell(0.6789, 0.0222), "600": cell(0.7901, 0.0033)},
    }
    write(root, "metrics/m1.json", m1)
    vae = {"epochs": 7, "train_elbo": -251.25, "test_elbo": -253.75, "test_kl": 41.5, "active_units": 33}
    write(root, "metrics/vae.json", vae)
    for n in (100, 600):
        for seed in (0, 1):
            fit = {
                "C": 3.0 + seed,
                "gamma_factor": 0.3,
                "kernel": "rbf",
                "cv_folds": 5,
                "accuracy": 0.7,
                "augment": ["shift"] if n == 100 else [],
            }
            write(root, f"metrics/svm/m1-n{n}-seed{seed}.json", {"methods": {"m1": fit, "m1_transductive": fit}})
            write(root, f"metrics/svm/pixels-n{n}-seed{seed}.json", {"methods": {"pixels": {**fit, "C": 30.0}}})
    gan = {"judge_accuracy": 0.8765, "frechet_distance": 43.219, "diversity": 0.7321, "converged": True, "n": 1000}
    write(root, "metrics/gan/dcgan-dcgan.json", gan)
    failure = {"attempt": 1, "seed": 0, "iteration": 200, "cause": "NaN in the critic loss", "action": "restarted"}
    write(
        root,
        "metrics/gan/train/dcgan-dcgan.json",
        {"iterations": 300, "attempts": 2, "failed_attempts": 1, "failures": [failure]},
    )
    write(root, "reports/runs/train_vae.json", {"stage": "train_vae", "mlflow_run_id": "abc", "seconds": 12.5})
    for n in (600, 1000, 100):
        record = {"stage": f"fit_svm_m1@{n}-0", "mlflow_run_id": f"id{n}", "seconds": n / 100}
        write(root, f"reports/runs/fit_svm_m1@{n}-0.json", record)
    png(root / "reports/figures/vae/elbo.png")
    return root, m1


def test_m1_tables_hyperparameters_and_references_come_from_the_metrics(synthetic):
    root, m1 = synthetic
    md = report(root)
    check_m1_tables(md, m1)
    error = table_after(md, "**Test error (%)**")
    papers = {
        "M1 + TSVM": references.PAPER_MNIST_M1_TSVM_ERROR,
        "M2": references.PAPER_MNIST_M2_ERROR,
        "M1 + M2": references.PAPER_MNIST_M1_M2_ERROR,
    }
    for row, (name, paper) in zip(error[-3:], papers.items()):
        assert row[0].startswith(f"reference: {name} on **MNIST**")
        assert row[1:] == [f"{paper[100][0]:g} ± {paper[100][1]:g}", f"{paper[600][0]:g} ± {paper[600][1]:g}"]
    accuracy = table_after(md, "**Test accuracy**")
    for name, ref in references.FASHION_REFERENCES.items():
        assert [f"reference: {name} (Fashion-MNIST)", f"{ref[100]:.4f}", f"{ref[600]:.4f}"] in accuracy
    hyper = table_after(md, "**Classifier and selected hyperparameters.**")
    assert ["M1 + SVM", "100", "rbf", "shift", "3, 4", "0.3, 0.3"] in hyper
    assert ["SVM on raw pixels (baseline)", "600", "rbf", "none", "30, 30", "0.3, 0.3"] in hyper
    assert "5-fold" in md and "-253.8 on the test set" in md and "33 latent units" in md
    assert unmatched_numbers(md, sources(root)) == []


def test_missing_gan_runs_and_theory_are_named_with_the_stage_that_makes_them(synthetic):
    root, _ = synthetic
    md = report(root)
    check_gan_rows(md, root)
    assert "| dcgan-dcgan | dcgan | DCGAN (non-saturating) | 1,000 | 0.8765 |  | 43.22 | 0.732 | yes |" in md
    for run in ("dcgan-wgan", "mlp_g-dcgan", "mlp_g-wgan"):
        assert f"run `dvc repro pipelines/gan/dvc.yaml:evaluate_gan@{run}`" in md
        assert f"run `dvc repro pipelines/gan/dvc.yaml:train_gan@{run}`" in md
    assert "attempt 1 (seed 0, iteration 200): NaN in the critic loss → restarted" in md
    for stage in (
        "gan_reference",
        "gan_table",
        "gan_figures",
        "theory_divergences",
        "theory_sequence_cost",
        "theory_gan2d",
        "m1_table",  # m1_table: its accuracy figure
    ):
        assert f"run `{paths.repro(stage)}`" in md, stage
    assert "![VAE: ELBO per epoch, training and test set](figures/vae/elbo.png)" in md
    assert unmatched_numbers(md, sources(root)) == []


def test_a_run_failed_by_the_end_of_training_verdict_is_reported_as_not_converged(synthetic):
    root, _ = synthetic
    cause = "mode collapse in the judge's features: within-class diversity 0.26 < 0.4"
    gan = json.loads((root / "metrics/gan/dcgan-dcgan.json").read_text())
    gan.update(converged=False, final_check={"diversity_train": 0.26, "min_diversity": 0.4, "cause": cause})
    write(root, "metrics/gan/dcgan-dcgan.json", gan)
    record = json.loads((root / "metrics/gan/train/dcgan-dcgan.json").read_text())
    write(root, "metrics/gan/train/dcgan-dcgan.json", {**record, "seed": 1, "converged": True})
    md = report(root)
    assert f"attempt 2 (seed 1, end of training): {cause} → kept" in md
    assert f"no successful run in 2 attempts (kept: the last, seed 1, trained to the end; cause: {cause})" in md


def ablation_results(collapsed: dict) -> dict:
    """bench/shared_conditioning.py's output for two runs; `collapsed` = {(run, arm): bool}."""
    rows = []
    for run, weights in (
        ("mlp_g-dcgan", {"shared": 0.5, "earlier": 1.0}),
        ("dcgan-wgan", {"shared": 0.5, "earlier": 0.1}),
    ):
        arch, method = run.split("-")
        for arm, weight in weights.items():
            bad = collapsed[run, arm]
            rows.append(
                {
                    "run": run,
                    "arch": arch,
                    "method": method,
                    "arm": arm,
                    "class_weight": weight,
                    "iterations": 300,
                    "seconds": 61.2,
                    "judge_accuracy": 0.9012 if bad else 0.8123,
                    "frechet_distance": 104.56 if bad else 23.45,
                    "diversity": 0.112 if bad else 0.734,
                    "collapsed": bad,
                }
            )
    return {
        "settings": {
            "methods": {m: {"iterations": 300, "shared_weight": 0.5} for m in ("dcgan", "wgan")},
            "earlier_weights": {"dcgan": 1.0, "wgan": 0.1},
            "seed": 0,
        },
        "reference": "10,000 training images",
        "per_class": 1000,
        "min_diversity": 0.4,
        "judge_md5": "0123456789abcdef0123456789abcdef",
        "machine": "Linux x86_64, 2 logical CPUs, a test CPU",
        "git_commit": "abc",
        "rows": rows,
    }


ARMS = ("shared", "earlier")
SETTINGS = {"methods": {m: {"iterations": 300, "shared_weight": 0.5} for m in ("dcgan", "wgan", "wgan_gp")}, "seed": 0}


def test_the_ablation_table_and_the_conclusion_that_survives_come_from_its_results(synthetic):
    root, _ = synthetic
    collapsed = {
        ("mlp_g-dcgan", "shared"): True,
        ("mlp_g-dcgan", "earlier"): True,
        ("dcgan-wgan", "shared"): False,
        ("dcgan-wgan", "earlier"): True,
    }
    write(root, ablation.RESULTS, ablation_results(collapsed))
    write(root, "metrics/gan/mlp_g-wgan_gp.json", {"converged": True})
    md = assemble(**STUDY, report_run_id="RUN", root=root, ablation_settings=SETTINGS)
    rows = table_after(md, ablation.TITLE)
    assert rows[0][:3] == ["run", "arm", "class weight"] and len(rows) == 5
    assert rows[1] == ["`mlp_g-dcgan`", "shared", "0.50", "300", "0.901", "104.6", "0.112", "collapsed", "61"]
    assert rows[4][:3] == ["`dcgan-wgan`", "earlier", "0.10"] and rows[4][7] == "collapsed"
    assert "`mlp_g-dcgan` (DCGAN (non-saturating)) collapses at both weights: the objective's doing" in md
    assert "`dcgan-wgan` (WGAN (weight clipping)) collapses only at its earlier weight 0.1: the class weight's" in md
    assert "On `mlp_g`, the reading of the paper's Figure 2 (DCGAN collapses where WGAN-GP does not) survives" in md
    assert "Stale" not in md and "Missing: the shared-conditioning ablation" not in md
    assert unmatched_numbers(md, sources(root)) == []
    # WGAN-GP failing too: the reading does not hold.
    write(root, "metrics/gan/mlp_g-wgan_gp.json", {"converged": False})
    md = assemble(**STUDY, report_run_id="RUN", root=root, ablation_settings=SETTINGS)
    assert (
        "On `mlp_g`, the reading of the paper's Figure 2 (DCGAN collapses where WGAN-GP does not) does not hold" in md
    )


def test_ablation_results_made_with_other_params_are_flagged_stale_and_absent_ones_missing(synthetic):
    root, _ = synthetic
    md = assemble(**STUDY, report_run_id="RUN", root=root, ablation_settings=SETTINGS)
    assert f"> **Missing: the shared-conditioning ablation.** Not run yet: `{ablation.COMMAND}`" in md
    write(
        root,
        ablation.RESULTS,
        ablation_results(dict.fromkeys([(r, a) for r in ("mlp_g-dcgan", "dcgan-wgan") for a in ARMS], False)),
    )
    changed = {**SETTINGS, "methods": {**SETTINGS["methods"], "wgan": {"iterations": 1200, "shared_weight": 0.5}}}
    md = assemble(**STUDY, report_run_id="RUN", root=root, ablation_settings=changed)
    assert "> **Stale: these results were made with other params** (`gan.methods.wgan.iterations` is `1200`, " in md
    assert "`mlp_g-dcgan` (DCGAN (non-saturating)) trains at both weights (judge accuracy 0.812 shared" in md
    assert unmatched_numbers(md, sources(root)) == []


def test_an_empty_tree_still_gives_a_report_of_missing_parts(tmp_path, elsewhere):
    md = report(tmp_path / "empty")
    for section in (
        "## M1",
        "## GAN training: losses",
        "## GAN samples",
        "## GAN metrics",
        "## Theory",
        "## How to reproduce",
        "## Provenance",
    ):
        assert section in md
    assert md.count("> **Missing:") >= 10 and "run `dvc repro pipelines/m1/dvc.yaml:m1_table`" in md and "![" not in md
    contents = md.split("Contents: ", 1)[1].splitlines()[0]
    assert "[M1" in contents and "[Provenance](#provenance)" in contents  # the table of contents links the sections


def test_wall_times_and_provenance(synthetic):
    root, _ = synthetic
    md = report(root, "RUN-ID")
    assert "| `fit_svm_m1` | 3 | 1–10 | 17 |" in md and "| `train_vae` | 1 | 12 | 12 |" in md
    stages = [r[0] for r in table_after(md, "## Provenance")[1:]]
    assert stages == ["`train_vae`", "`fit_svm_m1@100-0`", "`fit_svm_m1@600-0`", "`fit_svm_m1@1000-0`"]
    assert ["`train_vae`", "`abc`", "12.5", "`unknown`"] in table_after(md, "## Provenance")
    assert "this report's MLflow run: `RUN-ID`" in md
    assert "the values each stage ran with are in the `dvc.lock` beside its `dvc.yaml`" in md
    assert "none (not a git checkout)" in md  # built outside a checkout: says so
    assert "genstudy generate --arch dcgan --method wgan_gp --label Dress" in md


def test_html_embeds_every_figure_and_refuses_a_missing_one(tmp_path):
    png(tmp_path / "figures/a.png")
    page, embedded = to_html("# T\n\n![a](figures/a.png)\n\n| x | y |\n|---|---|\n| 1 | 2 |\n", tmp_path, "T")
    assert embedded == ["figures/a.png"] and "<table>" in page
    src = re.search(r'<img[^>]*src="([^"]+)"', page).group(1)
    assert base64.b64decode(src.split(",", 1)[1]) == (tmp_path / "figures/a.png").read_bytes()
    with pytest.raises(FileNotFoundError, match="b.png"):
        embed_images('<img alt="b" src="figures/b.png" />', tmp_path)


def test_better_architecture_by_mean_frechet_distance_over_common_methods():
    scores = {
        "a": {
            "dcgan": {"frechet_distance": 10.0, "judge_accuracy": 0.9},
            "wgan": {"frechet_distance": 50.0, "judge_accuracy": 0.5},
        },
        "b": {"dcgan": {"frechet_distance": 20.0, "judge_accuracy": 0.8}},
    }
    choice = choose_arch(["a", "b"], ["dcgan", "wgan"], scores)
    # a's WGAN is not compared: b has none.
    assert choice["chosen_arch"] == "a" and choice["compared_methods"] == ["dcgan"]
    assert choice["per_arch"]["a"]["mean_frechet_distance"] == 10.0
    assert choose_arch(["a", "b"], ["dcgan"], {})["chosen_arch"] is None
    only = choose_arch(["a", "b"], ["dcgan", "wgan"], {"b": scores["b"]})
    assert only["chosen_arch"] == "b" and "none is" in only["rule"]


def test_report_labels_are_validated_by_name():
    names = data.class_names("fashion_mnist")
    fix = "Fix: edit report.labels in params.yaml or pass -S report.labels=... to dvc exp run"
    jacket = r"^params.yaml: report.labels = \['Dress', 'Jacket'\] is invalid; unknown label 'Jacket'.*"
    with pytest.raises(StageError, match=jacket + re.escape(fix)):
        gan_figures.labels(["Dress", "Jacket"], names)
    with pytest.raises(StageError, match=r"report.labels = \['Dress', 3\] is invalid; the labels must be different"):
        gan_figures.labels(["Dress", 3], names)
    assert gan_figures.labels(["Sneaker", "ankle boot"], names) == [7, 9]
    assert gan_figures.labels([3, "7"], [str(c) for c in range(10)]) == [3, 7]


def test_figures_draw_missing_runs_as_notes():
    history = pd.DataFrame({"iteration": range(1, 41), "d_loss": [1.0] * 40, "g_loss": [float(i) for i in range(40)]})
    fig = loss_panels({"dcgan": history, "wgan": None}, {}, "t", 5, {"wgan": "not trained yet"})
    assert [ax.get_title() for ax in fig.axes] == ["dcgan", "wgan"] and len(fig.axes[0].lines) == 4
    assert fig.axes[1].texts[0].get_text() == "not trained yet"
    rows = {"DCGAN": torch.rand(4, 1, 28, 28), "WGAN": None, "real": torch.rand(4, 1, 28, 28)}
    fig = label_comparison(rows, ["Dress", "Sneaker"], 2, "t", {"WGAN": "not trained yet"})
    assert len(fig.axes) == 12 and fig.axes[0].get_title() == "Dress #1" and fig.axes[3].get_title() == "Sneaker #2"


@pytest.mark.slow
def test_screenshot_script_renders_every_figure_and_flags_a_missing_one(tmp_path):
    import shutil
    import subprocess
    import sys

    if not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no headless Chromium (apt-get install chromium)")
    png(tmp_path / "figures/a.png")
    page, _ = to_html("# T\n\n![a](figures/a.png)\n", tmp_path, "T")
    (tmp_path / "ok.html").write_text(page)
    (tmp_path / "bad.html").write_text(page.replace("</body>", '<img alt="gone" src="figures/gone.png"></body>'))
    script = [sys.executable, str(ROOT / "tools/screenshot_report.py"), "--out", str(tmp_path / "shot.png")]
    ok = subprocess.run(script + ["--html", str(tmp_path / "ok.html")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "1 images embedded, 1 rendered" in ok.stdout and (tmp_path / "shot.png").stat().st_size > 1000
    bad = subprocess.run(script + ["--html", str(tmp_path / "bad.html")], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "image 'gone' is not embedded" in bad.stderr and "image 'gone' did not render" in bad.stderr


# --- (b) the committed report ---------------------------------------------------------------


def test_committed_report_matches_the_committed_metrics():
    md_path = ROOT / "reports/report.md"
    if not md_path.exists():
        pytest.skip("reports/report.md not built yet (dvc repro report)")
    md = md_path.read_text()
    assert unmatched_numbers(md, sources(ROOT)) == []
    if (ROOT / "metrics/m1.json").exists():
        check_m1_tables(md, json.loads((ROOT / "metrics/m1.json").read_text()))
    check_gan_rows(md, ROOT)
    html_path = ROOT / "reports/report.html"
    assert html_path.exists()
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html_path.read_text())
    assert len(srcs) == md.count("![") and all(s.startswith("data:image/png;base64,") for s in srcs)


# --- (c) in the shared study, under DVC ------------------------------------------------------


@pytest.mark.slow
def test_dvc_repro_builds_the_report_last_with_every_number_from_the_metrics(study):
    project, output = study.path, study.first_output
    ran = ran_stages(output)
    assert {"gan_figures", "report", "m1_table", "gan_table", "theory_gan2d"} <= ran
    last = max(output.rindex(f"Running stage '{paths.target(s)}'") for s in ran - {"report"})
    assert output.rindex("Running stage 'report'") > last
    md = (project / "reports/report.md").read_text()
    assert "> **Missing:" not in md
    assert unmatched_numbers(md, sources(project)) == []
    check_m1_tables(md, json.loads((project / "metrics/m1.json").read_text()))
    check_gan_rows(md, project)
    choice = json.loads((project / "metrics/gan_figures.json").read_text())
    assert f"Better architecture: **`{choice['chosen_arch']}`**" in md
    assert choice["labels"] == ["3", "7"] and choice["runs_not_evaluated"] == []
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', (project / "reports/report.html").read_text())
    assert len(srcs) == md.count("![") >= 14 and all(s.startswith("data:image/png;base64,") for s in srcs)
    # The report's own MLflow run (other tests may have rerun the report: one of the runs named `report`).
    run_id = json.loads((project / "reports/report_run.json").read_text())["mlflow_run_id"]
    assert (run_id,) in mlflow_query(project, "select run_uuid from runs where name = 'report'")
    assert f"`{run_id}`" in md
    logged = {p.name for p in (project / "mlartifacts").rglob("*") if run_id in str(p)}
    assert {"report.md", "report.html", "two_labels.png", "elbo.png"} <= logged
