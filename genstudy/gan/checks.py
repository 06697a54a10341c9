"""Failed-convergence checks: cheap tests of the loss window and of a small probe of samples.

NaN/Inf losses fail at once; after a warm-up, at every check: a DCGAN discriminator that
saturates (mean D(G(z)) tiny) while G's loss climbs, a critic loss that blows up, samples that
collapse (little spread within a class compared with real images), or the critic's own
classifier putting most samples in one class.

These run during training on the raw generator, in pixel space: cheap enough to abort an attempt early,
but speckle noise passes there for diversity, and the reported samples come from the EMA generator.
So the verdict that counts is `genstudy.gan.verdict`, taken at the end of training by evaluate_gan on the
reported samples in the judge's features, against real training images.
"""

import torch

from genstudy.gan import nets
from genstudy.gan.config import FailureChecks, TrainConfig
from genstudy.gan.state import State


class Diverged(Exception):
    def __init__(self, iteration: int, cause: str):
        super().__init__(f"iteration {iteration}: {cause}")
        self.iteration, self.cause = iteration, cause


def within_class_spread(x, y, n_classes: int = nets.N_CLASSES) -> float:
    """Mean pairwise L2 distance between images of the same label, averaged over labels."""
    x = x.reshape(len(x), -1)
    spreads = []
    for c in range(n_classes):
        members = x[y == c]
        if len(members) > 1:
            d = torch.cdist(members, members)
            spreads.append(d.sum() / (len(members) * (len(members) - 1)))
    return float(torch.stack(spreads).mean()) if spreads else 0.0


def check_window(rows: list, method: str, f: FailureChecks) -> str | None:
    """The loss-based failure checks on the last 2 * check_every rows; the cause, or None."""
    recent, earlier = rows[-f.check_every :], rows[-2 * f.check_every : -f.check_every]
    mean = lambda rs, key: sum(r[key] for r in rs) / len(rs)  # noqa: E731
    blown = sum(abs(r["d_loss"]) for r in recent) / len(recent)
    if blown > f.critic_loss_limit:
        return f"critic loss blew up: mean |critic loss| {blown:.3g} > {f.critic_loss_limit:g}"
    if method == "dcgan" and earlier:
        p, g_now, g_before = mean(recent, "d_fake_prob"), mean(recent, "g_loss"), mean(earlier, "g_loss")
        if p < f.saturation_prob and g_now > g_before:
            return (
                f"discriminator saturated: mean D(G(z)) {p:.4f} < {f.saturation_prob:g} while the generator "
                f"loss climbed from {g_before:.3f} to {g_now:.3f}"
            )
    return None


@torch.no_grad()
def probe(state: State, cfg: TrainConfig, real, real_labels, real_spread: float, iteration: int) -> str | None:
    """The sample-based collapse checks on a small class-balanced probe; the cause, or None.

    The critic's classifier is a witness only once it classifies the real probe images
    well: early on (and for long with a clipped critic) it puts most of anything in one
    class. The noise comes from its own generator, so probing never changes the training run.
    """
    f = cfg.failure
    g, d = state.g.eval(), state.d.eval()
    device = real.device
    try:
        rng = torch.Generator().manual_seed(state.seed * 1_000_003 + iteration)
        y = torch.arange(g.n_classes, device=device).repeat_interleave(f.probe_per_class)
        x = g(torch.randn(len(y), g.z_dim, generator=rng).to(device), y)
        diversity = within_class_spread(x, y) / real_spread
        if diversity < f.min_diversity:
            return f"mode collapse: within-class spread {diversity:.3f} of the real images' < {f.min_diversity:g}"
        if cfg.ac_weight_critic > 0:
            competence = (d(real, real_labels)[1].argmax(1) == real_labels).float().mean().item()
            share = torch.bincount(d(x, y)[1].argmax(1), minlength=g.n_classes).max().item() / len(y)
            if competence >= f.min_classifier_accuracy and share > f.max_class_fraction:
                return (
                    f"mode collapse: the critic's classifier ({competence:.0%} right on real images) puts "
                    f"{share:.0%} of class-balanced samples in one class (> {f.max_class_fraction:.0%})"
                )
        return None
    finally:
        g.train()
        d.train()
