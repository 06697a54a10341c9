"""Stage `theory_gan2d`: a GAN Lab-style GAN on a 2-D mixture drawn in a CSV file.

Trains two small MLPs for `epochs` epochs (one epoch = one discriminator step and one
generator step), measures convergence by the exact W1 distance to real samples and by mode
coverage, and draws the discriminator's output, the samples and the generator's gradient
field at a few epochs. Outputs metrics/theory/gan2d.json, metrics/theory/gan2d_history.csv
(one row per evaluation) and reports/figures/theory/gan2d.png.
"""

import time

import pandas as pd
import torch

from genstudy import tracking
from genstudy.io import atomic_path, save_figure, write_json
from genstudy.theory import gan2d
from genstudy.theory.ot import wasserstein
from stages.common import Params, StageError, main

FIGURE = "reports/figures/theory/gan2d.png"
METRICS = "metrics/theory/gan2d.json"
TABLE = "metrics/theory/gan2d_history.csv"


def read_params(p: Params) -> dict:
    key = "theory.gan2d"
    epoch = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
    cfg = {
        "target": p.get(f"{key}.target"),
        "epochs": p.int(f"{key}.epochs"),
        "batch_size": p.int(f"{key}.batch_size"),
        "z_dim": p.int(f"{key}.z_dim"),
        "hidden": p.int(f"{key}.hidden"),
        "depth": p.int(f"{key}.depth"),
        "lr": p.float(f"{key}.lr"),
        "beta1": p.float(f"{key}.beta1", inclusive=True),
        "eval_every": p.int(f"{key}.eval_every"),
        "eval_size": p.int(f"{key}.eval_size", minimum=10),
        "snapshot_epochs": sorted(set(p.list(f"{key}.snapshot_epochs", epoch, nonempty=False))),
        "w1_threshold_factor": p.float(f"{key}.w1_threshold_factor"),
        "seed": p.int(f"{key}.seed", minimum=0),
    }
    if cfg["beta1"] >= 1:
        raise p.bad(f"{key}.beta1", cfg["beta1"], "it must be in [0, 1)")
    late = [e for e in cfg["snapshot_epochs"] if e >= cfg["epochs"]]
    if late:
        raise p.bad(f"{key}.snapshot_epochs", cfg["snapshot_epochs"],
                    f"every epoch must be below epochs = {cfg['epochs']} (the final epoch is always drawn)")
    return cfg


def load_target(path) -> gan2d.Mixture:
    try:
        return gan2d.Mixture.from_csv(path)
    except FileNotFoundError:
        raise StageError(f"theory.gan2d.target: {path} not found; point it at a CSV of x,y,std,weight rows") from None
    except ValueError as e:
        raise StageError(f"theory.gan2d.target: {e}") from None


@main
def run():
    cfg = read_params(Params.load())
    target = load_target(cfg["target"])
    torch.set_num_threads(1)          # tiny matrices: more threads only add synchronisation
    # The noise floor of the criterion: W1 between two independent real samples of eval_size.
    floor = wasserstein(target.sample(cfg["eval_size"], torch.Generator().manual_seed(cfg["seed"] + 1)),
                        target.sample(cfg["eval_size"], torch.Generator().manual_seed(cfg["seed"] + 2)))
    threshold = cfg["w1_threshold_factor"] * floor
    torch.manual_seed(cfg["seed"])
    model = gan2d.GAN2D(cfg["z_dim"], cfg["hidden"], cfg["depth"])
    with tracking.stage_run("theory_gan2d", {"theory": {"gan2d": cfg}}):
        import mlflow

        start = time.time()
        losses, evaluations, snapshots = gan2d.train(
            model, target, **{k: cfg[k] for k in ("epochs", "batch_size", "lr", "beta1", "seed", "eval_every",
                                                  "eval_size", "snapshot_epochs")},
            on_eval=lambda row: mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"},
                                                   step=row["epoch"]))
        seconds = time.time() - start
        result = gan2d.convergence(evaluations, threshold, len(target))
        history = pd.DataFrame(evaluations)
        with atomic_path(TABLE) as tmp:
            history.to_csv(tmp, index=False, float_format="%.5g")
        final = evaluations[-1]
        summary = result | {
            "epochs": cfg["epochs"],
            "epoch_definition": f"one discriminator step then one generator step, each on a fresh batch of "
                                f"{cfg['batch_size']} real points and noise vectors",
            "criterion": (f"W1(generated, real) <= {cfg['w1_threshold_factor']:g} x W1(real, real') and all "
                          f"{len(target)} modes covered (>= half the expected share of {cfg['eval_size']} generated "
                          "points within 3 std of the mode's centre), at this and every later evaluation"),
            "w1_floor": floor, "w1_threshold": threshold, "n_modes": len(target),
            "final": {k: final[k] for k in ("w1", "modes_covered", "near_fraction", "d_loss", "g_loss")},
            "best_w1": min(r["w1"] for r in evaluations),
            "snapshot_epochs": [s["epoch"] for s in snapshots],
        }
        write_json(METRICS, summary)
        save_figure(gan2d.figure(snapshots, losses, evaluations, threshold, floor), FIGURE, dpi=110)
        mlflow.log_metrics({"train_seconds": seconds, "w1_threshold": threshold,
                            "converged": float(result["converged"])}
                           | ({"converged_epoch": result["converged_epoch"]} if result["converged_epoch"] is not None
                              else {}))
        for path in (FIGURE, METRICS, TABLE):
            mlflow.log_artifact(path)
    print(f"2-D GAN: W1 {final['w1']:.3f} (threshold {threshold:.3f}), {final['modes_covered']}/{len(target)} modes; "
          f"converged: {result['converged']} since epoch {result['converged_epoch']}; {seconds:.0f} s")


if __name__ == "__main__":
    run()
