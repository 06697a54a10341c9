"""Stage `train_vae`: M1's VAE on all training images, without labels.

Outputs models/vae.pt, metrics/vae.json, metrics/vae_history.csv (ELBO curves)
and figures in reports/figures/vae/; the MLflow run has the same plus the model.
"""

import time

import pandas as pd
import torch

from genstudy import data, tracking, vae
from genstudy.io import atomic_path, save_figure, save_torch, write_json
from genstudy.plots import curves, image_grid, latent_map, reconstructions
from stages.common import Params, dataset_name, main
from stages.m1_common import VAE_PATH, images

FIGURES = "reports/figures/vae"


def read_params(p: Params) -> dict:
    return {
        "hidden": p.int("vae.hidden"),
        "z_dim": p.int("vae.z_dim"),
        "epochs": p.int("vae.epochs"),
        "batch_size": p.int("vae.batch_size"),
        "lr": p.float("vae.lr"),
        "weight_decay": p.float("vae.weight_decay", inclusive=True),
        "kl_warmup_epochs": p.int("vae.kl_warmup_epochs", minimum=0),
        "free_bits": p.float("vae.free_bits", inclusive=True),
        "lr_schedule": p.choice("vae.lr_schedule", vae.LR_SCHEDULES),
        "seed": p.int("vae.seed", minimum=0),
    }


@main
def run():
    p = Params.load()
    dataset = dataset_name(p)
    cfg = read_params(p)
    train_x, _ = images("train")
    test_x, test_y = images("test")
    torch.manual_seed(cfg["seed"])
    model = vae.VAE(784, cfg["hidden"], cfg["z_dim"])
    with tracking.stage_run("train_vae", {"vae": cfg}, dataset):
        import mlflow

        start = time.time()
        history = vae.train(model, train_x, test_x, **{k: cfg[k] for k in (
            "epochs", "batch_size", "lr", "seed", "weight_decay", "kl_warmup_epochs", "free_bits", "lr_schedule")},
            on_epoch=lambda row: mlflow.log_metrics(
                {k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"]))
        seconds = time.time() - start

        save_torch({"config": model.config(), "state_dict": model.state_dict()}, VAE_PATH)
        history = pd.DataFrame(history)
        with atomic_path("metrics/vae_history.csv") as tmp:
            history.to_csv(tmp, index=False, float_format="%.4f")
        last = history.iloc[-1]
        summary = {"train_elbo": float(last.train_elbo), "test_elbo": float(last.test_elbo),
                   "test_kl": float(last.test_kl), "active_units": int(last.test_active_units),
                   "epochs": cfg["epochs"]}
        write_json("metrics/vae.json", summary)

        g = torch.Generator().manual_seed(cfg["seed"])
        means = vae.encode_means(model, test_x)
        recon = torch.sigmoid(model.decoder(means)).detach()
        figures = {
            "elbo.png": curves(history, "epoch", ["train_elbo", "test_elbo"], "VAE evidence lower bound",
                               "ELBO (nats per image)"),
            "reconstructions.png": reconstructions(test_x, recon),
            "samples.png": image_grid(vae.sample(model, 100, g), nrow=10, title="samples from the prior"),
            "latent_map.png": latent_map(means.numpy(), test_y, data.class_names(dataset)),
        }
        for name, fig in figures.items():
            save_figure(fig, f"{FIGURES}/{name}", dpi=110)
        mlflow.log_artifacts(FIGURES, "figures")
        mlflow.log_metrics({"final_" + k: v for k, v in summary.items()} | {"train_seconds": seconds})
        mlflow.log_artifact("metrics/vae_history.csv")
        mlflow.pytorch.log_model(model, name="vae", input_example=test_x[:4].numpy(),
                                 pip_requirements=[f"torch=={torch.__version__}"])
    print(f"VAE: test ELBO {summary['test_elbo']:.2f} nats, {summary['active_units']} active units, "
          f"{seconds:.0f} s")


if __name__ == "__main__":
    run()
