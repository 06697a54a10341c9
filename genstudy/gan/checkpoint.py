"""A trained GAN's file: state dicts plus plain configs, loadable with weights_only=True from anywhere.

models/gan/ARCH-METHOD.pt holds generator_config/generator, critic_config/critic, arch, method,
dataset, class_names, seed, ema and trained_with (the architecture preset and training settings it
was trained with): everything `genstudy generate --checkpoint PATH` needs, and its provenance.
"""

from pathlib import Path

import torch

from genstudy.gan import nets
from genstudy.io import LoadError


class CheckpointError(LoadError):
    """A file that is not a GAN checkpoint written by train_gan."""


def contents(result, arch: str, method: str, dataset: str, class_names: list, ema: bool, trained_with=None) -> dict:
    """What train_gan saves for a genstudy.gan.train.Result; trained_with: plain data (dicts, lists, numbers)."""
    return {
        "generator_config": result.generator.config(),
        "generator": result.generator.state_dict(),
        "critic_config": result.critic.config(),
        "critic": result.critic.state_dict(),
        "arch": arch,
        "method": method,
        "dataset": dataset,
        "class_names": class_names,
        "seed": result.seed,
        "ema": ema,
        "trained_with": trained_with or {},
    }


def snapshots(result, arch: str, method: str) -> dict:
    """What train_gan saves of a Result's snapshots: one generator config, a state dict per iteration."""
    its = sorted(result.snapshots)
    return {
        "generator_config": result.generator.config(),
        "arch": arch,
        "method": method,
        "seed": result.seed,
        "iterations": its,
        "seconds": [float(result.snapshots[i]["seconds"]) for i in its],
        "generators": [result.snapshots[i]["generator"] for i in its],
    }


def load_snapshots(path):
    """(snapshot file dict, [(iteration, seconds, generator in eval mode), ...])."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        out = []
        for it, seconds, weights in zip(saved["iterations"], saved["seconds"], saved["generators"], strict=True):
            g = nets.Generator(**saved["generator_config"])
            g.load_state_dict(weights)
            out.append((it, seconds, g.eval()))
    except Exception as e:  # noqa: BLE001 - unpickling refusals, zip errors, missing keys: all one answer
        raise CheckpointError(
            f"{path} is not a GAN snapshot file written by train_gan ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    return saved, out


def load(path) -> tuple[dict, "nets.Generator", "nets.Critic"]:
    """(checkpoint dict, generator, critic), both networks in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        g, c = nets.from_checkpoint(checkpoint)
    except Exception as e:  # noqa: BLE001 - unpickling refusals, zip errors, missing keys: all one answer
        raise CheckpointError(
            f"{path} is not a GAN checkpoint written by train_gan ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    return checkpoint, g, c


def training_record(result, iterations: int, arch: str, method: str) -> dict:
    """metrics/gan/train/ARCH-METHOD.json: attempts, failure causes, the last 10% of iterations' mean losses."""
    import pandas as pd

    history = pd.DataFrame(result.history)
    tail = history.tail(max(1, len(history) // 10))
    return {
        "arch": arch,
        "method": method,
        "iterations": iterations,
        "seed": result.seed,
        # Every attempt the checks flagged, the last one too if it was kept for want of seeds.
        "failed_attempts": len(result.failures),
        "attempts": 1 + sum(f["action"] == "restarted" for f in result.failures),
        "converged": result.converged,
        "failures": result.failures,
        "final": {k: round(float(tail[k].mean()), 5) for k in tail.columns if k != "iteration"},
    }
