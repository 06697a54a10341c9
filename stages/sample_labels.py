"""Stage `sample_labels@N-SEED`: the indices of N labelled training images, N/10 per class."""

import argparse

import numpy as np
import pandas as pd

from genstudy import data
from genstudy.io import atomic_path
from genstudy.pipeline import params, paths, tracking
from genstudy.pipeline.stage import StageError, main, require


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, required=True, help="number of labelled images")
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    dataset = params.load().data.dataset
    _, labels = data.load_split(require(paths.RAW, "download"), "train")
    try:
        indices = data.balanced_subset(labels, args.n, args.seed)
    except ValueError as e:
        raise StageError(f"labels.counts / labels.seeds in params.yaml: {e}") from None
    table = pd.DataFrame({"index": indices, "label": labels[indices]})
    out = paths.labels(args.n, args.seed)
    with tracking.stage_run(
        paths.stage_name("sample_labels", args.n, args.seed),
        {"labels": {"n": args.n, "seed": args.seed}},
        dataset,
        inputs={f"labels-n{args.n}-seed{args.seed}": out},  # logged at the run's end, once written
    ):
        import mlflow

        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
        per_class = np.bincount(table["label"], minlength=10)
        mlflow.log_metric("min_per_class", int(per_class.min()))
        mlflow.log_metric("max_per_class", int(per_class.max()))
        mlflow.log_artifact(out)
    print(f"{out}: {len(table)} images, {per_class.min()}..{per_class.max()} per class")


if __name__ == "__main__":
    run()
