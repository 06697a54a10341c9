"""The GAN table: every evaluate_gan run beside the reference rows, as markdown and a per-class figure."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from genstudy.gan import METHOD_NAMES  # noqa: E402
from genstudy.pipeline import paths  # noqa: E402
from genstudy.pipeline.stage import require  # noqa: E402


def collect(archs, methods) -> tuple[pd.DataFrame, dict]:
    rows, per_class = [], {}
    for arch in archs:
        for method in methods:
            path = paths.gan_metrics(arch, method)
            with open(require(path, paths.stage_name("evaluate_gan", arch, method))) as f:
                m = json.load(f)
            rows.append(
                {
                    "run": paths.gan_run(arch, method),
                    "arch": arch,
                    "method": method,
                    "judge_accuracy": m["judge_accuracy"],
                    "gan_train_accuracy": m.get("gan_train_accuracy", float("nan")),
                    "frechet_distance": m["frechet_distance"],
                    "diversity": m["diversity"],
                    "failed_attempts": m["failed_attempts"],
                    "converged": m["converged"],
                }
            )
            per_class[paths.gan_run(arch, method)] = m["per_class_accuracy"]
    return pd.DataFrame(rows), per_class


def done_check(runs: pd.DataFrame, reference: dict) -> dict | None:
    """The study's GAN bar: WGAN-GP of the better architecture (lower WGAN-GP Frechet distance)
    has judge accuracy >= 0.85 and a Frechet distance below the VAE samples'."""
    gp = runs[runs.method == "wgan_gp"]
    if gp.empty:
        return None
    best = gp.loc[gp.frechet_distance.idxmin()]
    return {
        "arch": best.arch,
        "judge_accuracy": float(best.judge_accuracy),
        "frechet_distance": float(best.frechet_distance),
        "frechet_distance_vae_samples": reference["frechet_distance_vae_samples"],
        "met": bool(best.judge_accuracy >= 0.85 and best.frechet_distance < reference["frechet_distance_vae_samples"]),
    }


def markdown(runs: pd.DataFrame, per_class: dict, reference: dict, check, dataset: str, names) -> str:
    lines = [
        f"### Class-conditional GANs on {dataset}, scored by the judge "
        f"(Frechet distance on its penultimate features, against the test set)",
        "",
        "| run | G / D architecture | method | judge accuracy | GAN-train accuracy | Frechet distance | diversity "
        "| failed attempts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs.itertuples():
        flag = "" if r.converged else " (last attempt flagged, kept)"
        lines.append(
            f"| {r.run} | {r.arch} | {METHOD_NAMES[r.method]} | {r.judge_accuracy:.4f} | "
            f"{r.gan_train_accuracy:.4f} | {r.frechet_distance:.3f} | {r.diversity:.3f} | {r.failed_attempts}{flag} |"
        )
    real_trained = reference.get("gan_train_accuracy_real", float("nan"))
    lines += [
        f"| reference | real training images ({reference['n']}) | | {reference['judge_accuracy_train']:.4f} | "
        f"{real_trained:.4f} | {reference['frechet_distance_train_test']:.3f} | {reference['diversity_train']:.3f} | |",
    ]
    if "frechet_distance_mirrored_shoes" in reference:
        lines.append(
            f"| reference | the same, shoes mirrored | | {reference['judge_accuracy_mirrored_shoes']:.4f} | | "
            f"{reference['frechet_distance_mirrored_shoes']:.3f} | | |"
        )
    lines += [
        f"| reference | real test images | | {reference['judge_accuracy_test']:.4f} | | 0 | 1 | |",
        f"| reference | M1 VAE, samples from the prior | | | | {reference['frechet_distance_vae_samples']:.3f} | | |",
        "",
    ]
    lines += [
        "Judge accuracy: the judge's class for a sample equals its conditioning label. GAN-train accuracy "
        "(Shmelkov et al. 2018): a classifier built and trained as the judge on the run's samples alone, on the "
        "real test set (reference: trained on as many real training images). Diversity: mean within-class "
        "feature distance of samples over that of real test images (1 = as varied as real). Mirrored shoes: a "
        "judge that sees orientation scores them worse than the unmirrored images.",
        "",
    ]
    if check:
        lines += [
            f"The study's GAN bar (WGAN-GP of the better architecture, `{check['arch']}`: judge accuracy >= 0.85 "
            f"and Frechet distance below the VAE's): **{'met' if check['met'] else 'not met'}** "
            f"({check['judge_accuracy']:.4f}, {check['frechet_distance']:.3f} vs "
            f"{check['frechet_distance_vae_samples']:.3f}).",
            "",
        ]
    lines += ["### Judge accuracy per class", "", "| run | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for run, acc in per_class.items():
        lines.append(f"| {run} | " + " | ".join(f"{acc[n]:.3f}" for n in names) + " |")
    return "\n".join(lines) + "\n"


def per_class_figure(per_class: dict, names):
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(per_class))
    for i, (run, acc) in enumerate(per_class.items()):
        ax.bar(np.arange(len(names)) + i * width, [acc[n] for n in names], width, label=run)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=30, ha="right")
    ax.set_ylabel("judge accuracy on samples")
    ax.set_ylim(0, 1)
    ax.set_title("Does the label control what is drawn? Judge accuracy per conditioning class")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, axis="y")
    return fig
