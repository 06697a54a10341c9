"""One training loop for class-conditional DCGAN, WGAN and WGAN-GP.

Per generator iteration: `critic_steps` critic updates, then one generator update.
The loop also
- keeps an exponential moving average (EMA) of G's weights, which is what samples are
  drawn from: it averages out the oscillation of adversarial training and gives cleaner
  samples for free (Yazici et al. 2019);
- adds the AC-GAN class terms when their weights are > 0 (critic: cross-entropy of its
  classifier head on real images; generator: on its own samples);
- keeps a snapshot of the sampled generator (EMA weights, standing statistics) at every grid,
  with the attempt's wall-clock seconds so far: an evaluation stage scores them later
  (quality against iterations and time, the paper's Figure 3) without retraining;
- saves checkpoints (genstudy.gan.state) so that a killed run resumes exactly;
- restarts at the next seed when genstudy.gan.checks flags failed convergence, up to a limit.
"""

import copy
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from genstudy.gan import nets, objectives
from genstudy.gan.checks import Diverged, check_window, probe, within_class_spread
from genstudy.gan.config import FailureChecks, TrainConfig
from genstudy.gan.state import State, fingerprint_of, fresh_state, load_state
from genstudy.io import save_torch

__all__ = ["FailureChecks", "Result", "TrainConfig", "TrainingFailed", "train"]


@dataclass
class Result:
    generator: nets.Generator  # EMA weights (standing BN statistics) when ema_decay > 0, eval mode
    critic: nets.Critic
    history: list  # one dict per generator iteration of the final attempt
    failures: list  # one dict per failed attempt: attempt, seed, iteration, cause, action
    seed: int  # the seed of the attempt that produced the weights
    converged: bool  # False if the last allowed attempt was itself flagged (and kept)
    snapshots: dict  # iteration -> {"seconds": wall-clock of the attempt so far, "generator": state dict}


class TrainingFailed(Exception):
    """Every allowed attempt failed, the last one with non-finite numbers."""

    def __init__(self, failures):
        lines = "; ".join(
            f"attempt {f['attempt']} (seed {f['seed']}) at iteration {f['iteration']}: {f['cause']}" for f in failures
        )
        super().__init__(f"all {len(failures)} attempts failed: {lines}")
        self.failures = failures


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float):
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1 - decay)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)


def standing_stats(g, cfg: TrainConfig, seed: int):
    batch = min(500, cfg.standing_samples)
    nets.standing_stats(g, torch.Generator().manual_seed(seed), max(1, cfg.standing_samples // batch), batch)


@torch.no_grad()
def draw_grid(state: State, cfg: TrainConfig, iteration: int) -> tuple[torch.Tensor, dict]:
    """The fixed-noise, fixed-label grid: row c holds class c, column j noise vector j; uint8 (100, 28, 28).

    Also the state dict (a CPU copy) of the generator that drew it: the snapshot of this iteration.
    """
    g = state.g_ema if state.g_ema is not None else state.g
    if next(g.parameters()).device.type != "cpu":
        # Grids are drawn on the CPU (standing statistics draw their noise there): a copy, so
        # that the model being trained stays where it is.
        g = copy.deepcopy(g).cpu()
    n = g.n_classes
    z = torch.randn(n, cfg.z_dim, generator=torch.Generator().manual_seed(state.seed)).repeat(n, 1)
    y = torch.arange(n).repeat_interleave(n)
    if state.g_ema is not None:
        standing_stats(g, cfg, state.seed * 1_000_003 + iteration)
    g.eval()
    images = g(z, y)
    state.g.train()
    snapshot = {k: v.detach().cpu().clone() for k, v in g.state_dict().items()}
    return (images[:, 0] * 255).round().to(torch.uint8), snapshot


def train(
    images,
    labels,
    generator_arch: dict,
    critic_arch: dict,
    cfg: TrainConfig,
    checkpoint=None,
    on_rows=None,
    on_grid=None,
    progress: bool = True,
    device: str = "cpu",
) -> Result:
    """Train a class-conditional GAN on images (n, 784) or (n, 1, 28, 28) in [0, 1] with labels (n,).

    checkpoint: a path; an existing checkpoint written for the same params and data is
    resumed, one for other params is ignored and overwritten. on_rows(rows, attempt)
    receives the per-iteration metric dicts every log_every iterations (on resume, first
    the rows restored from the checkpoint); on_grid(iteration, images (100, 1, 28, 28))
    the sample grid every grid_every iterations and at the end. device: where the networks
    and the data live ("cpu", "cuda", ...); every random draw still comes from the CPU
    generator, so a seed means the same draws everywhere. The returned networks are on the CPU.
    """
    x_all = torch.as_tensor(images).reshape(-1, 1, 28, 28).float().to(device)
    y_all = torch.as_tensor(labels).long().to(device)
    n, B, f = len(x_all), cfg.batch_size, cfg.failure
    gp, clip, wasserstein = cfg.method == "wgan_gp", cfg.method == "wgan", cfg.method != "dcgan"
    fingerprint = fingerprint_of(generator_arch, critic_arch, cfg, x_all, y_all)
    checkpoint = Path(checkpoint) if checkpoint else None

    # Real images for the collapse checks, the probe's size per class: their spread, the classifier's competence.
    pick = torch.cat([torch.nonzero(y_all == c).flatten()[: f.probe_per_class] for c in range(nets.N_CLASSES)])
    real_spread = within_class_spread(x_all[pick], y_all[pick])

    state = None
    if checkpoint is not None and checkpoint.exists():
        state = load_state(checkpoint, generator_arch, critic_arch, cfg, fingerprint, device)
        tqdm.write(
            f"resuming from {checkpoint} at iteration {state.iteration} (attempt {state.attempt + 1})"
            if state
            else f"ignoring {checkpoint}: written for other params or data"
        )
    if state is None:
        state = fresh_state(generator_arch, critic_arch, cfg, 0, [], device)
    if on_rows and state.history:
        on_rows(list(state.history), state.attempt + 1)
    if on_grid:
        for it, grid in sorted(state.grids.items()):
            on_grid(it, grid[:, None].float() / 255)
    logged = len(state.history)

    while True:
        g, d, g_ema, opt_g, opt_d, rng = state.g, state.d, state.g_ema, state.opt_g, state.opt_d, state.rng
        g.train()
        d.train()
        bar = tqdm(
            range(state.iteration + 1, cfg.iterations + 1),
            initial=state.iteration,
            total=cfg.iterations,
            desc=f"{cfg.method} (seed {state.seed})",
            unit="it",
            disable=not progress,
            leave=False,
        )
        try:
            started = time.perf_counter() - state.seconds  # a resumed attempt keeps its clock
            for it in bar:
                # Critic: critic_steps updates, each on a real batch and fresh fakes drawn with the
                # real batch's labels (so x_hat between them has a label for the penalty too).
                d.requires_grad_(True)
                sums = defaultdict(float)
                for _ in range(cfg.critic_steps):
                    idx = torch.randint(n, (B,), generator=rng).to(device)
                    real, y = x_all[idx], y_all[idx]  # (B, 1, 28, 28), (B,)
                    z = torch.randn(B, cfg.z_dim, generator=rng).to(device)
                    with torch.no_grad():
                        fake = g(z, y)  # (B, 1, 28, 28)
                    real_out, real_logits = d(real, y)  # (B,), (B, 10)
                    fake_out, _ = d(fake, y)
                    adversarial = objectives.critic_loss(cfg.method, real_out, fake_out)
                    loss = adversarial
                    if gp:
                        penalty = objectives.gradient_penalty(lambda v: d(v, y)[0], real, fake, rng)
                        loss = loss + cfg.gp_weight * penalty
                        sums["gradient_penalty"] += penalty.item()
                    if cfg.ac_weight_critic > 0:
                        class_loss = F.cross_entropy(real_logits, y)
                        loss = loss + cfg.ac_weight_critic * class_loss
                        sums["d_class_loss"] += class_loss.item()
                    opt_d.zero_grad(set_to_none=True)
                    loss.backward()
                    opt_d.step()
                    if clip:
                        objectives.clip_weights(d.critic_parameters(), cfg.clip)
                    sums["d_loss"] += adversarial.item()
                    if wasserstein:
                        sums["wasserstein"] += objectives.wasserstein_estimate(real_out, fake_out).item()
                    else:
                        sums["d_real_prob"] += torch.sigmoid(real_out).mean().item()
                        sums["d_fake_prob"] += torch.sigmoid(fake_out).mean().item()

                # Generator: one update against the critic just trained (its weights frozen).
                d.requires_grad_(False)
                y = torch.randint(g.n_classes, (B,), generator=rng).to(device)
                z = torch.randn(B, cfg.z_dim, generator=rng).to(device)
                fake_out, fake_logits = d(g(z, y), y)
                g_loss = objectives.generator_loss(cfg.method, fake_out)
                total = g_loss
                row = {"iteration": it}
                if cfg.ac_weight_generator > 0:
                    g_class = F.cross_entropy(fake_logits, y)
                    total = total + cfg.ac_weight_generator * g_class
                    row["g_class_loss"] = g_class.item()
                opt_g.zero_grad(set_to_none=True)
                total.backward()
                opt_g.step()
                if g_ema is not None:
                    # Ramped decay: early on the average must not remember the random init.
                    ema_update(g_ema, g, min(cfg.ema_decay, (1 + it) / (10 + it)))

                row.update({k: v / cfg.critic_steps for k, v in sums.items()}, g_loss=g_loss.item())
                state.history.append(row)
                state.iteration = it

                bad = [k for k, v in row.items() if not math.isfinite(v)]
                if bad:
                    raise Diverged(it, "non-finite " + ", ".join(f"{k} = {row[k]}" for k in bad))

                if it % cfg.grid_every == 0 or it == cfg.iterations:
                    state.seconds = time.perf_counter() - started
                    state.grids[it], generator = draw_grid(state, cfg, it)
                    state.snapshots[it] = {"seconds": state.seconds, "generator": generator}
                    if on_grid:
                        on_grid(it, state.grids[it][:, None].float() / 255)
                if on_rows and (it % cfg.log_every == 0 or it == cfg.iterations):
                    on_rows(state.history[logged:], state.attempt + 1)
                    logged = len(state.history)
                if it % 10 == 0:
                    bar.set_postfix({k: f"{row[k]:.3f}" for k in ("d_loss", "g_loss", "wasserstein") if k in row})

                if not state.kept and it >= f.warmup and it % f.check_every == 0:
                    cause = check_window(state.history, cfg.method, f) or probe(
                        state, cfg, x_all[pick], y_all[pick], real_spread, it
                    )
                    state.strikes = state.strikes + 1 if cause else 0
                    if cause and state.strikes >= f.patience:
                        raise Diverged(it, cause)
                if checkpoint is not None and it % cfg.checkpoint_every == 0:
                    state.seconds = time.perf_counter() - started
                    save_torch(state.to_dict(fingerprint), checkpoint)
            bar.close()
            break
        except Diverged as e:
            bar.close()
            attempt = state.attempt + 1
            failure = {"attempt": attempt, "seed": state.seed, "iteration": e.iteration, "cause": e.cause}
            finite = not e.cause.startswith("non-finite")
            if attempt >= f.max_attempts and finite:
                # No seed left to try: keep training this one to the end, and say so.
                state.failures = state.failures + [dict(failure, action="kept: attempt limit reached")]
                state.kept, state.strikes = True, 0
                tqdm.write(
                    f"attempt {attempt} (seed {state.seed}) failed at iteration {e.iteration}: {e.cause}; "
                    "attempt limit reached, training it to the end"
                )
                continue
            failures = state.failures + [dict(failure, action="restarted" if attempt < f.max_attempts else "gave up")]
            if attempt >= f.max_attempts:
                raise TrainingFailed(failures) from None
            tqdm.write(
                f"attempt {attempt} (seed {state.seed}) failed at iteration {e.iteration}: {e.cause}; "
                f"restarting with seed {state.seed + 1}"
            )
            state = fresh_state(generator_arch, critic_arch, cfg, attempt, failures, device)
            logged = 0
            if checkpoint is not None:
                save_torch(state.to_dict(fingerprint), checkpoint)

    g_final = (state.g_ema if state.g_ema is not None else state.g).cpu()
    if state.g_ema is not None:
        standing_stats(g_final, cfg, state.seed)
    return Result(
        generator=g_final.eval(),
        critic=state.d.cpu().eval(),
        history=state.history,
        failures=state.failures,
        seed=state.seed,
        converged=not state.kept,
        snapshots=state.snapshots,
    )
