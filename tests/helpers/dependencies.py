"""Dependency truth: what each DVC stage really reads (code, params) against what dvc.yaml declares.

A stage's code is the transitive import closure of its command's module (tests.helpers.imports);
its params reads are the keys genstudy.pipeline.params recorded while the stage ran.
"""

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from genstudy.schema import NOT_PARAMS
from tests.helpers.imports import closure  # noqa: F401 (re-exported for the tests)


@dataclass
class Stage:
    name: str
    cmd: str
    deps: list[str]  # paths as written in dvc.yaml (files or folders)
    params: dict  # {params file: [declared keys]}
    file: str = "dvc.yaml"  # the pipeline file that defines it, relative to the root


def stages(root: Path) -> list[Stage]:
    """Every stage of the project's pipeline files with matrix items resolved, as DVC itself reads them."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        out = []
        for st in repo.index.stages:
            params = {d.def_path: list(d.params) for d in st.deps if isinstance(d, ParamsDependency)}
            deps = [d.def_path for d in st.deps if not isinstance(d, ParamsDependency)]
            file = Path(st.path).resolve().relative_to(Path(root).resolve()).as_posix()
            out.append(Stage(st.name, st.cmd, deps, params, file))
        return out


def covered(path: str, declared) -> bool:
    """`path` is one of the declared paths or lies under a declared folder."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in declared)


def module_of(cmd: str) -> str:
    words = shlex.split(cmd)
    if words[:2] != ["python", "-m"]:
        raise ValueError(f"a stage command must be `python -m MODULE ...`, not {cmd!r}")
    return words[2]


def undeclared_imports(root: Path, stage_list) -> dict[str, list[str]]:
    """{stage: project files its command imports that no dep covers}."""
    problems = {}
    for st in stage_list:
        files = sorted(str(p) for p in closure(root, module_of(st.cmd)))
        missing = [f for f in files if not covered(f, st.deps)]
        if missing:
            problems[st.name] = missing
    return problems


def key_covered(key: str, declared) -> bool:
    return any(key == d or key.startswith(d + ".") for d in declared)


def recorded_reads(directory: Path) -> list[dict]:
    """The params reads the stage processes recorded: [{"argv": [...], "reads": [...]}]."""
    return [json.loads(p.read_text()) for p in sorted(Path(directory).glob("*.json"))]


def undeclared_reads(stage_list, records) -> dict[str, list[str]]:
    """{stage: params keys it read that its `params` do not cover and that are not NOT_PARAMS}."""
    by_argv = {tuple(shlex.split(st.cmd)[1:]): st for st in stage_list}
    problems = {}
    for record in records:
        st = by_argv.get(tuple(record["argv"]))
        if st is None:
            continue  # not a stage (e.g. a profile lookup)
        declared = st.params.get("params.yaml", [])
        missing = [k for k in record["reads"] if not key_covered(k, declared) and not key_covered(k, NOT_PARAMS)]
        if missing:
            problems[st.name] = sorted(set(problems.get(st.name, [])) | set(missing))
    return problems


def declared_non_params(stage_list) -> dict[str, list[str]]:
    """{stage: NOT_PARAMS keys it declares} (declaring one would rerun it when a setting changes)."""
    problems = {}
    for st in stage_list:
        bad = [
            k
            for k in st.params.get("params.yaml", [])
            if any(key_covered(n, [k]) or key_covered(k, [n]) for n in NOT_PARAMS)
        ]
        if bad:
            problems[st.name] = bad
    return problems


def whole_file_params(stage_list, records, all_keys) -> dict[str, str]:
    """{stage: why} for stages that list params.yaml as a file dep without reading every key."""
    by_argv = {tuple(shlex.split(st.cmd)[1:]): st for st in stage_list}
    read = {}
    for record in records:
        st = by_argv.get(tuple(record["argv"]))
        if st is not None:
            read.setdefault(st.name, set()).update(record["reads"])
    problems = {}
    for st in stage_list:
        if "params.yaml" in st.deps:
            unread = [k for k in all_keys if not key_covered(k, read.get(st.name, set()))]
            if unread:
                problems[st.name] = f"depends on all of params.yaml but never reads {', '.join(unread[:5])}, ..."
    return problems
