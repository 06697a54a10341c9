"""Stage `gan_figures`: the GAN figures the report needs, from the trained runs.

Writes, under reports/figures/gan_overview/ (one directory output, so a new architecture in
gan.matrix needs no dvc.yaml edit):
  losses_ARCH.png  one per architecture: a panel per method, critic and generator loss per iteration;
  two_labels.png   the better architecture's samples of the two labels in report.labels, per_label
                   images of each from every method, and as many real test images of each label;
and metrics/gan_figures.json: which architecture was chosen, by which rule and which numbers.
A run not trained or evaluated yet is drawn as a note naming the stage that makes it; the stage still
succeeds. Deterministic: noise and the real images are drawn from report.seed.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genstudy import data, tracking
from genstudy.cli import UsageError, parse_label
from genstudy.gan import METHODS, nets
from genstudy.io import save_figure, write_json
from genstudy.report import loss_panels, label_comparison
from stages import gan_common as gc
from stages.common import Params, dataset_name, main, require, stage_name
from stages.gan_table import METHOD_NAMES

OUT = Path("reports/figures/gan_overview")
SUMMARY = "metrics/gan_figures.json"
RULE = ("lower mean Fréchet distance (judge features, against the test set) over the methods evaluated "
        "for every architecture")


def read_params(p: Params) -> dict:
    names = data.class_names(dataset_name(p))
    labels = p.list("report.labels", lambda v: isinstance(v, (str, int)) and not isinstance(v, bool))
    try:
        indices = [parse_label(str(v), names) for v in labels]
    except UsageError as e:
        raise p.bad("report.labels", labels, str(e)) from None
    if len(set(indices)) != len(indices):
        raise p.bad("report.labels", labels, "the labels must be different classes")
    return {"archs": p.list("gan.matrix.arch", lambda a: isinstance(a, str)),
            "methods": p.list("gan.matrix.method", lambda m: m in METHODS),
            "labels": indices, "names": names,
            "per_label": p.int("report.images_per_label"),
            "seed": p.int("report.seed", minimum=0),
            "window": p.int("report.loss_smoothing")}


def evaluated(archs, methods) -> dict:
    """{arch: {method: metrics}} of the runs evaluate_gan has scored."""
    out = {}
    for arch in archs:
        for method in methods:
            path = Path(gc.metrics_path(arch, method))
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
            per_arch[arch] = {"methods": used,
                              "mean_frechet_distance": float(np.mean([r["frechet_distance"] for r in runs])),
                              "mean_judge_accuracy": float(np.mean([r["judge_accuracy"] for r in runs]))}
    if not per_arch:
        return {"rule": RULE, "chosen_arch": None, "per_arch": {}, "compared_methods": []}
    chosen = min(per_arch, key=lambda a: per_arch[a]["mean_frechet_distance"])
    return {"rule": RULE if common else RULE + " (none is: each architecture's own runs)",
            "chosen_arch": chosen, "per_arch": per_arch, "compared_methods": common}


def not_built(arch, method) -> str:
    return f"not trained yet:\nrun `dvc repro {gc.train_stage(arch, method)}`"


def loss_figure(arch, methods, window):
    histories, notes = {}, {}
    for method in methods:
        path = Path(gc.history_path(arch, method))
        histories[method] = pd.read_csv(path) if path.exists() else None
        notes[method] = not_built(arch, method)
    return loss_panels(histories, METHOD_NAMES, f"{arch} architecture: losses per generator iteration", window,
                       notes)


def real_images(labels, per_label, seed) -> torch.Tensor:
    """per_label test images of each label, drawn with `seed` (label-major order)."""
    x, y = data.load_pixels(require("data/raw", "download"), "test")
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(y == label), per_label, replace=False) for label in labels]
    return torch.from_numpy(x[np.concatenate(picks)])


def samples_figure(arch, cfg, rule_text):
    labels = torch.tensor(cfg["labels"]).repeat_interleave(cfg["per_label"])
    rows, notes = {}, {}
    for method in cfg["methods"]:
        name = METHOD_NAMES[method]
        notes[name] = not_built(arch, method).replace("\n", " ")
        if not Path(gc.model_path(arch, method)).exists():
            rows[name] = None
            continue
        _, g, _ = gc.load_gan(arch, method)  # the loader `genstudy generate` uses (weights_only)
        # The same noise for every method (same seed, same z_dim): like-for-like samples.
        rows[name] = nets.sample(g, labels, torch.Generator().manual_seed(cfg["seed"]))
    rows["real (test set)"] = real_images(cfg["labels"], cfg["per_label"], cfg["seed"])
    names = [cfg["names"][i] for i in cfg["labels"]]
    return label_comparison(rows, names, cfg["per_label"],
                            f"{arch} architecture: generated vs real\n(the better one by {rule_text})", notes)


@main
def run():
    p = Params.load()
    dataset = dataset_name(p)
    cfg = read_params(p)
    torch.set_num_threads(1)  # small models: one thread is as fast and gives the same bits everywhere
    scores = evaluated(cfg["archs"], cfg["methods"])
    choice = choose_arch(cfg["archs"], cfg["methods"], scores)
    with tracking.stage_run("gan_figures", {"report": {k: cfg[k] for k in ("labels", "per_label", "seed", "window")},
                                            "gan": {"matrix": {"arch": cfg["archs"], "method": cfg["methods"]}}},
                            dataset):
        import mlflow

        written = []
        for arch in cfg["archs"]:
            path = OUT / f"losses_{arch}.png"
            save_figure(loss_figure(arch, cfg["methods"], cfg["window"]), path, dpi=100)
            written.append(path)
        if choice["chosen_arch"] is not None:
            means = ", ".join(f"{a} {v['mean_frechet_distance']:.2f}" for a, v in choice["per_arch"].items())
            path = OUT / "two_labels.png"
            save_figure(samples_figure(choice["chosen_arch"], cfg, f"mean Fréchet distance: {means}"), path, dpi=100)
            written.append(path)
        missing = [stage_name("evaluate_gan", a, m) for a in cfg["archs"] for m in cfg["methods"]
                   if m not in scores.get(a, {})]
        write_json(SUMMARY, {**choice, "labels": [cfg["names"][i] for i in cfg["labels"]],
                             "images_per_label": cfg["per_label"], "seed": cfg["seed"],
                             "figures": [str(w) for w in written], "runs_not_evaluated": missing})
        for path in written:
            mlflow.log_artifact(str(path), "figures")
        mlflow.log_artifact(SUMMARY)
    print(f"better architecture: {choice['chosen_arch']} ({choice['rule']}); not evaluated yet: "
          f"{', '.join(missing) or 'none'}")


if __name__ == "__main__":
    run()
