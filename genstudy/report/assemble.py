"""The report's markdown, assembled from the pipeline's outputs only.

Sections: M1, GAN losses, GAN samples, GAN metrics, the shared-conditioning ablation, theory, how
to reproduce (commands, each stage's measured wall time), provenance (git commit, every stage's
MLflow run id). A part whose inputs are not built yet says which and how to build them.
"""

import json
import os
import platform
import re
import subprocess
from pathlib import Path

import pandas as pd

from genstudy import budget
from genstudy.gan import METHOD_NAMES
from genstudy.pipeline import paths
from genstudy.pipeline.tracking import EXPERIMENT
from genstudy.report import ablation, sections, theory_sections
from genstudy.report.inputs import Inputs
from genstudy.report.markdown import missing, num, table

DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}


def title(dataset: str) -> str:
    return f"genstudy: generative models on {DATASET_NAMES.get(dataset, dataset)}"


# Pipeline order for the wall-time table; a stage not listed follows in alphabetical order.
ORDER = [
    "download",
    "sample_labels",
    "train_vae",
    "encode",
    "fit_svm_m1",
    "fit_svm_pixels",
    "m1_table",
    "train_judge",
    "train_gan",
    "evaluate_gan",
    "gan_reference",
    "gan_table",
    "gan_figures",
    "theory_divergences",
    "theory_sequence_cost",
    "theory_gan2d",
]
SOURCES = ["genstudy", "stages", "dvc.yaml", "pipelines/*/dvc.yaml", "params.yaml", "pyproject.toml"]


def git(*args) -> str | None:
    """git's output (not stripped: porcelain lines start with a space), None outside a checkout."""
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def natural(stage: str) -> tuple:
    """`fit_svm_m1@600-0` before `fit_svm_m1@1000-0`: numbers compared as numbers."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", stage))


def run_records(directory=paths.RUN_RECORDS) -> pd.DataFrame:
    """One row per reports/runs/<stage>.json: stage, its base name (before '@'), run id, seconds, commit."""
    rows = []
    for path in sorted(Path(directory).glob("*.json")):
        r = json.loads(path.read_text())
        rows.append(
            {
                "stage": r["stage"],
                "base": r["stage"].split("@")[0],
                "run_id": r["mlflow_run_id"],
                "run_uid": r.get("run_uid"),  # a deferred run's: logged by a later stage, found by this tag
                "seconds": r["seconds"],
                "commit": r.get("git_commit", "unknown"),
            }
        )
    frame = pd.DataFrame(rows, columns=["stage", "base", "run_id", "run_uid", "seconds", "commit"])
    rank = {name: i for i, name in enumerate(ORDER)}
    frame["rank"] = frame["base"].map(lambda b: rank.get(b, len(ORDER)))
    frame["key"] = frame["stage"].map(natural)
    return frame.sort_values(["rank", "base", "key"]).drop(columns=["rank", "key"]).reset_index(drop=True)


def machine() -> str:
    """The machine building the report, in one line (the CPU model from /proc/cpuinfo where there is one)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor() or "CPU unknown",
    )
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, {model}"


def reproduce_section(records: pd.DataFrame, arch: str | None, label: str, root: Path = Path(".")) -> str:
    arch = arch or "dcgan"
    out = [
        "## How to reproduce",
        "",
        "From a fresh clone (README: *Setup*), with `.venv/bin` first on `PATH` after `make setup`:",
        "",
        "```bash",
        "make study     # venv, pinned install, Fashion-MNIST, then `dvc repro` (trains and evaluates everything)",
        "make test      # the test suite",
        "dvc repro report                   # just this report (and whatever it needs that is stale)",
        "python tools/screenshot_report.py  # render reports/report.html headless and check every figure",
    ]
    out += [
        f"genstudy generate --arch {arch} --method {m} --label {label} -n 16 --seed 0 -o {m}.png" for m in METHOD_NAMES
    ]
    out += [
        "```",
        "",
        "`genstudy generate` draws new images from the trained weights in `models/gan/ARCH-METHOD.pt` "
        "(made by `dvc repro pipelines/gan/dvc.yaml:train_gan@ARCH-METHOD`); without `--label` it draws every "
        "class, a row each.",
        "",
        f"**Measured wall time of each stage** (process start to end, imports and data loading included, from "
        f"`reports/runs/<stage>.json`). This report was built on `{machine()}`; the times are those of the "
        "machine each stage ran on.",
        "",
    ]
    if records.empty:
        return "\n".join(out + [missing("the stage run records", [("reports/runs/", "report")])])
    groups = []
    for base, g in records.groupby("base", sort=False):
        each = f"{num(g.seconds.min(), 0)}–{num(g.seconds.max(), 0)}" if len(g) > 1 else num(g.seconds.iloc[0], 0)
        groups.append([f"`{base}`", len(g), each, num(g.seconds.sum(), 0)])
    out += [
        table(pd.DataFrame(groups, columns=["stage", "runs", "seconds per run", "seconds in all"])),
        f"All recorded stages together: {num(records.seconds.sum(), 0)} s. Per-stage times and run ids: "
        "see Provenance.",
        "",
        budget_section(records, root),
    ]
    return "\n".join(out)


def budget_section(records: pd.DataFrame, root: Path = Path(".")) -> str:
    """The study's time budget per part (bench/budget.yaml) against the recorded times, as
    `python bench/budget.py` prints it (this report's own stage is not recorded yet when it runs)."""
    try:
        plan = budget.read_budget(root / budget.BUDGET)
    except budget.BudgetError as e:
        return f"**Time budget**: not checked ({e}).\n"
    parts, problems = budget.check(plan, dict(zip(records.stage, records.seconds)))
    verdict = "every part within its budget" if not problems else "; ".join(problems)
    return (
        f"**Time budget** (`{budget.BUDGET}`, checked by `python bench/budget.py`): {verdict}.\n\n"
        + budget.markdown(parts)
    )


def run_cell(record) -> str:
    """A stage's MLflow run: its id, or for a deferred run (logged later) the tag that finds it."""
    if isinstance(record.run_id, str) and record.run_id:
        return f"`{record.run_id}`"
    return f"tag `genstudy.run_uid` = `{record.run_uid}`"


def provenance_section(records: pd.DataFrame, report_run_id: str) -> str:
    commit = (git("rev-parse", "HEAD") or "").strip()
    changed = git("status", "--porcelain", "--", *SOURCES)
    if changed is None:
        state = "git status unknown"
    elif not changed.strip():
        state = "no uncommitted changes to the code or params"
    else:
        state = "with uncommitted changes to " + ", ".join(f"`{line[3:]}`" for line in changed.splitlines() if line)
    out = [
        "## Provenance",
        "",
        f"* git commit checked out when the report was built: `{commit or 'none (not a git checkout)'}`, "
        f"{state} ({', '.join(SOURCES)}).",
        "* params: the values each stage ran with are in the `dvc.lock` beside its `dvc.yaml` (its `params` entries).",
        f"* this report's MLflow run: `{report_run_id}`; each stage's run below (experiment "
        f"`{EXPERIMENT}`; `make mlflow-ui` shows them), with the commit its stage ran at.",
        "",
    ]
    if not records.empty:
        rows = [
            [f"`{r.stage}`", run_cell(r), num(r.seconds, 1), f"`{str(r.commit)[:10]}`"] for r in records.itertuples()
        ]
        out.append(table(pd.DataFrame(rows, columns=["stage", "MLflow run id", "seconds", "git commit"])))
    return "\n".join(out)


def assemble(
    dataset: str,
    counts,
    seeds,
    archs,
    methods,
    report_run_id: str,
    root: Path = Path("."),
    ablation_settings: dict | None = None,
) -> str:
    """The report's markdown from the outputs under `root` (the repository root). `ablation_settings`:
    the params the shared-conditioning ablation depends on (ablation.current_settings), against which
    its results are checked for staleness; None skips the check."""
    inp = Inputs(root)
    records = run_records(root / paths.RUN_RECORDS)
    choice = inp.json("metrics/gan_figures.json") or {}
    label = (choice.get("labels") or ["Dress"])[0]
    parts = [
        f"# {title(dataset)}",
        "",
        "Assembled by the pipeline's last stage (`dvc repro report`) from DVC outputs only: every number "
        "below is read from a metrics file, every figure is a pipeline output. Dataset: "
        f"`{dataset}`.",
        "",
        "{contents}",
        "",
        sections.m1_section(inp, counts, seeds, dataset),
        sections.gan_losses_section(inp, archs, methods),
        sections.gan_curves_section(inp, archs, methods),
        sections.gan_samples_section(inp, archs, methods),
        sections.gan_metrics_section(inp, archs, methods),
        ablation.ablation_section(inp, ablation_settings),
        theory_sections.theory_section(inp),
        reproduce_section(records, choice.get("chosen_arch"), label, root),
        provenance_section(records, report_run_id),
    ]
    md = "\n".join(parts)
    return md.replace("{contents}", contents(md), 1)


def contents(md: str) -> str:
    """Links to the sections; the anchors are the ids both GitHub and Python-Markdown give headings."""

    def slug(title):
        kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
        return kept.strip().replace(" ", "-")

    titles = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    return "Contents: " + " · ".join(f"[{t}](#{slug(t)})" for t in titles)
