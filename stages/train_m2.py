"""Stage `train_m2@FEATURES-N-SEED`: M2 (FEATURES `pixels`) or M1 + M2 (`m1`) on N labels, the rest unlabelled.

Labelled: the images of sample_labels@N-SEED. Validation: m2.validation.size training images outside
every labelled subset, which choose the epoch. Unlabelled: every other training image. The test
images are scored once, with the chosen epoch's classifier q(y|x).
"""

import argparse

import numpy as np
import pandas as pd

from genstudy import data, m2
from genstudy.io import atomic_path, save_torch, write_json
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import StageError, main, require
from genstudy.schema import M2_FEATURES


def m1_inputs(train_x, test_x, standardize: bool):
    """z1 of M1's VAE: (train means, train posterior stds, test means, active columns, shift, scale)."""
    import torch

    from genstudy.features import active_units
    from genstudy.io import load_model
    from genstudy.vae import VAE

    model = load_model(VAE, require(paths.VAE_MODEL, "train_vae"), paths.target("train_vae")).eval()
    with torch.no_grad():
        mean, logvar = (torch.cat(t) for t in zip(*(model.encode(b) for b in torch.split(train_x, 5000))))
        test = torch.cat([model.encode(b)[0] for b in torch.split(test_x, 5000)])
    columns = torch.from_numpy(np.flatnonzero(active_units(mean.numpy())))
    if not len(columns):
        raise StageError("the VAE has no active latent dimension (std of mean > 0.1); retrain the VAE")
    mean, std, test = mean[:, columns], torch.exp(0.5 * logvar[:, columns]), test[:, columns]
    shift = mean.mean(0) if standardize else torch.zeros(len(columns))
    scale = mean.std(0) if standardize else torch.ones(len(columns))
    return (mean - shift) / scale, std / scale, (test - shift) / scale, columns, shift, scale


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", choices=M2_FEATURES, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    p = params.load()
    dataset, c = p.data.dataset, p.m2
    import torch

    labels_file = paths.labels(args.n, args.seed)
    labelled = pd.read_csv(require(labels_file, paths.stage_name("sample_labels", args.n, args.seed)))
    raw = require(paths.RAW, "download")
    train_x, train_y = data.load_pixels(raw, "train")
    test_x, test_y = data.load_pixels(raw, "test")
    idx = labelled["index"].to_numpy().copy()  # writable, for torch
    if not np.array_equal(train_y[idx], labelled["label"].to_numpy()):
        raise StageError(
            f"{labels_file} does not match data/raw's labels; "
            f"run `{paths.repro(paths.stage_name('sample_labels', args.n, args.seed))}`"
        )
    try:
        valid = m2.validation_split(train_y, p.labels.counts, p.labels.seeds, c.validation.size, c.validation.seed)
    except ValueError as e:
        raise StageError(f"{e}; lower m2.validation.size in params.yaml") from None
    if np.intersect1d(valid, idx).size:
        raise StageError(
            f"{labels_file} is not one of labels.counts x labels.seeds; run `{paths.repro('sample_labels')}`"
        )
    unlabelled = np.setdiff1d(np.arange(len(train_y)), np.concatenate([idx, valid]))

    train_x, test_x = torch.from_numpy(train_x), torch.from_numpy(test_x)
    extra = {}
    if args.features == "m1":
        mean, std, test, columns, shift, scale = m1_inputs(train_x, test_x, c.standardize)
        extra = {"columns": columns, "shift": shift, "scale": scale}
        if c.z1 == "means":
            std = None
    else:
        mean, std, test = train_x, None, test_x
    y = torch.from_numpy(train_y).long()
    seed = c.seed + args.seed
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    likelihood = "gaussian" if args.features == "m1" else "bernoulli"
    model = m2.M2(mean.shape[1], c.hidden, c.z_dim, likelihood)
    name = paths.stage_name("train_m2", args.features, args.n, args.seed)
    cfg = c.dump()
    del cfg["features"]
    with deferred_stage_run(
        name,
        {"m2": cfg, "labels": {"n": args.n, "seed": args.seed}, "features": args.features},
        dataset,
        inputs={f"labels-n{args.n}-seed{args.seed}": labels_file},
    ) as mlrun:
        history, best_state = m2.train(
            model,
            mean,
            std,
            y,
            torch.from_numpy(idx),
            torch.from_numpy(unlabelled),
            mean[torch.from_numpy(valid)],
            y[torch.from_numpy(valid)],
            epochs=c.epochs,
            batch_unlabelled=c.batch_unlabelled,
            batch_labelled=c.batch_labelled,
            lr=c.lr,
            alpha=c.alpha,
            generator=generator,
            lr_schedule=c.lr_schedule,
        )
        model.load_state_dict(best_state)
        best = max(history, key=lambda r: (r["valid_accuracy"], -r["epoch"]))
        accuracy = float((m2.predict(model, test) == torch.from_numpy(test_y)).double().mean())
        mlrun.log_step_rows(history, "epoch")
        save_torch(
            {"config": model.config(), "state_dict": model.state_dict(), **extra},
            paths.m2_model(args.features, args.n, args.seed),
        )
        with atomic_path(paths.m2_history(args.features, args.n, args.seed)) as tmp:
            pd.DataFrame(history).to_csv(tmp, index=False)
        result = {
            "features": args.features,
            "n": args.n,
            "seed": args.seed,
            "accuracy": round(accuracy, 4),
            "error": round(100 * (1 - accuracy), 2),
            "epoch": best["epoch"],
            "valid_accuracy": round(best["valid_accuracy"], 4),
            "labelled": len(idx),
            "unlabelled": len(unlabelled),
            "validation": len(valid),
        }
        write_json(paths.m2_metrics(args.features, args.n, args.seed), result)
        mlrun.log_metrics(
            {"test_accuracy": accuracy, "best_epoch": best["epoch"], "valid_accuracy": best["valid_accuracy"]}
        )
    print(
        f"{name}: test accuracy {accuracy:.4f} (epoch {best['epoch']} of {c.epochs}, "
        f"validation {best['valid_accuracy']:.4f}; {len(idx)} labelled, {len(unlabelled)} unlabelled)"
    )


if __name__ == "__main__":
    run()
