"""Every path the pipeline reads or writes, and every stage name and its dvc.yaml: those files say the same in
their own words.

Relative to the repository root, where DVC runs the stages.
"""

RAW = "data/raw"  # download: the four verified IDX files
VAE_MODEL = "models/vae.pt"
VAE_METRICS, VAE_HISTORY, VAE_FIGURES = "metrics/vae.json", "metrics/vae_history.csv", "reports/figures/vae"
M1_FEATURES = "data/features/m1.npz"  # encode: posterior means of train and test images
M1_SUMMARY, M1_ACCURACY_CSV = "metrics/m1.json", "metrics/m1_accuracy.csv"
M1_TABLE, M1_FIGURE = "reports/m1_table.md", "reports/figures/m1/accuracy_vs_n.png"
SVM_FEATURES = ("m1", "pixels")
M2_METRICS = "metrics/m2"  # train_m2: one JSON per (features, N, seed)

JUDGE_MODEL, JUDGE_METRICS, JUDGE_HISTORY = "models/judge.pt", "metrics/judge.json", "metrics/judge_history.csv"
GAN_FIGURES = "reports/figures/gan"
GAN_REFERENCE = "metrics/gan/reference.json"
GAN_SUMMARY, GAN_TABLE_CSV, GAN_TABLE = "metrics/gan_summary.json", "metrics/gan_table.csv", "reports/gan_table.md"
GAN_PER_CLASS_FIGURE = "reports/figures/gan_per_class_accuracy.png"
GAN_CURVES_FIGURES = "reports/figures/gan/curves"  # gan_figures: quality against iterations and seconds, per arch
GAN_OVERVIEW, GAN_OVERVIEW_SUMMARY = "reports/figures/gan_overview", "metrics/gan_figures.json"

THEORY_FIGURES, THEORY_METRICS = "reports/figures/theory", "metrics/theory"
REPORT_MD, REPORT_HTML, REPORT_RECORD = "reports/report.md", "reports/report.html", "reports/report_run.json"
RUN_RECORDS = "reports/runs"  # one <stage>.json per stage execution: run id, wall time


# Each part of the study is a pipeline of its own, pipelines/<part>/dvc.yaml, with its own dvc.lock:
# after every stage DVC parses and rewrites that stage's whole lock file, so one lock for all 105
# stages cost some 2.4 s a stage. The root dvc.yaml holds the stages that read every part (the model
# registry and the report), so a bare `dvc repro` at the root still builds the whole study.
PIPELINES = {
    "data": ("download", "sample_labels"),
    "m1": ("train_vae", "encode", "fit_svm_m1", "m1_table"),
    "pixels": ("fit_svm_pixels",),
    "m2": ("train_m2",),
    "gan": ("train_judge", "train_gan", "evaluate_gan", "gan_reference", "gan_table", "gan_figures"),
    "theory": ("theory_divergences", "theory_sequence_cost", "theory_gan2d"),
}
ROOT_STAGES = ("register_models", "report")


def stage_name(base: str, *items) -> str:
    """DVC's name for a matrix stage item: `base@a-b`."""
    return f"{base}@{'-'.join(map(str, items))}" if items else base


def dvc_file(stage: str) -> str:
    """The dvc.yaml that defines `stage` (a name from stage_name, or its base)."""
    base = stage.partition("@")[0]
    if base in ROOT_STAGES:
        return "dvc.yaml"
    for part, bases in PIPELINES.items():
        if base in bases:
            return f"pipelines/{part}/dvc.yaml"
    raise KeyError(f"no stage named {base!r} in genstudy.pipeline.paths.PIPELINES")


def target(stage: str) -> str:
    """`stage` as DVC takes it at the repository root: `pipelines/m1/dvc.yaml:encode`, `report`.

    DVC looks a bare stage name up in the dvc.yaml of the current directory only."""
    file = dvc_file(stage)
    return stage if file == "dvc.yaml" else f"{file}:{stage}"


def repro(stage: str) -> str:
    """The command that builds `stage` (and whatever it needs that is stale) from the repository root."""
    return f"dvc repro {target(stage)}"


def labels(n: int, seed: int) -> str:
    return f"data/labels/n{n}-seed{seed}.csv"


def svm_metrics(features: str, n: int, seed: int) -> str:
    return f"metrics/svm/{features}-n{n}-seed{seed}.json"


def svm_model(features: str, n: int, seed: int) -> str:
    """The fitted SVMs of one stage, as plain arrays (genstudy.svm.save / load)."""
    return f"models/svm/{features}-n{n}-seed{seed}.npz"


def m2_run(features: str, n: int, seed: int) -> str:
    return f"{features}-n{n}-seed{seed}"


def m2_model(features: str, n: int, seed: int) -> str:
    """M2's weights and config (save_torch), chosen at its best validation epoch."""
    return f"models/m2/{m2_run(features, n, seed)}.pt"


def m2_metrics(features: str, n: int, seed: int) -> str:
    return f"{M2_METRICS}/{m2_run(features, n, seed)}.json"


def m2_history(features: str, n: int, seed: int) -> str:
    """Per-epoch bounds and validation accuracy."""
    return f"metrics/m2_history/{m2_run(features, n, seed)}.csv"


def gan_run(arch: str, method: str) -> str:
    return f"{arch}-{method}"


def gan_model(arch: str, method: str) -> str:
    return f"models/gan/{gan_run(arch, method)}.pt"


def gan_snapshots(arch: str, method: str) -> str:
    """The sampled generator at every grid_every iterations of the kept attempt, with its wall-clock seconds."""
    return f"models/gan/snapshots/{gan_run(arch, method)}.pt"


def gan_curve(arch: str, method: str) -> str:
    """evaluate_gan's scores of the snapshots: one row per snapshot."""
    return f"metrics/gan/curves/{gan_run(arch, method)}.csv"


def gan_checkpoint(arch: str, method: str) -> str:
    # Outside the stage's declared outs: DVC deletes those before rerunning a stage.
    return f"checkpoints/gan/{gan_run(arch, method)}.pt"


def gan_train_record(arch: str, method: str) -> str:
    return f"metrics/gan/train/{gan_run(arch, method)}.json"


def gan_history(arch: str, method: str) -> str:
    return f"metrics/gan/history/{gan_run(arch, method)}.csv"


def gan_metrics(arch: str, method: str) -> str:
    return f"metrics/gan/{gan_run(arch, method)}.json"


def gan_run_figures(arch: str, method: str) -> str:
    return f"{GAN_FIGURES}/{gan_run(arch, method)}"


def gan_samples_grid(arch: str, method: str) -> str:
    return f"{GAN_FIGURES}/samples/{gan_run(arch, method)}.png"


def theory(name: str) -> tuple[str, str, str]:
    """(figure, metrics JSON, table CSV) of theory stage `theory_<name>`; gan2d's table is its history."""
    table = "gan2d_history" if name == "gan2d" else name
    return f"{THEORY_FIGURES}/{name}.png", f"{THEORY_METRICS}/{name}.json", f"{THEORY_METRICS}/{table}.csv"


def run_record(stage: str) -> str:
    return f"{RUN_RECORDS}/{stage}.json"
