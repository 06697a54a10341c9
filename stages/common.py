"""What every stage shares: params access with clear errors, upstream checks, a clean exit on bad input."""

import functools
import inspect
import math
import sys
from pathlib import Path

import yaml

PARAMS_FILE = "params.yaml"


class StageError(Exception):
    """Bad input to a stage: the message names the key or file, the bad value and the fix."""


class Params:
    """Dotted access to params.yaml that refuses missing keys and bad values by name."""

    def __init__(self, data: dict, file: str = PARAMS_FILE):
        self.data, self.file = data, file

    @classmethod
    def load(cls, file: str = PARAMS_FILE) -> "Params":
        try:
            with open(file) as f:
                return cls(yaml.safe_load(f) or {}, file)
        except FileNotFoundError:
            raise StageError(f"{file} not found: run stages from the repository root") from None
        except yaml.YAMLError as e:
            raise StageError(f"{file} is not valid YAML: {e}") from None

    def get(self, key: str):
        node = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise StageError(f"{self.file}: missing key '{key}'; add it (the README lists every key)")
            node = node[part]
        return node

    def bad(self, key, value, allowed):
        return StageError(f"{self.file}: {key} = {value!r} is invalid; {allowed}. "
                          f"Fix: edit {key} in {self.file} or pass -S {key}=... to dvc exp run")

    def int(self, key, minimum=1):
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.bad(key, value, f"it must be an integer >= {minimum}")
        return value

    def float(self, key, minimum=0.0, inclusive=False):
        value = self.get(key)
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and (value >= minimum if inclusive else value > minimum))
        if not ok:
            raise self.bad(key, value, f"it must be a number {'>=' if inclusive else '>'} {minimum}")
        return float(value)

    def choice(self, key, choices):
        value = self.get(key)
        if value not in choices:
            raise self.bad(key, value, f"allowed values are {', '.join(map(str, choices))}")
        return value

    def bool(self, key):
        value = self.get(key)
        if not isinstance(value, bool):
            raise self.bad(key, value, "it must be true or false")
        return value

    def list(self, key, item_check=None, nonempty=True):
        value = self.get(key)
        if not isinstance(value, list) or (nonempty and not value):
            raise self.bad(key, value, "it must be a non-empty list")
        if item_check:
            for item in value:
                if not item_check(item):
                    raise self.bad(key, value, f"item {item!r} is not allowed")
        return value

    def floats(self, key, minimum=0.0):
        ok = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > minimum  # noqa: E731
        return [float(v) for v in self.list(key, ok)]


def dataset_name(p: Params) -> str:
    """data.dataset: a built-in dataset, or one registered with data.checksums.<name>."""
    from genstudy.data import DATASETS

    value = p.get("data.dataset")
    registered = p.data.get("data", {}).get("checksums") or {}
    if value not in DATASETS and value not in registered:
        raise p.bad("data.dataset", value, f"known datasets are {', '.join(DATASETS)} "
                    "(or register another IDX dataset under data.checksums.<name>)")
    return value


def require(path, stage: str) -> Path:
    """An upstream output this stage reads; a clear error naming the stage that makes it."""
    path = Path(path)
    if not path.exists():
        raise StageError(f"missing upstream output {path}; run `dvc repro {stage}` first")
    return path


def stage_name(base: str, *items) -> str:
    """DVC's name for a matrix/foreach stage item: `base@a-b`."""
    return f"{base}@{'-'.join(map(str, items))}" if items else base


def _module_name() -> str:
    """`stages.encode` for a stage started as `python -m stages.encode`."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return spec.name if spec else Path(sys.argv[0]).stem


def main(func):
    """Run a stage's main(); bad input ends with one clear line and exit status 2, not a traceback."""
    from genstudy.data import DataError

    takes_argv = "argv" in inspect.signature(func).parameters

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if not takes_argv and not args and not kwargs and func.__module__ == "__main__" and sys.argv[1:]:
            # A stage without a command line reads params.yaml alone: `--help` says so instead of
            # running the stage, and a stray argument is refused rather than silently ignored.
            doc = (sys.modules["__main__"].__doc__ or "").strip()
            usage = f"usage: python -m {_module_name()}"
            if sys.argv[1:] in (["-h"], ["--help"]):
                print(f"{usage}\n\n{doc}\n\nIt takes no arguments: its settings are read from params.yaml.")
                sys.exit(0)
            print(f"{usage}\nerror: unexpected arguments {' '.join(sys.argv[1:])}; this stage takes none "
                  "(set its params in params.yaml, or run it with `dvc repro <stage>`)", file=sys.stderr)
            sys.exit(2)
        try:
            return func(*args, **kwargs)
        except (StageError, DataError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
    return wrapper
