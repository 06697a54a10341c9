"""What one GAN training takes: the method's settings and the shared ones, built from the params schema.

The values come from params.yaml (genstudy.schema: gan.methods.<method>, gan.train); there are no
defaults here. FailureChecks is the schema's model of gan.train.failure.
"""

from dataclasses import dataclass

from genstudy.gan import METHODS
from genstudy.schema import FailureChecks

__all__ = ["FailureChecks", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    method: str  # dcgan | wgan | wgan_gp
    iterations: int  # generator iterations
    critic_steps: int
    optimizer: str  # adam | rmsprop
    lr: float
    betas: tuple | None  # adam only
    clip: float | None  # wgan only
    gp_weight: float | None  # wgan_gp only
    batch_size: int
    z_dim: int
    seed: int
    ema_decay: float  # 0 disables the EMA
    ac_weight_critic: float  # 0 disables the auxiliary classifier terms
    ac_weight_generator: float
    projection: bool
    grid_every: int
    log_every: int
    checkpoint_every: int
    failure: FailureChecks
    standing_samples: int = 4000  # samples that re-estimate the EMA generator's batch-norm statistics

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown GAN method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose adam or rmsprop")
        if self.betas is not None:
            object.__setattr__(self, "betas", tuple(self.betas))

    @classmethod
    def from_params(cls, method: str, m, t, **overrides) -> "TrainConfig":
        """From gan.methods.<method> (m) and gan.train (t): schema models, or the stages' recording views
        of them, read key by key so that each key a training uses is on record."""
        failure = t.failure
        values = dict(
            method=method,
            iterations=m.iterations,
            critic_steps=m.critic_steps,
            optimizer=m.optimizer,
            lr=m.lr,
            betas=m.betas,
            clip=getattr(m, "clip", None),
            gp_weight=getattr(m, "gp_weight", None),
            ac_weight_critic=m.ac_weight_critic,
            ac_weight_generator=m.ac_weight_generator,
            batch_size=t.batch_size,
            z_dim=t.z_dim,
            seed=t.seed,
            ema_decay=t.ema_decay,
            projection=t.projection,
            grid_every=t.grid_every,
            log_every=t.log_every,
            checkpoint_every=t.checkpoint_every,
            failure=getattr(failure, "whole", lambda: failure)(),
        )
        return cls(**(values | overrides))
