"""`python -m genstudy.profile NAME`: the `-S key=value` overrides of profiles/NAME.yaml for `dvc exp run`.

A profile is a flat map of dotted params.yaml keys to values. The params with the profile applied
are validated by the schema here, so a misspelt key or a bad value fails before any stage runs.
"""

import copy
import json
import sys
from pathlib import Path

from genstudy.pipeline import params
from genstudy.pipeline.stage import StageError, main


def overrides(name: str, base: dict, directory: Path = Path("profiles")) -> list[str]:
    path = directory / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        raise StageError(f"no profile {name!r}: {path} does not exist; known profiles: {known}")
    profile = params.read_yaml(path)
    merged, args = copy.deepcopy(base), []
    for key, value in profile.items():
        node, *parents = merged, *key.split(".")[:-1]
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise StageError(f"{path}: {key} is not a key of params.yaml")
            node = node[part]
        leaf = key.split(".")[-1]
        if leaf not in node:
            raise StageError(f"{path}: {key} is not a key of params.yaml")
        node[leaf] = value
        text = json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict, bool)) else str(value)
        args += ["-S", f"{key}={text}"]
    params.validate(merged, f"params.yaml with {path}")
    return args


@main
def run(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise StageError("usage: python -m genstudy.profile NAME (a file profiles/NAME.yaml)")
    print(" ".join(overrides(argv[0], params.read_yaml(params.PARAMS_FILE))))


if __name__ == "__main__":
    run()
