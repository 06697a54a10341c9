"""Sample quality per CPU second: short GAN trainings that change one default at a time.

    nice python bench/compare_gan.py [--arch dcgan] [--method wgan_gp] [--iterations 300]
                                     [--variants defaults ac_g_0.1 no_ac no_ema paper_lr] [--json out.json]

Each variant trains `--iterations` generator iterations from the params.yaml defaults with
one change (same seed, same data), then the trained judge scores 200 samples per class:
judge accuracy against the conditioning labels, Frechet distance on the judge's features
and diversity. The reference set is 10,000 *training* images, never the test set: this
comparison chooses defaults, so it must not look at the images the study is scored on.
Wall seconds per variant are measured in the same run, so the table reads as quality per
CPU second. Needs `dvc repro train_judge` first.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genstudy import data, judge  # noqa: E402
from genstudy.gan import nets  # noqa: E402
from genstudy.gan import train as gan_train  # noqa: E402
from genstudy.gan.config import TrainConfig  # noqa: E402
from genstudy.io import load_model  # noqa: E402
from genstudy.pipeline import params, paths  # noqa: E402

# One change each, relative to params.yaml (keys of TrainConfig).
VARIANTS = {
    "defaults": {},
    "ac_g_0.1": {"ac_weight_generator": 0.1},  # the official conditional code's weight
    "ac_g_0.5": {"ac_weight_generator": 0.5},  # WGAN-GP's default weight
    "no_ac": {"ac_weight_generator": 0.0, "ac_weight_critic": 0.0},  # projection conditioning only
    "no_ema": {"ema_decay": 0.0},  # samples from G itself
    "paper_lr": {"lr": 1e-4},  # the paper's WGAN-GP learning rate
    "batch_64": {"batch_size": 64},  # the calibration run's batch
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="dcgan")
    parser.add_argument("--method", default="wgan_gp")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    p = params.load()
    arch = p.gan.architectures[args.arch]
    generator, critic = arch.generator.dump(), arch.critic.dump()
    base = TrainConfig.from_params(args.method, p.gan.methods[args.method], p.gan.train)
    x, y = data.load_pixels(paths.RAW, "train")
    model = load_model(judge.Judge, paths.JUDGE_MODEL, paths.target("train_judge"))
    held = np.random.default_rng(0).choice(len(x), 10_000, replace=False)
    reference = judge.Reference(model, x[held], y[held])
    labels = torch.arange(nets.N_CLASSES).repeat_interleave(args.per_class)

    rows = []
    for name in args.variants:
        failure = base.failure.model_copy(update={"warmup": args.iterations + 1})  # score every run as it is
        change = {"iterations": args.iterations, "grid_every": args.iterations, "log_every": args.iterations}
        cfg = dataclasses.replace(base, **VARIANTS[name], **change, failure=failure)
        start = time.perf_counter()
        result = gan_train.train(torch.from_numpy(x), torch.from_numpy(y), generator, critic, cfg, progress=False)
        seconds = time.perf_counter() - start
        samples = nets.sample(result.generator, labels, torch.Generator().manual_seed(1234))
        scores = judge.report(model, samples, labels.numpy(), reference)
        rows.append(
            {
                "variant": name,
                "change": json.dumps(VARIANTS[name]) if VARIANTS[name] else "-",
                "seconds": round(seconds, 1),
                "judge_accuracy": round(scores["judge_accuracy"], 4),
                "frechet_distance": round(scores["frechet_distance"], 2),
                "diversity": round(scores["diversity"], 3),
            }
        )
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)

    table = pd.DataFrame(rows)
    print(
        f"\n{args.arch}-{args.method}, {args.iterations} generator iterations each, "
        f"{args.per_class} samples per class, reference: 10,000 training images\n"
    )
    print(table.to_markdown(index=False))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"arch": args.arch, "method": args.method, "iterations": args.iterations, "rows": rows}, indent=2
            )
        )


if __name__ == "__main__":
    main()
