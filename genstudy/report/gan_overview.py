"""The report's GAN figures: loss panels per architecture, the methods' losses on shared axes, quality
against training (Figure 3 of Gulrajani et al.), and the better architecture's samples of two
labels beside real test images. A run not trained or evaluated yet is drawn as a note naming its stage.
Deterministic: noise and the real images are drawn from a seed.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genstudy import data
from genstudy.gan import METHOD_NAMES, nets
from genstudy.gan import checkpoint as gan_checkpoint
from genstudy.pipeline import paths
from genstudy.pipeline.stage import require
from genstudy.report.figures import label_comparison, loss_panels, quality_curves, shared_losses

RULE = (
    "lower mean Fréchet distance (judge features, against the test set) over the methods evaluated "
    "for every architecture"
)


def evaluated(archs, methods) -> dict:
    """{arch: {method: metrics}} of the runs evaluate_gan has scored."""
    out = {}
    for arch in archs:
        for method in methods:
            path = Path(paths.gan_metrics(arch, method))
            if path.exists():
                out.setdefault(arch, {})[method] = json.loads(path.read_text())
    return out


def choose_arch(archs, methods, scores: dict) -> dict:
    """The better architecture by RULE; with no method evaluated for every architecture, each
    architecture's mean over what it has (said so in the result)."""
    common = [m for m in methods if all(m in scores.get(a, {}) for a in archs)]
    per_arch = {}
    for arch in archs:
        used = common or list(scores.get(arch, {}))
        if used:
            runs = [scores[arch][m] for m in used]
            per_arch[arch] = {
                "methods": used,
                "mean_frechet_distance": float(np.mean([r["frechet_distance"] for r in runs])),
                "mean_judge_accuracy": float(np.mean([r["judge_accuracy"] for r in runs])),
            }
    if not per_arch:
        return {"rule": RULE, "chosen_arch": None, "per_arch": {}, "compared_methods": []}
    chosen = min(per_arch, key=lambda a: per_arch[a]["mean_frechet_distance"])
    return {
        "rule": RULE if common else RULE + " (none is: each architecture's own runs)",
        "chosen_arch": chosen,
        "per_arch": per_arch,
        "compared_methods": common,
    }


def not_built(arch, method) -> str:
    return f"not trained yet:\nrun `{paths.repro(paths.stage_name('train_gan', arch, method))}`"


def loss_figure(arch, methods, window):
    notes = {m: not_built(arch, m) for m in methods}
    title = f"{arch} architecture: losses per generator iteration"
    return loss_panels(histories(arch, methods), METHOD_NAMES, title, window, notes)


def histories(arch, methods) -> dict:
    out = {}
    for method in methods:
        path = Path(paths.gan_history(arch, method))
        out[method] = pd.read_csv(path) if path.exists() else None
    return out


def shared_loss_figure(arch, methods, window):
    notes = {m: not_built(arch, m) for m in methods}
    title = f"{arch} architecture: the three objectives' losses on shared axes"
    return shared_losses(histories(arch, methods), METHOD_NAMES, title, window, notes)


def not_scored(arch, method) -> str:
    return f"not scored yet: run `{paths.repro(paths.stage_name('evaluate_gan', arch, method))}`"


def curves(arch, methods) -> dict:
    """{method: DataFrame of metrics/gan/curves/ARCH-METHOD.csv, or None where evaluate_gan has not run}."""
    out = {}
    for method in methods:
        path = Path(paths.gan_curve(arch, method))
        out[method] = pd.read_csv(path) if path.exists() else None
    return out


def curve_figure(arch, methods):
    notes = {m: not_scored(arch, m) for m in methods}
    title = f"{arch} architecture: Fréchet distance during training (EMA generator snapshots)"
    return quality_curves(curves(arch, methods), METHOD_NAMES, title, notes)


def curve_summary(archs, methods) -> dict:
    """Per run: the last snapshot's scores, the best Fréchet distance and where it was reached, and the
    improvement over the last quarter of training (a small one: the curve has flattened)."""
    out = {}
    for arch in archs:
        for method, curve in curves(arch, methods).items():
            if curve is None or curve.empty:
                continue
            best = curve.loc[curve["frechet_distance"].idxmin()]
            last = curve.iloc[-1]
            quarter = curve[curve["iteration"] <= 0.75 * last["iteration"]]
            before = quarter.iloc[-1] if len(quarter) else curve.iloc[0]
            out[paths.gan_run(arch, method)] = {
                "snapshots": len(curve),
                "final_iteration": int(last["iteration"]),
                "final_seconds": round(float(last["seconds"]), 1),
                "final_frechet_distance": round(float(last["frechet_distance"]), 3),
                "final_judge_accuracy": round(float(last["judge_accuracy"]), 4),
                "best_frechet_distance": round(float(best["frechet_distance"]), 3),
                "best_iteration": int(best["iteration"]),
                "last_quarter_change_percent": round(
                    100 * float(last["frechet_distance"] / before["frechet_distance"] - 1), 1
                ),
            }
    return out


def real_images(labels, per_label, seed) -> torch.Tensor:
    """per_label test images of each label, drawn with `seed` (label-major order)."""
    x, y = data.load_pixels(require(paths.RAW, "download"), "test")
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(y == label), per_label, replace=False) for label in labels]
    return torch.from_numpy(x[np.concatenate(picks)])


def samples_figure(arch, cfg, rule_text):
    labels = torch.tensor(cfg["labels"]).repeat_interleave(cfg["per_label"])
    rows, notes = {}, {}
    for method in cfg["methods"]:
        name = METHOD_NAMES[method]
        notes[name] = not_built(arch, method).replace("\n", " ")
        if not Path(paths.gan_model(arch, method)).exists():
            rows[name] = None
            continue
        _, g, _ = gan_checkpoint.load(paths.gan_model(arch, method))  # as `genstudy generate` loads it
        # The same noise for every method (same seed, same z_dim): like-for-like samples.
        rows[name] = nets.sample(g, labels, torch.Generator().manual_seed(cfg["seed"]))
    rows["real (test set)"] = real_images(cfg["labels"], cfg["per_label"], cfg["seed"])
    names = [cfg["names"][i] for i in cfg["labels"]]
    return label_comparison(
        rows, names, cfg["per_label"], f"{arch} architecture: generated vs real\n(the better one by {rule_text})", notes
    )
