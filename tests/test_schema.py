"""The params schema (genstudy/schema.py), read through genstudy.pipeline.params: every key of params.yaml
typed, bounded and known, one line per refusal naming the key, the value, what is allowed and the fix;
its choices are the library's own."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from genstudy import augment, data, schema, svm, vae
from genstudy.gan import METHOD_NAMES, METHODS, nets
from genstudy.pipeline import params
from genstudy.pipeline.stage import StageError
from tests.helpers.project import ROOT, tiny_params

COMMITTED = yaml.safe_load((ROOT / "params.yaml").read_text())

# params.yaml: KEY = VALUE is invalid; ALLOWED. Fix: edit KEY in params.yaml or pass -S KEY=... to dvc exp run
ONE_LINE = re.compile(
    r"params\.yaml: (?P<key>[\w.]+) = (?P<value>.+) is invalid; (?P<allowed>.+)\. "
    r"Fix: edit (?P=key) in params\.yaml or pass -S (?P=key)=\.\.\. to dvc exp run"
)


def edited(key: str, value, base=COMMITTED) -> dict:
    """A copy of `base` with dotted `key` set to `value` (added if absent)."""
    out = copy.deepcopy(base)
    *parents, leaf = key.split(".")
    node = out
    for part in parents:
        node = node[part]
    node[leaf] = value
    return out


def without(key: str, base=COMMITTED) -> dict:
    out = copy.deepcopy(base)
    *parents, leaf = key.split(".")
    node = out
    for part in parents:
        node = node[part]
    del node[leaf]
    return out


def refusal(params_data: dict) -> str:
    with pytest.raises(StageError) as info:
        params.validate(params_data)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_committed_params_and_the_tiny_studys_are_valid():
    study = params.validate(COMMITTED)
    assert isinstance(study, schema.Study) and study.model_dump()["vae"] == COMMITTED["vae"]
    tiny = tiny_params(Path("/nowhere"), {name: "0" * 32 for name in data.FILES.values()})
    assert params.validate(tiny).data.dataset == "tiny"  # registered by its checksums


# --- unknown keys: the nearest valid one named -----------------------------------------------------


@pytest.mark.parametrize(
    "typo, nearest",
    [
        ("vae.epocs", "vae.epochs"),
        ("gan.architectures.dcgan.critic.nrom", "gan.architectures.dcgan.critic.norm"),
        ("gan.architectures.mlp_g.generator.batchnorm", "gan.architectures.mlp_g.generator.batch_norm"),
        ("svm.m1.transductive.n_neighbours", "svm.m1.transductive.n_neighbors"),
        ("gan.train.failure.warm_up", "gan.train.failure.warmup"),
        ("gan.methods.wgan_gp.gp_wieght", "gan.methods.wgan_gp.gp_weight"),
        ("theory.gan2d.snapshot_epoch", "theory.gan2d.snapshot_epochs"),
        ("data.checksum", "data.checksums"),
        ("rport", "report"),
    ],
)
def test_an_unknown_key_anywhere_names_the_nearest_valid_key(typo, nearest):
    message = refusal(edited(typo, 1))
    assert message.startswith(f"params.yaml: unknown key '{typo}'; did you mean '{nearest}'? Fix: rename or remove ")
    valid = message.split("(valid keys here: ")[1].rstrip(")").split(", ")
    assert nearest.split(".")[-1] in valid and typo.split(".")[-1] not in valid


@pytest.mark.parametrize("typo, key", [("vae.epocs", "vae.epochs"), ("report.lables", "report.labels")])
def test_a_misspelt_key_in_place_of_the_valid_one_names_the_valid_one(typo, key):
    renamed = edited(typo, 1, without(key))
    assert refusal(renamed).startswith(f"params.yaml: unknown key '{typo}'; did you mean '{key}'?")


def test_an_unknown_key_with_no_near_name_lists_the_valid_keys():
    message = refusal(edited("vae.colour", "red"))
    assert message.startswith("params.yaml: unknown key 'vae.colour'")
    assert "did you mean" not in message
    assert message.endswith(f"(valid keys here: {', '.join(COMMITTED['vae'])})")


def test_a_missing_key_is_named_with_the_fix():
    assert refusal(without("vae.epochs")) == (
        "params.yaml: missing key 'vae.epochs'; add it "
        "(Fix: edit vae.epochs in params.yaml or pass -S vae.epochs=... to dvc exp run)"
    )


# --- types, bounds, choices: the one-line format --------------------------------------------------


BAD_VALUES = [
    # wrong types: strict, no "30" -> 30, no 2.5 -> 2, no "yes" -> True
    ("vae.epochs", "30", "it must be a valid integer"),
    ("vae.epochs", 2.5, "it must be a valid integer"),
    ("vae.lr", "fast", "it must be a valid number"),
    ("svm.m1.standardize", "yes", "it must be a valid boolean"),
    ("gan.train.device", 3, "it must be a valid string"),
    ("labels.counts", 100, "it must be a valid list"),
    ("theory.gan2d.target", None, "it must be a valid string"),
    # out of range
    ("vae.epochs", 0, "it must be greater than or equal to 1"),
    ("vae.lr", -0.1, "it must be greater than 0"),
    ("vae.lr", float("inf"), "it must be a finite number"),
    ("svm.cv_folds", 1, "it must be greater than or equal to 2"),
    ("judge.min_test_accuracy", 1.5, "it must be less than or equal to 1"),
    ("gan.train.ema_decay", 1.0, "it must be less than 1"),
    ("gan.train.failure.warmup", -1, "it must be greater than or equal to 0"),
    ("gan.methods.dcgan.betas", [0.5], "it must have at least 2 items"),
    ("svm.C", [], "it must have at least 1 item"),
    # choices
    ("svm.kernel", "cubic", "it must be 'rbf', 'linear', 'poly' or 'sigmoid'"),
    ("vae.lr_schedule", "step", "it must be 'constant' or 'cosine'"),
    ("gan.methods.dcgan.optimizer", "sgd", "it must be 'adam' or 'rmsprop'"),
    ("gan.architectures.dcgan.critic.norm", "instance", "it must be 'none', 'batch' or 'layer'"),
    ("data.dataset", "cifar", "known datasets are fashion_mnist, mnist"),
]


@pytest.mark.parametrize("key, value, allowed", BAD_VALUES, ids=[f"{c[0]}={c[1]!r}" for c in BAD_VALUES])
def test_a_bad_value_gives_one_line_with_key_value_allowed_and_fix(key, value, allowed):
    line = ONE_LINE.fullmatch(refusal(edited(key, value)))
    assert line, refusal(edited(key, value))
    assert (line["key"], line["value"]) == (key, repr(value))
    assert line["allowed"].startswith(allowed)


BAD_ITEMS = [
    ("svm.augment.transforms", ["shift", "twist"], 1, "twist", "it must be 'flip', 'shift', "),
    ("labels.counts", [100, 15], 1, 15, "it must be a multiple of 10"),
    ("labels.seeds", [-1], 0, -1, "it must be greater than or equal to 0"),
    ("gan.matrix.method", ["dcgan", "lsgan"], 1, "lsgan", "it must be 'dcgan', 'wgan' or 'wgan_gp'"),
    ("theory.divergences.growth_thetas", [0.5, 2], 1, 2, "it must be less than or equal to 1"),
]


@pytest.mark.parametrize("key, value, item, item_value, allowed", BAD_ITEMS, ids=[c[0] for c in BAD_ITEMS])
def test_a_bad_list_item_names_its_list_and_position(key, value, item, item_value, allowed):
    line = ONE_LINE.fullmatch(refusal(edited(key, value)))
    assert line and (line["key"], line["value"]) == (f"{key}.{item}", repr(item_value))
    assert line["allowed"].startswith(allowed)


CROSS_FIELD = [
    ("theory.divergences.fd_step", 0.5, "it must be smaller than the theta grid spacing 1/(21 - 1)"),
    ("theory.divergences.growth_thetas", [0.0], "it needs a theta > 0"),
    ("theory.sequence_cost.n_head", 5, "it must divide d_model = 64"),
    ("theory.sequence_cost.fit_min_length", 10**6, "at least two timed lengths"),
    ("theory.sequence_cost.flop_max_length", 64, "it must be >= the longest timed length 4096"),
    ("theory.gan2d.snapshot_epochs", [10**9], "every epoch must be below epochs = 8000"),
    ("gan.matrix.arch", ["dcgan", "resnet"], "resnet is not a preset of gan.architectures (dcgan, mlp_g)"),
    ("gan.methods.wgan_gp.betas", None, "adam needs two numbers in [0, 1)"),
    ("gan.architectures.dcgan.generator.depth", 3, "a conv generator needs depth >= 4"),
    ("data.dataset", "tiny", "known datasets are fashion_mnist, mnist (or register another IDX dataset"),
]


@pytest.mark.parametrize("key, value, allowed", CROSS_FIELD, ids=[c[0] for c in CROSS_FIELD])
def test_a_cross_field_check_names_its_key(key, value, allowed):
    line = ONE_LINE.fullmatch(refusal(edited(key, value)))
    assert line and (line["key"], line["value"]) == (key, repr(value))
    assert line["allowed"].startswith(allowed)


def test_a_fd_step_that_fits_a_finer_grid_is_judged_against_that_grid():
    coarse = edited("theory.divergences.theta_points", 11)
    params.validate(edited("theory.divergences.fd_step", 0.09, coarse))
    assert "1/(11 - 1)" in refusal(edited("theory.divergences.fd_step", 0.1, coarse))


def test_a_dataset_needs_sources():
    line = ONE_LINE.fullmatch(refusal(edited("data.sources.fashion_mnist", [])))
    assert line and line["key"] == "data.sources" and "a non-empty list of sources for fashion_mnist" in line["allowed"]


def test_grids_are_sorted_and_deduplicated():
    study = params.validate(
        edited(
            "theory.gan2d.snapshot_epochs",
            [2000, 0, 500, 500],
            edited(
                "theory.sequence_cost.lengths",
                [4096, 256, 512, 256, 1024],
                edited("theory.divergences.knn_sizes", [1000, 100]),
            ),
        )
    )
    assert study.theory.gan2d.snapshot_epochs == [0, 500, 2000]
    assert study.theory.sequence_cost.lengths == [256, 512, 1024, 4096]
    assert study.theory.divergences.knn_sizes == [100, 1000]


# --- the stages' view -----------------------------------------------------------------------------


def test_the_view_is_read_only_and_records_what_is_read(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    p = params.load(str(tmp_path / "params.yaml"))
    before = params.reads()
    assert p.vae.epochs == COMMITTED["vae"]["epochs"]
    assert p.gan.architectures["mlp_g"].dump() == COMMITTED["gan"]["architectures"]["mlp_g"]
    assert "dcgan" in p.gan.architectures
    assert params.reads() - before == {"vae.epochs", "gan.architectures.mlp_g", "gan.architectures"}
    with pytest.raises(AttributeError, match="read-only"):
        p.vae.epochs = 3
    with pytest.raises(ValidationError, match="frozen"):
        p.vae.whole().epochs = 3


def test_an_unreadable_params_file_is_named(tmp_path):
    with pytest.raises(StageError, match="params.yaml not found: run stages from the repository root"):
        params.load(str(tmp_path / "params.yaml"))
    (tmp_path / "params.yaml").write_text("vae: [unclosed\n")
    with pytest.raises(StageError, match="params.yaml is not valid YAML"):
        params.load(str(tmp_path / "params.yaml"))
    (tmp_path / "params.yaml").write_text("")
    with pytest.raises(StageError, match="missing key 'data'"):
        params.load(str(tmp_path / "params.yaml"))


# --- the schema's choices are the library's ---------------------------------------------------------


def test_the_schemas_choices_are_the_librarys():
    assert schema.DATASETS == data.DATASETS
    assert schema.LR_SCHEDULES == vae.LR_SCHEDULES
    assert schema.KERNELS == svm.KERNELS
    assert schema.AUGMENTATIONS == augment.TRANSFORMS
    assert schema.NONLINEARITIES == nets.NONLINEARITIES
    assert schema.NORMS == nets.NORMS
    assert schema.GENERATOR_TYPES == nets.GENERATOR_TYPES
    assert schema.GAN_METHODS == METHODS == tuple(METHOD_NAMES)
    assert tuple(schema.Methods.model_fields) == METHODS  # one section per method


CHOICES = [  # (key, the library's choices, as the key takes one)
    ("vae.lr_schedule", vae.LR_SCHEDULES, lambda c: c),
    ("svm.kernel", svm.KERNELS, lambda c: c),
    ("svm.augment.transforms", augment.TRANSFORMS, lambda c: [c]),
    ("gan.architectures.dcgan.generator.nonlinearity", nets.NONLINEARITIES, lambda c: c),
    ("gan.architectures.dcgan.critic.nonlinearity", nets.NONLINEARITIES, lambda c: c),
    ("gan.architectures.dcgan.critic.norm", nets.NORMS, lambda c: c),
    ("gan.architectures.dcgan.generator.type", nets.GENERATOR_TYPES, lambda c: c),
    ("gan.matrix.method", METHODS, lambda c: [c]),
]


@pytest.mark.parametrize("key, choices, value", CHOICES, ids=[c[0] for c in CHOICES])
def test_the_schema_takes_every_library_choice_and_nothing_else(key, choices, value):
    for choice in choices:
        params.validate(edited(key, value(choice)))
    line = ONE_LINE.fullmatch(refusal(edited(key, value("made_up"))))
    assert line and line["key"].startswith(key)
    assert all(repr(choice) in line["allowed"] for choice in choices)


def test_every_architecture_the_schema_takes_builds():
    """Every value of the schema's architecture axes builds a generator and a critic (the library agrees)."""
    for g_type in schema.GENERATOR_TYPES:
        for act in schema.NONLINEARITIES:
            for norm in schema.NORMS:
                arch = {
                    "generator": {"type": g_type, "depth": 4, "filters": 4, "nonlinearity": act, "batch_norm": True},
                    "critic": {"depth": 4, "filters": 4, "nonlinearity": act, "norm": norm},
                }
                checked = params.validate(edited("gan.architectures.dcgan", arch)).gan.architectures["dcgan"]
                nets.build(checked.generator.model_dump(), checked.critic.model_dump(), 8, gradient_penalty=False)


def test_a_bad_item_of_a_list_of_names_or_indices_names_its_position():
    line = ONE_LINE.fullmatch(refusal(edited("report.labels", ["Dress", 2.5])))
    assert line and line["key"] == "report.labels.1"


def test_params_read_floats_as_yaml_1_2_does(tmp_path):
    # `dvc exp run -S lr=0.00005` writes `lr: 5e-05`, which PyYAML's YAML 1.1 rules read as a string.
    file = tmp_path / "params.yaml"
    file.write_text("a: 5e-05\nb: 1e-4\nc: 3\nd: 0.5\ne: -2.5E+3\nf: 1e\n")
    assert params.read_yaml(file) == {"a": 5e-05, "b": 1e-4, "c": 3, "d": 0.5, "e": -2500.0, "f": "1e"}
