"""Push the run-cache with everything a stage needs to be restored elsewhere: `make push`.

    python tools/push_run_cache.py [--remote NAME] [--jobs N]

`dvc push --run-cache` sends the run-cache entries (.dvc/cache/runs) and the cached outputs of the
workspace's stages, but not the outputs kept in git (`cache: false`: the run records, figures and
curves). DVC copies those into the local cache when it saves a run, and each entry names them, so a
clone that finds the entry but not the copies cannot restore the stage and runs it again. This
sends, after `dvc push --run-cache`, every object that a local run-cache entry names: a stage run on
one machine is then restored by `dvc repro --pull` on any other.

Problems are reported as one line, `error: ... Fix: ...`, with exit status 2.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def run_cache_entries(runs: Path) -> list[tuple[str, str]]:
    """(stage key, entry) of every run-cache entry under `runs` (runs/KEY[:2]/KEY/ENTRY)."""
    return sorted((p.parent.name, p.name) for p in runs.glob("*/*/*") if p.is_file())


def push_entry_objects(remote: str | None, jobs: int | None) -> tuple[int, int, int]:
    """Push every object that a local run-cache entry names. Returns (entries, objects sent, failed)."""
    from dvc.repo import Repo

    with Repo() as repo:
        entries = run_cache_entries(Path(repo.cache.legacy.path) / "runs")
        used = repo.stage_cache.get_used_objs(entries)  # every output of each entry, as if cached
        objs = set().union(*used.values()) if used else set()
        result = repo.cloud.push(objs, jobs=jobs, remote=remote)
    return len(entries), len(result.transferred), len(result.failed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-r", "--remote", help="DVC remote (default: the core.remote of .dvc/config)")
    parser.add_argument("-j", "--jobs", type=int, help="parallel transfers (default: DVC's)")
    args = parser.parse_args(argv)

    command = ["dvc", "push", "--run-cache"] + (["--remote", args.remote] if args.remote else [])
    command += ["--jobs", str(args.jobs)] if args.jobs else []
    if subprocess.run(command).returncode != 0:
        print(f"error: `{' '.join(command)}` failed (above). Fix: `dvc remote list` names a remote", file=sys.stderr)
        return 2
    from dvc.exceptions import DvcException

    try:
        entries, sent, failed = push_entry_objects(args.remote, args.jobs)
    except DvcException as e:
        print(f"error: pushing the run-cache's outputs failed: {e}. Fix: check the remote's access", file=sys.stderr)
        return 2
    print(f"{entries} run-cache entries: {sent} more objects pushed (outputs kept in git)")
    if failed:
        print(f"error: {failed} objects failed to push. Fix: check the remote and rerun `make push`", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
