"""Quality against training (Gulrajani et al. 2017, Figure 3): the judge's scores of a GAN's snapshots.

train_gan keeps the sampled generator every gan.train.grid_every iterations with the wall-clock
seconds of training so far; here each snapshot draws the same noise and labels, and the judge
scores them against the test set. The scoring lives outside genstudy.gan on purpose: changing it,
or the judge, reruns evaluate_gan and never a training.
"""

import pandas as pd
import torch

from genstudy import judge
from genstudy.gan import nets

COLUMNS = ["iteration", "seconds", "frechet_distance", "judge_accuracy", "diversity"]


def score(snapshots, model: judge.Judge, reference: judge.Reference, per_class: int, seed: int) -> pd.DataFrame:
    """One row per snapshot [(iteration, seconds, generator), ...]: COLUMNS.

    Every snapshot sees one fixed set of noise vectors and labels (per_class of each class),
    so the curve's steps come from training, not from a new draw.
    """
    rows = []
    for iteration, seconds, g in snapshots:
        labels = torch.arange(g.n_classes).repeat_interleave(per_class)
        samples = nets.sample(g, labels, torch.Generator().manual_seed(seed))
        result = judge.report(model, samples, labels.numpy(), reference)
        rows.append(
            {
                "iteration": int(iteration),
                "seconds": float(seconds),
                "frechet_distance": result["frechet_distance"],
                "judge_accuracy": result["judge_accuracy"],
                "diversity": result["diversity"],
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
