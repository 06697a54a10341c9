"""MLflow's model registry for the study's generators and its VAE, and loading from it without pickle.

Registered models: `genstudy-gan` (one version per GAN run, aliased `<arch>-<method>`) and
`genstudy-vae`. The best generator by the study's rule carries the alias `champion`, as does the
newest VAE. A version is an MLflow pytorch model saved as "pt2" (a traced graph: MLflow loads it
without unpickling), with a signature and an input example, and it carries the project's own
checkpoint (config plus state dict) as an extra file. `checkpoint` downloads a version and returns
that file; the caller loads it with `weights_only=True`, as every other model file of the project.
"""

import re
from pathlib import Path

GAN_MODEL, VAE_MODEL, CHAMPION = "genstudy-gan", "genstudy-vae", "champion"
URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class RegistryError(Exception):
    """A models:/ URI that names nothing loadable: the message says what is missing and how to make it."""


def champion(scores: dict) -> str:
    """The study's rule: among converged runs, the lowest Fréchet distance to training images.

    `scores` = {run: {"converged": bool, "train_frechet_distance": float}}. The test set is not used
    to choose (it scores every run in evaluate_gan). Ties go to the first run in name order.
    """
    candidates = {run: s for run, s in scores.items() if s["converged"]} or scores
    return min(sorted(candidates), key=lambda run: candidates[run]["train_frechet_distance"])


def register(module, example, checkpoint_path, name: str, tags: dict) -> str:
    """Log `module` to the active run as a pt2 MLflow model with its checkpoint, register it; the version."""
    import mlflow
    import torch
    from mlflow.models import infer_signature

    with torch.no_grad():
        output = module.eval()(example)
    info = mlflow.pytorch.log_model(
        module,
        name=name,
        serialization_format="pt2",
        signature=infer_signature(example.numpy(), output.numpy()),
        input_example=example.numpy(),
        extra_files=[str(checkpoint_path)],
        pip_requirements=[f"torch=={torch.__version__}"],
        registered_model_name=name,
        await_registration_for=0,
    )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    return version


def set_aliases(name: str, version: str, aliases):
    import mlflow

    client = mlflow.MlflowClient()
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)


def parse(uri: str) -> tuple[str, str | None, str | None]:
    """(name, alias, version) of `models:/NAME@ALIAS` or `models:/NAME/VERSION`."""
    match = URI.match(uri)
    if not match:
        raise RegistryError(f"{uri!r} is not a registered model URI: write models:/NAME@ALIAS or models:/NAME/VERSION")
    return match["name"], match["alias"], match["version"]


def download(client, name: str, version, dst) -> str:
    """Registered model `name` version `version` into folder `dst`; the local folder.

    By the version's storage location, not its models:/ URI: MLflow resolves a models:/ URI against
    the process's global registry URI, whatever store `client` reads.
    """
    import mlflow

    source = client.get_model_version_download_uri(name, str(version))
    return mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst), tracking_uri=client.tracking_uri)


def checkpoint(uri: str, tracking_uri: str, dst) -> Path:
    """Download registered model `uri` from the store at `tracking_uri` into folder `dst`; the project
    checkpoint inside it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    name, alias, version = parse(uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    try:
        found = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
    except MlflowException as e:
        raise RegistryError(
            f"{uri} is not in the registry of {tracking_uri} ({e.message.splitlines()[0]}); "
            "run `dvc repro register_models`, or set MLFLOW_TRACKING_URI to the store that has it"
        ) from None
    local = download(client, name, found.version, dst)
    files = sorted(Path(local).glob("extra_files/*.pt"))
    if len(files) != 1:
        raise RegistryError(
            f"{uri} (version {found.version}) carries no project checkpoint; it was not registered "
            "by `dvc repro register_models`"
        )
    return files[0]
