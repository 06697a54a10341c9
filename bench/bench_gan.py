"""Generator iterations per second of every GAN run at the default params, against this machine's FLOP bound.

    nice python bench/bench_gan.py [--iterations 6] [--arch dcgan] [--method wgan_gp] [--json out.json]
                                   [--channels-last]

For each architecture x method of params.yaml's gan.matrix, at its default sizes:
- FLOPs of one generator iteration (critic steps, penalty and generator step), counted
  with torch's FLOP formulas for matmuls and convolutions;
- seconds per generator iteration of the real loop (genstudy.gan.train.train) on real-size
  random images, the first iterations dropped as warm-up;
- the matmul reference: GFLOP/s of a 1024 x 1024 float32 matmul, measured right before
  each run, so that both numbers see the same load on a shared machine;
- ratio = achieved GFLOP/s / matmul GFLOP/s: the fraction of the FLOP bound the loop reaches,
  and the bound itself in iterations per second;
- the time the configured number of iterations would take at the measured speed.

--channels-last also times the loop with both networks in channels-last layout (oneDNN's preferred
one on CPUs; the judge trains in it), right after the default layout, and prints the ratio.
"""

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dataclasses  # noqa: E402

from genstudy.gan import nets  # noqa: E402
from genstudy.gan import train as gan_train  # noqa: E402
from genstudy.gan.config import TrainConfig  # noqa: E402
from genstudy.pipeline import params, paths  # noqa: E402


class FlopCount(TorchDispatchMode):
    """Counts FLOPs of every op with a registered formula (as FlopCounterMode, without its module
    hooks, which the penalty's autograd.grad(create_graph=True) does not support)."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        rule = flop_registry.get(func._overloadpacket)
        if rule is not None:
            self.flops += rule(*args, **kwargs, out_val=out)
        return out


def matmul_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def data(n: int = 2000):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 784, generator=g), torch.arange(n) % 10


def flops_per_iteration(generator, critic, cfg) -> float:
    """FLOPs of generator iteration 2 of 3 (the last one also draws the sample grid)."""
    x, y = data()
    counter, marks = FlopCount(), []
    cfg = dataclasses.replace(cfg, iterations=3, log_every=1, grid_every=10**9)
    with counter:
        gan_train.train(
            x, y, generator, critic, cfg, on_rows=lambda rows, a: marks.append(counter.flops), progress=False
        )
    return marks[1] - marks[0]


@contextlib.contextmanager
def channels_last():
    """Every network the loop builds, in channels-last layout (a bench-only switch: the pipeline
    trains in the default layout, and a layout change moves every GAN's numbers)."""
    build = nets.build

    def build_channels_last(*args, **kwargs):
        return tuple(net.to(memory_format=torch.channels_last) for net in build(*args, **kwargs))

    nets.build = build_channels_last
    try:
        yield
    finally:
        nets.build = build


def seconds_per_iteration(generator, critic, cfg, iterations: int, warmup: int) -> float:
    x, y = data()
    stamps = []
    cfg = dataclasses.replace(cfg, iterations=iterations + warmup + 1, log_every=1, grid_every=10**9)
    gan_train.train(
        x, y, generator, critic, cfg, on_rows=lambda rows, a: stamps.append(time.perf_counter()), progress=False
    )
    steps = [b - a for a, b in zip(stamps[warmup:-2], stamps[warmup + 1 : -1])]  # the last one draws the grid
    return statistics.median(steps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=6, help="timed iterations per run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--arch", action="append", help="only these architectures (repeatable)")
    parser.add_argument("--method", action="append", help="only these methods (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--channels-last", action="store_true", help="also time both nets in channels-last layout")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    p = params.load(str(Path(__file__).resolve().parents[1] / "params.yaml"))
    archs = args.arch or p.gan.matrix.arch
    methods = args.method or p.gan.matrix.method
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"{'run':<16} {'GFLOP/it':>9} {'s/it':>7} {'it/s':>7} {'GFLOP/s':>8} {'matmul':>8} {'ratio':>6} "
        f"{'bound it/s':>10} {'iters':>6} {'est. min':>8}"
    )
    results, total = [], 0.0
    for arch in archs:
        generator, critic = p.gan.architectures[arch].generator.dump(), p.gan.architectures[arch].critic.dump()
        for method in methods:
            cfg = TrainConfig.from_params(method, p.gan.methods[method], p.gan.train)
            gflop = flops_per_iteration(generator, critic, cfg) / 1e9
            reference = matmul_gflops()
            s = seconds_per_iteration(generator, critic, cfg, args.iterations, args.warmup)
            if args.channels_last:
                with channels_last():
                    s_cl = seconds_per_iteration(generator, critic, cfg, args.iterations, args.warmup)
            reference = (reference + matmul_gflops()) / 2  # before and after: the load may change
            row = {
                "run": paths.gan_run(arch, method),
                "gflop_per_iteration": gflop,
                "seconds_per_iteration": s,
                "iterations_per_second": 1 / s,
                "achieved_gflops": gflop / s,
                "matmul_gflops": reference,
                "ratio_to_flop_bound": gflop / s / reference,
                "bound_iterations_per_second": reference / gflop,
                "iterations": cfg.iterations,
                "estimated_minutes": cfg.iterations * s / 60,
            }
            if args.channels_last:
                row["channels_last_seconds_per_iteration"] = s_cl
                row["channels_last_time_ratio"] = s_cl / s
            total += row["estimated_minutes"]
            results.append(row)
            print(
                f"{row['run']:<16} {gflop:9.2f} {s:7.3f} {1 / s:7.2f} {gflop / s:8.1f} {reference:8.1f} "
                f"{row['ratio_to_flop_bound']:6.2f} {row['bound_iterations_per_second']:10.2f} "
                f"{cfg.iterations:6d} {row['estimated_minutes']:8.1f}"
                + (f"   channels-last {s_cl:.3f} s/it ({s_cl / s:.2f}x)" if args.channels_last else ""),
                flush=True,
            )
    print(f"estimated training time of these runs at the measured speeds: {total:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "estimated_total_minutes": total}, indent=2) + "\n")


if __name__ == "__main__":
    main()
