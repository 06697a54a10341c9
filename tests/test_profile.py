"""Profiles (profiles/NAME.yaml): the `-S key=value` overrides of `dvc exp run`, validated with params.yaml
before any stage runs: an unknown key or a bad value in a profile is refused, naming the profile file."""

import copy
import os
import subprocess
import sys

import pytest
import yaml

from genstudy.pipeline import params
from genstudy.pipeline.stage import StageError
from genstudy.profile import overrides
from tests.helpers.project import ROOT

PROFILES = ROOT / "profiles"
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def profile(name: str) -> dict:
    return params.read_yaml(PROFILES / f"{name}.yaml")


@pytest.mark.parametrize("name", ["quick", "paper"])
def test_a_profile_gives_one_override_per_key_and_the_stages_read_it_as_written(tmp_path, name):
    from dvc.utils.hydra import apply_overrides

    keys = profile(name)
    args = overrides(name, BASE, PROFILES)
    assert args[::2] == ["-S"] * len(keys)
    assert [a.split("=", 1)[0] for a in args[1::2]] == list(keys)
    # `dvc exp run -S ...` edits params.yaml with these overrides; the stages read the profile applied.
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    apply_overrides(tmp_path / "params.yaml", args[1::2])
    expected = copy.deepcopy(BASE)
    for key, value in keys.items():
        *parents, leaf = key.split(".")
        node = expected
        for part in parents:
            node = node[part]
        node[leaf] = value
    assert params.load(str(tmp_path / "params.yaml")).dump() == params.validate(expected).model_dump()


def write_profile(directory, name, keys: dict):
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(keys, sort_keys=False))


@pytest.mark.parametrize("name", ["quick", "paper"])
@pytest.mark.parametrize("key", ["vae.epocs", "vea.epochs", "vae.epochs.per_stage", "gan.architectures.resnet.depth"])
def test_an_unknown_key_in_a_profile_is_refused(tmp_path, name, key):
    write_profile(tmp_path, name, {**profile(name), key: 3})
    with pytest.raises(StageError) as info:
        overrides(name, BASE, tmp_path)
    assert str(info.value) == f"{tmp_path / f'{name}.yaml'}: {key} is not a key of params.yaml"


BAD_VALUES = [
    ("vae.epochs", 0, "vae.epochs = 0 is invalid; it must be greater than or equal to 1"),
    ("svm.kernel", "cubic", "svm.kernel = 'cubic' is invalid; it must be 'rbf', 'linear', 'poly' or 'sigmoid'"),
    ("labels.seeds", "0", "labels.seeds = '0' is invalid; it must be a valid list"),
    ("theory.divergences.fd_step", 0.5, "theory.divergences.fd_step = 0.5 is invalid; it must be smaller"),
]


@pytest.mark.parametrize("name", ["quick", "paper"])
@pytest.mark.parametrize("key, value, message", BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_a_bad_value_in_a_profile_is_refused_with_the_params_message(tmp_path, name, key, value, message):
    write_profile(tmp_path, name, {**profile(name), key: value})
    with pytest.raises(StageError) as info:
        overrides(name, BASE, tmp_path)
    path = tmp_path / f"{name}.yaml"
    assert str(info.value).startswith(f"params.yaml with {path}: {message}")
    assert f"Fix: edit {key} in params.yaml with {path}" in str(info.value)


def test_an_unknown_profile_lists_the_known_ones(tmp_path):
    with pytest.raises(StageError, match="no profile 'fast': .*fast.yaml does not exist; known profiles: paper, quick"):
        overrides("fast", BASE, PROFILES)


def test_the_command_prints_the_overrides_and_refuses_a_bad_name():
    env = {k: v for k, v in os.environ.items() if k != "GENSTUDY_PARAMS_READS"}

    def command(*args):
        return subprocess.run(
            [sys.executable, "-m", "genstudy.profile", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )

    quick = command("quick")
    assert quick.returncode == 0, quick.stderr
    assert quick.stdout.split() == overrides("quick", BASE, PROFILES)
    for args, message in ((["fast"], "no profile 'fast'"), ([], "usage: python -m genstudy.profile NAME")):
        bad = command(*args)
        assert bad.returncode == 2 and f"error: {message}" in bad.stderr and "Traceback" not in bad.stderr
