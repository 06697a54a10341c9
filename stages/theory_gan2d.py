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

from genstudy.io import atomic_path, save_figure, write_json
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import StageError, main
from genstudy.theory import gan2d, gan2d_figure
from genstudy.theory.ot import wasserstein

FIGURE, METRICS, TABLE = paths.theory("gan2d")


def load_target(path) -> gan2d.Mixture:
    try:
        return gan2d.Mixture.from_csv(path)
    except FileNotFoundError:
        raise StageError(f"theory.gan2d.target: {path} not found; point it at a CSV of x,y,std,weight rows") from None
    except ValueError as e:
        raise StageError(f"theory.gan2d.target: {e}") from None


@main
def run():
    cfg = params.load().theory.gan2d.dump()
    target = load_target(cfg["target"])
    torch.set_num_threads(1)  # tiny matrices: more threads only add synchronisation
    # The noise floor of the criterion: W1 between two independent real samples of eval_size.
    floor = wasserstein(
        target.sample(cfg["eval_size"], torch.Generator().manual_seed(cfg["seed"] + 1)),
        target.sample(cfg["eval_size"], torch.Generator().manual_seed(cfg["seed"] + 2)),
    )
    threshold = cfg["w1_threshold_factor"] * floor
    torch.manual_seed(cfg["seed"])
    model = gan2d.GAN2D(cfg["z_dim"], cfg["hidden"], cfg["depth"])
    with deferred_stage_run("theory_gan2d", {"theory": {"gan2d": cfg}}) as mlrun:
        start = time.time()
        losses, evaluations, snapshots = gan2d.train(
            model,
            target,
            **{
                k: cfg[k]
                for k in ("epochs", "batch_size", "lr", "beta1", "seed", "eval_every", "eval_size", "snapshot_epochs")
            },
            on_eval=lambda row: mlrun.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"]),
        )
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
            "criterion": (
                f"W1(generated, real) <= {cfg['w1_threshold_factor']:g} x W1(real, real') and all "
                f"{len(target)} modes covered (>= half the expected share of {cfg['eval_size']} generated "
                "points within 3 std of the mode's centre), at this and every later evaluation"
            ),
            "w1_floor": floor,
            "w1_threshold": threshold,
            "n_modes": len(target),
            "final": {k: final[k] for k in ("w1", "modes_covered", "near_fraction", "d_loss", "g_loss")},
            "best_w1": min(r["w1"] for r in evaluations),
            "snapshot_epochs": [s["epoch"] for s in snapshots],
        }
        write_json(METRICS, summary)
        save_figure(gan2d_figure.figure(snapshots, losses, evaluations, threshold, floor), FIGURE, dpi=110)
        mlrun.log_metrics(
            {"train_seconds": seconds, "w1_threshold": threshold, "converged": float(result["converged"])}
            | ({"converged_epoch": result["converged_epoch"]} if result["converged_epoch"] is not None else {})
        )
        for path in (FIGURE, METRICS, TABLE):
            mlrun.log_artifact(path)
    print(
        f"2-D GAN: W1 {final['w1']:.3f} (threshold {threshold:.3f}), {final['modes_covered']}/{len(target)} modes; "
        f"converged: {result['converged']} since epoch {result['converged_epoch']}; {seconds:.0f} s"
    )


if __name__ == "__main__":
    run()
