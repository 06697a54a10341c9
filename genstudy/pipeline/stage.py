"""A stage's entry point: bad input (params, files, arguments) ends with one clear line and exit status 2."""

import functools
import inspect
import sys
from pathlib import Path

from genstudy.pipeline import paths


class StageError(Exception):
    """Bad input to a stage: the message names the key or file, the bad value and the fix."""


def require(path, stage: str) -> Path:
    """An upstream output this stage reads; a clear error naming the stage that makes it."""
    path = Path(path)
    if not path.exists():
        raise StageError(f"missing upstream output {path}; run `{paths.repro(stage)}` first")
    return path


def _module_name() -> str:
    """`stages.encode` for a stage started as `python -m stages.encode`."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return spec.name if spec else Path(sys.argv[0]).stem


def main(func):
    """Run a stage's main(); StageError, DataError and LoadError end with `error: ...` and exit status 2."""
    from genstudy.data import DataError
    from genstudy.io import LoadError

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
            print(
                f"{usage}\nerror: unexpected arguments {' '.join(sys.argv[1:])}; this stage takes none "
                f"(set its params in params.yaml, or run it with `{paths.repro(_module_name().rpartition('.')[2])}`)",
                file=sys.stderr,
            )
            sys.exit(2)
        try:
            return func(*args, **kwargs)
        except (StageError, DataError, LoadError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapper
