"""Best-of-rounds timing shared by the step benches."""

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
