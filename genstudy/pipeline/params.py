"""params.yaml, validated by genstudy.schema, with a record of every key a stage reads.

`load()` validates the whole file (a misspelt key anywhere stops the stage, naming the nearest
valid key) and returns a read-only view of it. Reading a value through the view records its
dotted key. With GENSTUDY_PARAMS_READS=<dir> set, the process writes the keys it read to
<dir>/<pid>.json at exit: the dependency test compares them with the stage's `params` in dvc.yaml.
"""

import atexit
import difflib
import json
import os
import re
import sys
import types
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from genstudy import schema
from genstudy.pipeline.stage import StageError

PARAMS_FILE = "params.yaml"


class YamlLoader(yaml.SafeLoader):
    """YAML 1.2 numbers: `5e-05` is a float (PyYAML's YAML 1.1 rules read it as a string, and DVC
    writes floats that way when `dvc exp run -S` sets them)."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def read_yaml(path) -> dict:
    return yaml.load(Path(path).read_text(), Loader=YamlLoader) or {}


READS_ENV = "GENSTUDY_PARAMS_READS"
UNION_TAGS = {"str", "int", "float", "bool"}
_reads: set[str] = set()


class View:
    """Attribute (and, for maps, item) access to a validated section that records what is read."""

    def __init__(self, node, key: str = ""):
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_key", key)

    def _child(self, name: str, value):
        key = f"{self._key}.{name}" if self._key else str(name)
        if isinstance(value, (BaseModel, dict)):
            return View(value, key)
        _reads.add(key)
        return value

    def __getattr__(self, name: str):
        if isinstance(self._node, dict):
            raise AttributeError(name)
        return self._child(name, getattr(self._node, name))

    def __getitem__(self, name):
        node = self._node
        return self._child(name, node[name] if isinstance(node, dict) else getattr(node, name))

    def __contains__(self, name) -> bool:
        _reads.add(self._key)
        return name in self._node

    def __iter__(self):
        _reads.add(self._key)
        return iter(self._node)

    def whole(self):
        """The section itself (a schema model or dict): every key under it counts as read."""
        _reads.add(self._key)
        return self._node

    def dump(self) -> dict:
        """The section as plain data (for MLflow params and library configs); all of it counts as read."""
        node = self.whole()
        return node.model_dump() if isinstance(node, BaseModel) else dict(node)

    def __setattr__(self, name, value):
        raise AttributeError("params are read-only")


def reads() -> set[str]:
    return set(_reads)


def _write_reads():
    directory = os.environ.get(READS_ENV)
    if directory and _reads:
        Path(directory).mkdir(parents=True, exist_ok=True)
        record = {"argv": sys.orig_argv[1:], "reads": sorted(_reads)}
        (Path(directory) / f"{os.getpid()}.json").write_text(json.dumps(record, indent=1))


atexit.register(_write_reads)


def load(file: str = PARAMS_FILE) -> View:
    """The validated params of `file`; StageError with key, value, what is allowed and the fix."""
    try:
        data = read_yaml(file)
    except FileNotFoundError:
        raise StageError(f"{file} not found: run stages from the repository root") from None
    except yaml.YAMLError as e:
        raise StageError(f"{file} is not valid YAML: {e}") from None
    return View(validate(data, file))


def validate(data: dict, file: str = PARAMS_FILE) -> schema.Study:
    try:
        return schema.Study.model_validate(data)
    except ValidationError as e:
        # An unknown key first: a misspelt key is also reported missing under its right name.
        errors = sorted(e.errors(), key=lambda error: error["type"] != "extra_forbidden")
        raise StageError(explain(errors[0], file)) from None


def fix(key: str, file: str) -> str:
    return f"Fix: edit {key} in {file} or pass -S {key}=... to dvc exp run"


def explain(error: dict, file: str = PARAMS_FILE) -> str:
    """One pydantic error as today's one-line message: key, bad value, what is allowed, the fix."""
    # Drop the member tags of union types (`report.labels.1.str`): they are not keys of params.yaml.
    loc = [str(part) for part in error["loc"] if part not in UNION_TAGS]
    kind = error["type"]
    if kind == "extra_forbidden":
        key = ".".join(loc)
        near = difflib.get_close_matches(loc[-1], valid_names(loc[:-1]), n=1)
        hint = f"; did you mean '{'.'.join(loc[:-1] + near)}'?" if near else "."
        return (
            f"{file}: unknown key '{key}'{hint} Fix: rename or remove it in {file} "
            f"(valid keys here: {', '.join(valid_names(loc[:-1]))})"
        )
    if kind == "missing":
        key = ".".join(loc)
        return f"{file}: missing key '{key}'; add it ({fix(key, file)})"
    if kind == "param":
        ctx = error["ctx"]
        key = ".".join(loc + [ctx["field"]])
        return f"{file}: {key} = {ctx['value']!r} is invalid; {ctx['allowed']}. {fix(key, file)}"
    key = ".".join(loc)
    allowed = error["msg"].replace("Input should be", "it must be").replace("List should have", "it must have")
    allowed = allowed.replace(" after validation", "").replace("Value error, ", "")
    return f"{file}: {key} = {error.get('input')!r} is invalid; {allowed}. {fix(key, file)}"


def valid_names(loc: list[str]) -> list[str]:
    """The keys a schema model accepts at `loc` (a path into params.yaml)."""
    node, rest = schema.Study, list(loc)
    while rest:
        field = node.model_fields.get(rest.pop(0)) if isinstance(node, type) and issubclass(node, BaseModel) else None
        if field is None:
            return []
        node = field.annotation
        while typing.get_origin(node) in (dict, typing.Union, types.UnionType):
            if typing.get_origin(node) is dict:
                rest = rest[1:]  # the map's own key, e.g. an architecture preset name
            node = [a for a in typing.get_args(node) if a is not type(None)][-1]
    return list(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []
