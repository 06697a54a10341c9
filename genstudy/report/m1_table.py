"""The semi-supervised study's Table 1-style summary: one row per (method, N, seed) from metrics/svm/*.json
and metrics/m2/*.json, then mean and std over seeds, as markdown and as a figure of accuracy against N."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from genstudy import references  # noqa: E402
from genstudy.pipeline import paths  # noqa: E402
from genstudy.pipeline.stage import require  # noqa: E402

METHODS = {
    "m1": "M1 + SVM",
    "m1_transductive": "M1 + label spreading + SVM (transductive)",
    "m1_m2": "M1 + M2",
    "m2": "M2 (raw pixels)",
    "raw_pixels": "SVM on raw pixels",
}
M2_METHODS = {"m1": "m1_m2", "pixels": "m2"}  # train_m2's features -> the table's method


def augment_label(transforms) -> str:
    return "+".join(transforms) if transforms else "none"


def collect(counts, seeds, m2_features=()) -> pd.DataFrame:
    """One row per (method, N, seed) from metrics/svm/*.json and, for each of m2_features, metrics/m2/*.json."""
    rows = []
    for features in m2_features:
        for n in counts:
            for seed in seeds:
                path = paths.m2_metrics(features, n, seed)
                with open(require(path, f"train_m2@{features}-{n}-{seed}")) as f:
                    r = json.load(f)
                rows.append(
                    {
                        "method": M2_METHODS[features],
                        "n": n,
                        "seed": seed,
                        "accuracy": r["accuracy"],
                        "valid_accuracy": r["valid_accuracy"],
                        "epoch": r["epoch"],
                    }
                )
    for features in ("m1", "pixels"):
        for n in counts:
            for seed in seeds:
                path = paths.svm_metrics(features, n, seed)
                with open(require(path, f"fit_svm_{features}@{n}-{seed}")) as f:
                    result = json.load(f)
                for method, r in result["methods"].items():
                    rows.append(
                        {
                            "method": "raw_pixels" if method == "pixels" else method,
                            "n": n,
                            "seed": seed,
                            "accuracy": r["accuracy"],
                            "C": r["C"],
                            "gamma_factor": r.get("gamma_factor"),
                            "cv_accuracy": r["cv_accuracy"],
                            "cv_folds": r["cv_folds"],
                            "kernel": r["kernel"],
                            "augment": augment_label(r.get("augment", [])),
                        }
                    )
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame) -> dict:
    out = {}
    for (method, n), g in runs.groupby(["method", "n"]):
        acc = g["accuracy"]
        std = float(acc.std(ddof=0))
        out.setdefault(method, {})[str(n)] = {
            "accuracy_mean": round(float(acc.mean()), 4),
            "accuracy_std": round(std, 4),
            "error_mean": round(100 * (1 - float(acc.mean())), 2),
            "error_std": round(100 * std, 2),
            "seeds": int(len(g)),
        }
    return out


def markdown(summary: dict, runs: pd.DataFrame, dataset: str, kernel: str) -> str:
    counts = sorted({int(n) for m in summary.values() for n in m})
    methods = [m for m in METHODS if m in summary]

    def cell(m, n, k):
        digits = 2 if k == "error" else 4
        return f"{summary[m][str(n)][k + '_mean']:.{digits}f} ± {summary[m][str(n)][k + '_std']:.{digits}f}"

    seeds = runs["seed"].nunique()
    lines = [
        f"### Test error (%) on {dataset}, mean ± std over {seeds} seeds (cf. Kingma et al. 2014, Table 1)",
        "",
        "| N | "
        + " | ".join(METHODS[m] for m in methods)
        + " | paper (MNIST): M1+TSVM | paper (MNIST): M2 | paper (MNIST): M1+M2 |",
        "|---|" + "---|" * (len(methods) + 3),
    ]
    paper_columns = (
        references.PAPER_MNIST_M1_TSVM_ERROR,
        references.PAPER_MNIST_M2_ERROR,
        references.PAPER_MNIST_M1_M2_ERROR,
    )
    for n in counts:
        paper = [f"{c[n][0]} ± {c[n][1]}" if n in c else "" for c in paper_columns]
        lines.append(f"| {n} | " + " | ".join([cell(m, n, "error") for m in methods] + paper) + " |")
    lines += [
        "",
        f"### Test accuracy on {dataset}, mean ± std over {seeds} seeds",
        "",
        "| N | " + " | ".join(METHODS[m] for m in methods) + " | " + " | ".join(references.FASHION_REFERENCES) + " |",
        "|---|" + "---|" * (len(methods) + len(references.FASHION_REFERENCES)),
    ]
    for n in counts:
        refs = [
            f"{r[n]:.4f}" if n in r and dataset == "fashion_mnist" else ""
            for r in references.FASHION_REFERENCES.values()
        ]
        lines.append(
            f"| {n} | " + " | ".join(cell(m, n, "accuracy") for m in methods) + " | " + " | ".join(refs) + " |"
        )
    svms = runs[runs["method"].isin(["m1", "m1_transductive", "raw_pixels"])]
    folds = ", ".join(sorted({str(int(f)) for f in svms["cv_folds"]}))
    lines += [
        "",
        f"### Selected hyperparameters (SVC, {kernel} kernel; per seed, by stratified {folds}-fold CV on "
        "the N labelled images only; gamma as a multiple of sklearn's gamma='scale'; copies: the "
        "label-preserving copies of each labelled image in the training folds, svm.augment)",
        "",
        "| method | N | copies | C per seed | gamma factor per seed | CV accuracy (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for (method, n), g in svms.sort_values("seed").groupby(["method", "n"]):
        gammas = ", ".join(f"{v:g}" for v in g["gamma_factor"]) if g["gamma_factor"].notna().all() else "n/a"
        lines.append(
            f"| {METHODS[method]} | {n} | {', '.join(sorted(set(g['augment'])))} | "
            f"{', '.join(f'{c:g}' for c in g['C'])} | {gammas} | {g['cv_accuracy'].mean():.4f} |"
        )
    m2s = runs[runs["method"].isin(list(M2_METHODS.values()))]
    if len(m2s):
        lines += [
            "",
            "### M2 and M1 + M2: the epoch chosen per seed, by accuracy on the validation split (training "
            "images outside every labelled subset; never the test set)",
            "",
            "| method | N | epoch per seed | validation accuracy (mean) |",
            "|---|---|---|---|",
        ]
        for (method, n), g in m2s.sort_values("seed").groupby(["method", "n"]):
            epochs = ", ".join(str(int(e)) for e in g["epoch"])
            lines.append(f"| {METHODS[method]} | {n} | {epochs} | {g['valid_accuracy'].mean():.4f} |")
    return "\n".join(lines) + "\n"


def accuracy_figure(summary: dict, dataset: str):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, label in METHODS.items():
        if method not in summary:
            continue
        ns = sorted(int(n) for n in summary[method])
        ax.errorbar(
            ns,
            [summary[method][str(n)]["accuracy_mean"] for n in ns],
            yerr=[summary[method][str(n)]["accuracy_std"] for n in ns],
            marker="o",
            capsize=3,
            label=label,
        )
    if dataset == "fashion_mnist":
        for name, ref in references.FASHION_REFERENCES.items():
            ax.plot(list(ref), list(ref.values()), ls="--", alpha=0.6, label=f"reference: {name}")
    ax.set_xscale("log")
    ax.set_xlabel("labelled images N")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"M1 on {dataset}: accuracy vs number of labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
