"""Stage `gan_figures`: the GAN figures the report needs, from the trained runs.

Writes, under reports/figures/gan_overview/ (one directory output, so a new architecture in
gan.matrix needs no dvc.yaml edit):
  losses_ARCH.png  one per architecture: a panel per method, critic and generator loss per iteration;
  losses_shared_ARCH.png  the three methods' losses on shared (symlog) axes;
  two_labels.png   the better architecture's samples of the two labels in report.labels, per_label
                   images of each from every method, and as many real test images of each label;
reports/figures/gan/curves/ARCH.png: Fréchet distance against generator iterations and against
wall-clock seconds, a curve per method (Gulrajani et al.'s Figure 3);
and metrics/gan_figures.json: which architecture was chosen, by which rule and which numbers, and
each run's quality curve in brief (final and best Fréchet distance, change over the last quarter).
A run not trained or evaluated yet is drawn as a note naming the stage that makes it; the stage still
succeeds. Deterministic: noise and the real images are drawn from report.seed.
"""

from pathlib import Path

import torch

from genstudy import data
from genstudy.io import save_figure, write_json
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import StageError, main
from genstudy.report.gan_overview import (
    choose_arch,
    curve_figure,
    curve_summary,
    evaluated,
    loss_figure,
    samples_figure,
    shared_loss_figure,
)


def labels(values, names) -> list[int]:
    """report.labels as class indices: names or indices, two different classes."""
    try:
        indices = [data.parse_label(str(v), names) for v in values]
    except ValueError as e:
        indices, problem = None, str(e)
    else:
        problem = None if len(set(indices)) == len(indices) else "the labels must be different classes"
    if problem:
        raise StageError(
            f"params.yaml: report.labels = {values!r} is invalid; {problem}. "
            "Fix: edit report.labels in params.yaml or pass -S report.labels=... to dvc exp run"
        )
    return indices


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    names = data.class_names(dataset)
    r = p.report
    cfg = {"archs": p.gan.matrix.arch, "methods": p.gan.matrix.method, "labels": labels(r.labels, names)}
    cfg |= {"names": names, "per_label": r.images_per_label, "seed": r.seed, "window": r.loss_smoothing}
    torch.set_num_threads(1)  # small models: one thread is as fast and gives the same bits everywhere
    scores = evaluated(cfg["archs"], cfg["methods"])
    choice = choose_arch(cfg["archs"], cfg["methods"], scores)
    logged = {"report": {k: cfg[k] for k in ("labels", "per_label", "seed", "window")}}
    logged["gan"] = {"matrix": {"arch": cfg["archs"], "method": cfg["methods"]}}
    with deferred_stage_run("gan_figures", logged, dataset) as mlrun:
        written = []
        for arch in cfg["archs"]:
            for path, figure in (
                (Path(paths.GAN_OVERVIEW) / f"losses_{arch}.png", loss_figure),
                (Path(paths.GAN_OVERVIEW) / f"losses_shared_{arch}.png", shared_loss_figure),
            ):
                save_figure(figure(arch, cfg["methods"], cfg["window"]), path, dpi=100)
                written.append(path)
            path = Path(paths.GAN_CURVES_FIGURES) / f"{arch}.png"
            save_figure(curve_figure(arch, cfg["methods"]), path, dpi=100)
            written.append(path)
        if choice["chosen_arch"] is not None:
            means = ", ".join(f"{a} {v['mean_frechet_distance']:.2f}" for a, v in choice["per_arch"].items())
            path = Path(paths.GAN_OVERVIEW) / "two_labels.png"
            save_figure(samples_figure(choice["chosen_arch"], cfg, f"mean Fréchet distance: {means}"), path, dpi=100)
            written.append(path)
        runs = [(a, m) for a in cfg["archs"] for m in cfg["methods"]]
        missing = [paths.stage_name("evaluate_gan", a, m) for a, m in runs if m not in scores.get(a, {})]
        summary = {**choice, "labels": [names[i] for i in cfg["labels"]], "images_per_label": cfg["per_label"]}
        summary |= {"seed": cfg["seed"], "figures": [str(w) for w in written], "runs_not_evaluated": missing}
        summary["curves"] = curve_summary(cfg["archs"], cfg["methods"])
        write_json(paths.GAN_OVERVIEW_SUMMARY, summary)
        for path in written:
            mlrun.log_artifact(str(path), "figures")
        mlrun.log_artifact(paths.GAN_OVERVIEW_SUMMARY)
    print(
        f"better architecture: {choice['chosen_arch']} ({choice['rule']}); not evaluated yet: "
        f"{', '.join(missing) or 'none'}"
    )


if __name__ == "__main__":
    run()
