"""`python -m stages.profile NAME`: the `-S key=value` overrides of profiles/NAME.yaml for `dvc exp run`.

A profile is a flat map of dotted params.yaml keys to values; every key must
already exist in params.yaml, so a typo fails here instead of being ignored.
"""

import json
import sys
from pathlib import Path

import yaml

from stages.common import Params, StageError, main


def overrides(name: str, params: Params) -> list[str]:
    path = Path("profiles") / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in Path("profiles").glob("*.yaml")))
        raise StageError(f"no profile {name!r}: {path} does not exist; known profiles: {known}")
    profile = yaml.safe_load(path.read_text()) or {}
    args = []
    for key, value in profile.items():
        params.get(key)  # refuses keys that params.yaml does not have
        text = json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict, bool)) else str(value)
        args += ["-S", f"{key}={text}"]
    return args


@main
def run(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise StageError("usage: python -m stages.profile NAME (a file profiles/NAME.yaml)")
    print(" ".join(overrides(argv[0], Params.load())))


if __name__ == "__main__":
    run()
