"""Stage `evaluate_gan@ARCH-METHOD`: the judge's scores of one trained GAN.

Draws gan.evaluation.per_class samples per class from the trained G and writes
metrics/gan/ARCH-METHOD.json: judge_accuracy (against the conditioning labels), per-class
accuracy, frechet_distance (judge features, against the test set), diversity, gan_train_accuracy
(Shmelkov et al. 2018: a classifier built as the judge, trained on the samples alone for
gan.evaluation.gan_train_epochs and tested on the real test set; gan_reference trains it on as many
real images), and the
failed_attempts and converged verdict; plus reports/figures/gan/samples/ARCH-METHOD.png.

The verdict adds an end-of-training check to train_gan's: the reported samples' judge-feature
diversity against as many real training images (never the test set) must reach
gan.evaluation.min_diversity. A run that fails it counts its last attempt as failed too.

The quality curve: every snapshot of the training scored on gan.evaluation.curve_per_class
samples per class (fixed noise and labels), in metrics/gan/curves/ARCH-METHOD.csv and as MLflow
step metrics curve_frechet_distance, curve_judge_accuracy and curve_train_seconds (step = iteration).
"""

import argparse
import json

import numpy as np
import torch

from genstudy import curves, data, judge
from genstudy.gan import METHODS, nets, verdict
from genstudy.gan import checkpoint as gan_checkpoint
from genstudy.io import atomic_path, load_model, save_figure, write_json
from genstudy.pipeline import loaders, params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import main, require
from genstudy.plots import image_grid


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--method", required=True, choices=METHODS)
    args = parser.parse_args(argv)
    p = params.load()
    dataset = p.data.dataset
    ev = p.gan.evaluation.dump()
    judge_cfg = p.judge.dump()
    name = paths.stage_name("evaluate_gan", args.arch, args.method)
    train_stage = paths.stage_name("train_gan", args.arch, args.method)
    checkpoint, g, _ = gan_checkpoint.load(require(paths.gan_model(args.arch, args.method), train_stage))
    _, snapshots = gan_checkpoint.load_snapshots(require(paths.gan_snapshots(args.arch, args.method), train_stage))
    record_path = paths.gan_train_record(args.arch, args.method)
    with open(require(record_path, train_stage)) as f:
        record = json.load(f)
    model = load_model(judge.Judge, require(paths.JUDGE_MODEL, "train_judge"), paths.target("train_judge"))
    test_x, test_y = loaders.pixels("test")
    names = data.class_names(dataset)
    metrics, grid = paths.gan_metrics(args.arch, args.method), paths.gan_samples_grid(args.arch, args.method)

    logged = {"evaluation": ev, "judge": judge_cfg, "arch": args.arch, "method": args.method}
    with deferred_stage_run(name, logged, dataset) as mlrun:
        reference = judge.Reference(model, test_x, test_y)
        labels = torch.arange(g.n_classes).repeat_interleave(ev["per_class"])
        samples = nets.sample(g, labels, torch.Generator().manual_seed(ev["seed"]))
        result = judge.report(model, samples, labels.numpy(), reference, names)
        train_x, train_y = loaders.pixels("train")
        chosen = np.random.default_rng(ev["seed"]).permutation(len(train_x))[: len(labels)]
        diversity_train = judge.diversity(result, judge.Reference(model, train_x[chosen], train_y[chosen]))
        cause = verdict.final_check(diversity_train, ev["min_diversity"])
        final = {"diversity_train": diversity_train, "min_diversity": ev["min_diversity"], "cause": cause}
        # GAN-train: a fresh judge-like classifier trained on these samples alone, tested on real images.
        gan_train_cfg = {**judge_cfg, "epochs": ev["gan_train_epochs"]}
        result["gan_train_accuracy"] = judge.trained_accuracy(samples, labels.numpy(), test_x, test_y, gan_train_cfg)
        result.update(
            {
                "arch": args.arch,
                "method": args.method,
                # A last attempt that trained to the end but fails the final check is one more failure.
                "failed_attempts": record["failed_attempts"] + int(cause is not None and record["converged"]),
                "converged": record["converged"] and cause is None,
                "final_check": final,
                "seed": checkpoint["seed"],
            }
        )
        write_json(metrics, result)

        # Ten samples of every class, in the same noise order for every row.
        show = torch.cat([samples[c * ev["per_class"] : c * ev["per_class"] + 10] for c in range(g.n_classes)])
        save_figure(
            image_grid(
                show,
                nrow=10,
                row_labels=names,
                title=f"{name}: judge accuracy {result['judge_accuracy']:.3f}, "
                f"Frechet distance {result['frechet_distance']:.2f}",
            ),
            grid,
            dpi=100,
        )
        mlrun.log_metrics({"diversity_train": diversity_train})
        mlrun.log_metrics(
            {
                k: float(result[k])
                for k in (
                    "judge_accuracy",
                    "gan_train_accuracy",
                    "frechet_distance",
                    "diversity",
                    "failed_attempts",
                    "converged",
                    "predicted_class_max_share",
                )
            }
        )
        mlrun.log_metrics(
            {f"accuracy.{k.replace('/', '_')}": v for k, v in result["per_class_accuracy"].items() if np.isfinite(v)}
        )
        mlrun.log_artifact(metrics)
        mlrun.log_artifact(grid)

        curve = curves.score(snapshots, model, reference, ev["curve_per_class"], ev["seed"])
        curve_path = paths.gan_curve(args.arch, args.method)
        with atomic_path(curve_path) as tmp:
            curve.to_csv(tmp, index=False, float_format="%.6g")
        steps = curve.rename(columns={"seconds": "train_seconds"})[
            ["iteration", "frechet_distance", "judge_accuracy", "train_seconds"]
        ]
        mlrun.log_step_rows(steps.to_dict("records"), "iteration", "curve_")
        mlrun.log_artifact(curve_path)
    print(
        f"{name}: judge accuracy {result['judge_accuracy']:.4f}, Frechet distance "
        f"{result['frechet_distance']:.3f}, diversity {result['diversity']:.3f}, "
        f"failed attempts {result['failed_attempts']}" + (f"; {cause}" if cause else "")
    )


if __name__ == "__main__":
    run()
