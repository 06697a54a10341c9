"""A GAN training's state: networks, optimizers, EMA, RNG and history; saved as a checkpoint, resumed exactly.

Every random draw of the loop comes from the one torch.Generator held here, whose state the
checkpoint saves, so a killed run resumes to bit-identical final weights on CPU.
"""

import copy
import json
from dataclasses import asdict
from pathlib import Path

import torch

from genstudy.gan import nets, objectives
from genstudy.gan.config import TrainConfig


class State:
    """Everything a checkpoint holds: enough to continue exactly where training stopped."""

    def __init__(self, g, d, g_ema, opt_g, opt_d, rng, attempt, seed, failures):
        self.g, self.d, self.g_ema, self.opt_g, self.opt_d, self.rng = g, d, g_ema, opt_g, opt_d, rng
        self.attempt, self.seed, self.failures = attempt, seed, failures
        self.iteration, self.history, self.grids, self.strikes, self.kept = 0, [], {}, 0, False
        self.snapshots, self.seconds = {}, 0.0  # the sampled generator at every grid; the attempt's clock

    def to_dict(self, fingerprint: str) -> dict:
        return {
            "fingerprint": fingerprint,
            "attempt": self.attempt,
            "seed": self.seed,
            "failures": self.failures,
            "iteration": self.iteration,
            "history": self.history,
            "grids": self.grids,
            "snapshots": self.snapshots,
            "seconds": self.seconds,
            "strikes": self.strikes,
            "kept": self.kept,
            "rng": self.rng.get_state(),
            "generator": self.g.state_dict(),
            "critic": self.d.state_dict(),
            "ema": self.g_ema.state_dict() if self.g_ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }


def make_optimizer(params, cfg: TrainConfig):
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.RMSprop(params, lr=cfg.lr)


def fresh_state(
    generator_arch: dict, critic_arch: dict, cfg: TrainConfig, attempt: int, failures: list, device: str = "cpu"
) -> State:
    seed = cfg.seed + attempt
    # Initial weights from the attempt's seed, without touching the caller's global RNG; built on
    # the CPU so that a seed gives the same initial weights on every device.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g, d = nets.build(
            generator_arch, critic_arch, cfg.z_dim, gradient_penalty=cfg.method == "wgan_gp", projection=cfg.projection
        )
    g, d = g.to(device), d.to(device)
    if cfg.method == "wgan":
        objectives.clip_weights(d.critic_parameters(), cfg.clip)  # the first critic step already sees a clipped f
    g_ema = copy.deepcopy(g).requires_grad_(False) if cfg.ema_decay > 0 else None
    opt_g = make_optimizer(g.parameters(), cfg)
    opt_d = make_optimizer(d.parameters(), cfg)
    return State(g, d, g_ema, opt_g, opt_d, torch.Generator().manual_seed(seed), attempt, seed, failures)


def load_state(
    path: Path, generator_arch: dict, critic_arch: dict, cfg: TrainConfig, fingerprint: str, device: str = "cpu"
):
    """The checkpoint's state, or None if it was written for other params or data."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("fingerprint") != fingerprint:
        return None
    state = fresh_state(generator_arch, critic_arch, cfg, ckpt["attempt"], ckpt["failures"], device)
    state.g.load_state_dict(ckpt["generator"])
    state.d.load_state_dict(ckpt["critic"])
    if state.g_ema is not None:
        state.g_ema.load_state_dict(ckpt["ema"])
    state.opt_g.load_state_dict(ckpt["opt_g"])
    state.opt_d.load_state_dict(ckpt["opt_d"])
    state.rng.set_state(ckpt["rng"])
    state.iteration, state.history, state.grids = ckpt["iteration"], ckpt["history"], ckpt["grids"]
    state.strikes, state.kept = ckpt["strikes"], ckpt["kept"]
    state.snapshots, state.seconds = ckpt["snapshots"], ckpt["seconds"]
    return state


def fingerprint_of(generator_arch: dict, critic_arch: dict, cfg: TrainConfig, x, y) -> str:
    """What a checkpoint must have been written for: every setting and a summary of the data."""
    return json.dumps(
        {
            "generator": generator_arch,
            "critic": critic_arch,
            "cfg": asdict(cfg),
            "data": [len(x), float(x.double().sum()), int(y.sum())],
        },
        sort_keys=True,
        default=str,
    )
