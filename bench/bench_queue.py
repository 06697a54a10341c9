"""Four queued experiments of the quick profile through DVC's queue, at -j 1 and at -j 2.

    python bench/bench_queue.py [--target m1_table] [--jobs 1 2]

Each experiment is the quick profile's overrides plus its own vae.free_bits, forced (`dvc exp run
-f`) so that every stage up to the target runs again rather than being restored from the cache.
For each jobs count the four are queued, then `make queue JOBS=N` starts the workers (OMP_NUM_THREADS
= cores / N each); the time is from that start until `dvc queue status` shows all four finished.
The experiments are removed afterwards; their MLflow runs stay, tagged with their names.
Run it in a committed checkout with the study's data in the DVC cache, on an otherwise idle machine.
"""

import argparse
import subprocess
import sys
import time
from subprocess import DEVNULL

FREE_BITS = (0.5, 1.0, 3.0, 4.0)  # the study's own 2.0 left out: each one a change


def sh(*args, check=True) -> str:
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def states(names) -> dict:
    rows = {}
    for line in sh("dvc", "queue", "status").splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] in names:
            rows[words[1]] = words[-1]
    return rows


def run_queue(jobs: int, target: str, overrides: list[str]) -> float:
    names = [f"bench-j{jobs}-fb{bits}".replace(".", "_") for bits in FREE_BITS]
    for name, bits in zip(names, FREE_BITS):
        sh("dvc", "exp", "run", "--queue", "-f", "-n", name, *overrides, "-S", f"vae.free_bits={bits}", target)
    start = time.perf_counter()
    # Not captured: the detached workers keep inherited pipes open until they exit.
    subprocess.run(
        ["make", "--no-print-directory", "queue", f"JOBS={jobs}"], stdout=DEVNULL, stderr=DEVNULL, check=True
    )
    while True:
        now = states(names)
        if all(now.get(name) in ("Success", "Failed") for name in names):
            break
        time.sleep(2)
    seconds = time.perf_counter() - start
    failed = [name for name in names if now[name] != "Success"]
    if failed:
        sys.exit(f"-j {jobs}: {failed} failed; see `dvc queue logs NAME`")
    sh("dvc", "exp", "remove", *names)
    # The next count starts its own workers, with their own thread share: stop these first.
    sh("dvc", "queue", "stop")
    while "Worker status: 0 active, 0 idle" not in sh("dvc", "queue", "status"):
        time.sleep(2)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="m1_table", help="the stage each experiment runs up to")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    overrides = sh(sys.executable, "-m", "genstudy.profile", "quick").split()
    times = {}
    for jobs in args.jobs:
        times[jobs] = run_queue(jobs, args.target, overrides)
        print(f"-j {jobs}: four experiments up to {args.target} in {times[jobs]:.0f} s", flush=True)
    if 1 in times:
        for jobs, seconds in times.items():
            print(f"-j {jobs}: {seconds / times[1]:.2f} of -j 1's wall time")


if __name__ == "__main__":
    main()
