"""Stage `evaluate_gan@ARCH-METHOD`: the judge's scores of one trained GAN.

Draws gan.evaluation.per_class samples per class from the trained G and writes
metrics/gan/ARCH-METHOD.json: judge_accuracy (against the conditioning labels), per-class
accuracy, frechet_distance (judge features, against the test set), diversity, and the
failed_attempts recorded by train_gan; plus reports/figures/gan/samples/ARCH-METHOD.png.
"""

import argparse
import json

import numpy as np
import torch

from genstudy import data, judge, tracking
from genstudy.gan import METHODS, nets
from genstudy.io import save_figure, write_json
from genstudy.plots import image_grid
from stages import gan_common as gc
from stages.common import Params, dataset_name, main, require, stage_name


def sample_grid_path(arch, method):
    return f"{gc.FIGURES}/samples/{gc.run_name(arch, method)}.png"


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--method", required=True, choices=METHODS)
    args = parser.parse_args(argv)
    p = Params.load()
    dataset = dataset_name(p)
    ev = gc.evaluation(p)
    name = stage_name("evaluate_gan", args.arch, args.method)
    checkpoint, g, _ = gc.load_gan(args.arch, args.method)
    with open(require(gc.train_record_path(args.arch, args.method), gc.train_stage(args.arch, args.method))) as f:
        record = json.load(f)
    model = gc.load_judge()
    test_x, test_y = data.load_pixels(require("data/raw", "download"), "test")
    names = data.class_names(dataset)

    with tracking.stage_run(name, {"evaluation": ev, "arch": args.arch, "method": args.method}, dataset):
        import mlflow

        reference = judge.Reference(model, test_x, test_y)
        labels = torch.arange(g.n_classes).repeat_interleave(ev["per_class"])
        samples = nets.sample(g, labels, torch.Generator().manual_seed(ev["seed"]))
        result = judge.report(model, samples, labels.numpy(), reference, names)
        result.update({"arch": args.arch, "method": args.method, "failed_attempts": record["failed_attempts"],
                       "converged": record["converged"], "seed": checkpoint["seed"]})
        write_json(gc.metrics_path(args.arch, args.method), result)

        # Ten samples of every class, in the same noise order for every row.
        show = torch.cat([samples[c * ev["per_class"]:c * ev["per_class"] + 10] for c in range(g.n_classes)])
        save_figure(image_grid(show, nrow=10, row_labels=names,
                               title=f"{name}: judge accuracy {result['judge_accuracy']:.3f}, "
                                     f"Frechet distance {result['frechet_distance']:.2f}"),
                    sample_grid_path(args.arch, args.method), dpi=100)
        mlflow.log_metrics({k: result[k] for k in ("judge_accuracy", "frechet_distance", "diversity",
                                                   "failed_attempts", "predicted_class_max_share")})
        mlflow.log_metrics({f"accuracy.{k.replace('/', '_')}": v for k, v in result["per_class_accuracy"].items()
                            if np.isfinite(v)})
        mlflow.log_artifact(gc.metrics_path(args.arch, args.method))
        mlflow.log_artifact(sample_grid_path(args.arch, args.method))
    print(f"{name}: judge accuracy {result['judge_accuracy']:.4f}, Frechet distance "
          f"{result['frechet_distance']:.3f}, diversity {result['diversity']:.3f}, "
          f"failed attempts {result['failed_attempts']}")


if __name__ == "__main__":
    run()
