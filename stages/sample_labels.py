"""Stage `sample_labels@N-SEED`: the indices of N labelled training images, N/10 per class.

Its work takes milliseconds, so it imports neither pandas nor MLflow: its MLflow run is written
as a pending run and logged by the next stage (genstudy.pipeline.deferred).
"""

import argparse

import numpy as np

from genstudy import data
from genstudy.io import atomic_path
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import StageError, main, require


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, required=True, help="number of labelled images")
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    dataset = params.load().data.dataset
    labels = data.read_idx(require(paths.RAW, "download") / data.FILES["train_labels"]).astype(np.int64)
    try:
        indices = data.balanced_subset(labels, args.n, args.seed)
    except ValueError as e:
        raise StageError(f"labels.counts / labels.seeds in params.yaml: {e}") from None
    out = paths.labels(args.n, args.seed)
    with deferred_stage_run(
        paths.stage_name("sample_labels", args.n, args.seed),
        {"labels": {"n": args.n, "seed": args.seed}},
        dataset,
        inputs={f"labels-n{args.n}-seed{args.seed}": out},  # read at the run's end, once written
    ) as mlrun:
        with atomic_path(out) as tmp:
            table = np.column_stack([indices, labels[indices]])
            np.savetxt(tmp, table, fmt="%d", delimiter=",", header="index,label", comments="")
        per_class = np.bincount(labels[indices], minlength=10)
        mlrun.log_metric("min_per_class", int(per_class.min()))
        mlrun.log_metric("max_per_class", int(per_class.max()))
        mlrun.log_artifact(out)
    print(f"{out}: {len(indices)} images, {per_class.min()}..{per_class.max()} per class")


if __name__ == "__main__":
    run()
