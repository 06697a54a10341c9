"""MLflow's model registry: every generator and the VAE registered by `register_models`, the champion
by the study's rule, and `genstudy generate --model` loading a state dict, never a pickle."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genstudy import registry
from tests.helpers.project import BIN


def test_the_champion_is_the_lowest_training_fd_among_converged_runs():
    scores = {
        "dcgan-dcgan": {"converged": False, "train_frechet_distance": 1.0},
        "dcgan-wgan_gp": {"converged": True, "train_frechet_distance": 5.0},
        "mlp_g-wgan_gp": {"converged": True, "train_frechet_distance": 4.0},
    }
    assert registry.champion(scores) == "mlp_g-wgan_gp"
    scores["dcgan-wgan_gp"]["train_frechet_distance"] = 4.0
    assert registry.champion(scores) == "dcgan-wgan_gp", "a tie goes to the first run by name"
    none = {run: s | {"converged": False} for run, s in scores.items()}
    assert registry.champion(none) == "dcgan-dcgan", "with no converged run, the lowest of all"


@pytest.mark.parametrize("uri", ["genstudy-gan@champion", "models:/genstudy-gan", "models:/a/b/c", "models:/g@x y"])
def test_a_malformed_model_uri_says_how_to_write_one(uri):
    with pytest.raises(registry.RegistryError, match="models:/NAME@ALIAS or models:/NAME/VERSION"):
        registry.parse(uri)


def test_a_model_missing_from_the_store_names_the_stage_that_registers_it(store, tmp_path):
    with pytest.raises(registry.RegistryError, match="run `dvc repro register_models`"):
        registry.checkpoint("models:/genstudy-gan@champion", store, tmp_path)


class RunsCode:
    """Unpickling this calls print: a stand-in for any code a planted model file could run."""

    def __reduce__(self):
        return (print, ("PLANTED CODE RAN",))


def test_a_registered_pickle_is_refused_without_running_it(store, tmp_path):
    import mlflow

    model = tmp_path / "evil"
    (model / "extra_files").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "extra_files" / "dcgan-dcgan.pt").write_bytes(pickle.dumps({"config": RunsCode()}))
    client = mlflow.MlflowClient(store)
    client.create_registered_model("evil")
    version = client.create_model_version("evil", source=str(model))
    client.set_registered_model_alias("evil", "champion", version.version)
    code = "import sys; from genstudy.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["generate", "--model", "models:/evil@champion", "-o", str(tmp_path / "x.png")]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "is not a GAN checkpoint" in result.stderr
    assert "PLANTED CODE RAN" not in result.stdout + result.stderr and not (tmp_path / "x.png").exists()


@pytest.fixture(scope="module")
def registered(study):
    """The scratch study's store and its registry record."""
    import mlflow

    uri = f"sqlite:///{study.path / 'mlflow.db'}"
    record = json.loads((study.path / "metrics" / "registry.json").read_text())
    return mlflow.MlflowClient(uri, registry_uri=uri), record, uri


@pytest.mark.slow
def test_every_generator_and_the_vae_are_registered_with_a_signature_and_an_input_example(study, registered, tmp_path):
    client, record, _ = registered
    params = yaml.safe_load((study.path / "params.yaml").read_text())["gan"]["matrix"]
    runs = {f"{a}-{m}" for a in params["arch"] for m in params["method"]}
    assert set(record[registry.GAN_MODEL]["versions"]) == runs
    for run, entry in record[registry.GAN_MODEL]["versions"].items():
        version = client.get_model_version_by_alias(registry.GAN_MODEL, run)
        assert str(version.version) == entry["version"]
        assert f"{version.tags['arch']}-{version.tags['method']}" == run and version.tags["train_run_id"]
    for name in (registry.GAN_MODEL, registry.VAE_MODEL):
        version = client.get_model_version_by_alias(name, registry.CHAMPION).version
        local = registry.download(client, name, version, tmp_path / name)
        mlmodel = yaml.safe_load(open(f"{local}/MLmodel"))
        assert mlmodel["signature"]["inputs"] and mlmodel["signature"]["outputs"], name
        assert mlmodel["saved_input_example_info"], name
        assert [p.name for p in Path(local, "data").iterdir()] == ["model.pt2"], "a graph, not a pickle"


@pytest.mark.slow
def test_the_champion_alias_follows_the_studys_rule(registered):
    client, record, _ = registered
    gan = record[registry.GAN_MODEL]
    scores = {run: {k: v[k] for k in ("converged", "train_frechet_distance")} for run, v in gan["versions"].items()}
    assert gan["champion"] == registry.champion(scores)
    champion = client.get_model_version_by_alias(registry.GAN_MODEL, registry.CHAMPION)
    assert str(champion.version) == gan["versions"][gan["champion"]]["version"]
    assert (
        str(client.get_model_version_by_alias(registry.VAE_MODEL, registry.CHAMPION).version)
        == record[registry.VAE_MODEL]["champion"]
    )


@pytest.mark.slow
def test_generate_draws_a_grid_from_the_registered_champion(study, tmp_path):
    out = tmp_path / "champion.png"
    code = "import sys; from genstudy.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["generate", "--model", "models:/genstudy-gan@champion", "--label", "3", "-n", "8", "-o", str(out)]
    # In the scratch project, its own copy of genstudy finds its own store (mlflow.db there).
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [str(BIN / "python"), "-c", code, *args], cwd=study.path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    from PIL import Image

    assert Image.open(out).size[0] > 100
