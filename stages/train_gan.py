"""Stage `train_gan@ARCH-METHOD`: one class-conditional GAN (architecture preset x objective).

Outputs models/gan/ARCH-METHOD.pt (G with EMA weights, D, their configs),
metrics/gan/train/ARCH-METHOD.json (attempts, failure causes, final losses),
metrics/gan/history/ARCH-METHOD.csv (one row per generator iteration) and
reports/figures/gan/ARCH-METHOD/ (fixed-noise grids, one row per class; loss curves).
A killed run resumes from checkpoints/gan/ARCH-METHOD.pt when the stage runs again.

MLflow: per-iteration metrics (a restarted attempt's under `attemptK.`), the grids,
the metrics file, and G and D as models.
"""

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from genstudy import data, tracking
from genstudy.gan import METHODS
from genstudy.gan import train as gan_train
from genstudy.io import atomic_path, save_figure, save_torch, write_json
from genstudy.plots import curves, image_grid
from stages import gan_common as gc
from stages.common import Params, dataset_name, main, require, stage_name


class SamplerForMlflow(nn.Module):
    """G behind one float input, as MLflow models take: (B, z_dim + 1) = noise, then the class index."""

    def __init__(self, g):
        super().__init__()
        self.g = g

    def forward(self, inputs):
        return self.g(inputs[:, :-1], inputs[:, -1].long()).flatten(1)                  # (B, 784)


class CriticForMlflow(nn.Module):
    """D behind one float input: (B, 784 + 1) = pixels, then the class index -> critic value (B,)."""

    def __init__(self, d):
        super().__init__()
        self.d = d

    def forward(self, inputs):
        return self.d(inputs[:, :-1], inputs[:, -1].long())[0]


def log_rows(client, run_id, rows, attempt):
    from mlflow.entities import Metric

    prefix = "" if attempt == 1 else f"attempt{attempt}."
    now = int(time.time() * 1000)
    metrics = [Metric(prefix + k, float(v), now, int(r["iteration"])) for r in rows for k, v in r.items()
               if k != "iteration"]
    for i in range(0, len(metrics), 1000):  # MLflow's limit per batch
        client.log_batch(run_id, metrics=metrics[i:i + 1000], synchronous=True)


def weights(result: gan_train.Result, arch: str, method: str, dataset: str, names: list, ema: bool) -> dict:
    """models/gan/ARCH-METHOD.pt: state dicts and plain configs, loadable with weights_only=True."""
    return {"generator_config": result.generator.config(), "generator": result.generator.state_dict(),
            "critic_config": result.critic.config(), "critic": result.critic.state_dict(),
            "arch": arch, "method": method, "dataset": dataset, "class_names": names, "seed": result.seed,
            "ema": ema}


def summary(result: gan_train.Result, cfg: dict, arch: str, method: str) -> dict:
    history = pd.DataFrame(result.history)
    tail = history.tail(max(1, len(history) // 10))  # the last 10% of iterations
    return {"arch": arch, "method": method, "iterations": cfg["iterations"], "seed": result.seed,
            # Every attempt the checks flagged, the last one too if it was kept for want of seeds.
            "failed_attempts": len(result.failures),
            "attempts": 1 + sum(f["action"] == "restarted" for f in result.failures),
            "converged": result.converged, "failures": result.failures,
            "final": {k: round(float(tail[k].mean()), 5) for k in tail.columns if k != "iteration"}}


@main
def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--method", required=True, choices=METHODS)
    args = parser.parse_args(argv)
    p = Params.load()
    dataset = dataset_name(p)
    generator, critic = gc.architecture(p, args.arch)
    cfg = gc.train_config(p, args.method)
    device = gc.device(p)
    x, y = data.load_pixels(require("data/raw", "download"), "train")
    names = data.class_names(dataset)
    name = stage_name("train_gan", args.arch, args.method)
    figures = Path(gc.FIGURES) / gc.run_name(args.arch, args.method)
    checkpoint = Path(gc.checkpoint_path(args.arch, args.method))

    with tracking.stage_run(name, {"gan": {"arch": args.arch, "method": args.method, "generator": generator,
                                           "critic": critic, "train": cfg, "device": device}}, dataset) as mlrun:
        import mlflow

        client = mlflow.MlflowClient()

        def on_grid(iteration, images):
            path = figures / f"grid_{iteration:06d}.png"
            save_figure(image_grid(images, nrow=10, row_labels=names,
                                   title=f"{name}: iteration {iteration} (fixed noise per column)"), path, dpi=100)
            mlflow.log_artifact(str(path), "grids")

        start = time.time()
        try:
            result = gan_train.train(torch.from_numpy(x), torch.from_numpy(y), generator, critic,
                                     gan_train.TrainConfig(**cfg), checkpoint=checkpoint,
                                     on_rows=lambda rows, attempt: log_rows(client, mlrun.info.run_id, rows, attempt),
                                     on_grid=on_grid, device=device)
        except gan_train.TrainingFailed as e:
            raise SystemExit(f"error: {name}: {e}. Fix: lower gan.methods.{args.method}.lr or raise "
                             "gan.train.failure.max_attempts in params.yaml")
        seconds = time.time() - start

        save_torch(weights(result, args.arch, args.method, dataset, names, cfg["ema_decay"] > 0),
                   gc.model_path(args.arch, args.method))
        history = pd.DataFrame(result.history)
        with atomic_path(gc.history_path(args.arch, args.method)) as tmp:
            history.to_csv(tmp, index=False, float_format="%.5g")
        record = summary(result, cfg, args.arch, args.method)
        write_json(gc.train_record_path(args.arch, args.method), record)
        losses = [k for k in ("d_loss", "g_loss", "wasserstein", "gradient_penalty") if k in history]
        save_figure(curves(history, "iteration", losses, f"{name}: losses per generator iteration", "loss"),
                    figures / "losses.png", dpi=100)

        mlflow.log_artifact(str(figures / "losses.png"))
        mlflow.log_artifact(gc.train_record_path(args.arch, args.method))
        mlflow.log_metrics({"failed_attempts": record["failed_attempts"], "train_seconds": seconds,
                            "seconds_per_iteration": seconds / cfg["iterations"]})
        g_in = torch.cat([torch.randn(4, cfg["z_dim"]), torch.arange(4.0)[:, None]], 1)
        d_in = torch.cat([torch.from_numpy(x[:4]), torch.from_numpy(y[:4]).float()[:, None]], 1)
        requirements = [f"torch=={torch.__version__}"]
        mlflow.pytorch.log_model(SamplerForMlflow(result.generator).eval(), name="generator",
                                 input_example=g_in.numpy(), pip_requirements=requirements)
        mlflow.pytorch.log_model(CriticForMlflow(result.critic).eval(), name="critic",
                                 input_example=d_in.numpy(), pip_requirements=requirements)
    checkpoint.unlink(missing_ok=True)  # the outputs are written: a rerun must start afresh
    print(f"{name}: {cfg['iterations']} generator iterations in {seconds:.0f} s, "
          f"{record['failed_attempts']} failed attempt(s), final seed {result.seed}")


if __name__ == "__main__":
    run()
