"""Best-of-rounds timing and the command line shared by the step benches."""

import argparse
import time


def best_ms_per_call(step, calls: int, repeats: int) -> float:
    """Milliseconds per call of step(), the best of `repeats` rounds of `calls` calls after one warm-up round."""
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(calls):
            step()
        best = min(best, (time.perf_counter() - start) / calls)
    return 1000 * best


def step_args(doc: str, steps: int):
    """--steps (calls per round) and --repeats (rounds) of a step bench."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def torch_line() -> str:
    """The torch build, its thread count and its CPU kernels: what a step time depends on."""
    import torch

    return f"torch {torch.__version__}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}"
