"""Stage `encode`: posterior means mu(x) of the trained VAE for every train and test image."""

import numpy as np

from genstudy import data, tracking, vae
from genstudy.features import active_units
from genstudy.io import atomic_path
from stages.common import Params, dataset_name, main
from stages.m1_common import images, load_vae

OUT = "data/features/m1.npz"


@main
def run():
    dataset = dataset_name(Params.load())
    model = load_vae()
    train_x, _ = images("train")
    test_x, _ = images("test")
    with tracking.stage_run("encode", {"features": "posterior means"}, dataset):
        import mlflow

        train_means = vae.encode_means(model, train_x).numpy()
        test_means = vae.encode_means(model, test_x).numpy()
        with atomic_path(OUT) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, train=train_means, test=test_means)
        active = int(active_units(train_means).sum())
        mlflow.log_metrics({"active_units": active, "latent_dim": train_means.shape[1]})
    print(f"{OUT}: {train_means.shape[0]} train and {test_means.shape[0]} test means, "
          f"{active} of {train_means.shape[1]} dimensions active")


if __name__ == "__main__":
    run()
