"""The params schema: the one place where the study's settings get their types, bounds and choices.

params.yaml holds the values; every section of it is a model below, so a misspelt key, a
wrong type or an out-of-range value is refused before any stage does work. The library's
configs (genstudy.gan.config, the keyword arguments of vae.train, svm.select, ...) are built
from these models; there is no second set of defaults.

Keys that change no DVC output are settings, not params: no stage declares them, so editing
them reruns nothing. They are listed in NOT_PARAMS (the dependency test checks this).
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

# Keys that no stage lists as a DVC param: log and checkpoint cadence, time-outs, where the files
# come from (the checksums decide what they are).
NOT_PARAMS = ("data.sources", "data.timeout_s", "gan.train.log_every", "gan.train.checkpoint_every")

DATASETS = ("fashion_mnist", "mnist")
LR_SCHEDULES = ("constant", "cosine")
KERNELS = ("rbf", "linear", "poly", "sigmoid")
AUGMENTATIONS = ("flip", "shift", "diagonal", "shift2", "rotate", "zoom")
M2_FEATURES = ("m1", "pixels")  # genstudy.m2: M1 + M2 on the VAE latent, or M2 on raw pixels
GAN_METHODS = ("dcgan", "wgan", "wgan_gp")
GENERATOR_TYPES = ("conv", "mlp")
NONLINEARITIES = ("relu", "leaky_relu", "softplus", "tanh")
NORMS = ("none", "batch", "layer")

PositiveInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Seed = Annotated[int, Field(ge=0)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1)]


def bad(field: str, value, allowed: str):
    """A cross-field check's error, reported as `section.field = value is invalid; allowed`."""
    return PydanticCustomError("param", "{allowed}", {"field": field, "value": value, "allowed": allowed})


class Section(BaseModel):
    # strict: no silent "3" -> 3 or true -> 1; forbid: a misspelt key is an error, not ignored.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# --- data and labels -------------------------------------------------------------------------


class Data(Section):
    dataset: str
    sources: dict[str, list[Annotated[str, Field(min_length=1)]]]
    checksums: dict[str, dict[str, str]] = {}  # {dataset: {IDX file name: MD5}}: registers another dataset
    timeout_s: Positive

    @model_validator(mode="after")
    def known_dataset(self):
        if self.dataset not in DATASETS and self.dataset not in self.checksums:
            raise bad(
                "dataset",
                self.dataset,
                f"known datasets are {', '.join(DATASETS)} "
                "(or register another IDX dataset under data.checksums.<name>)",
            )
        if not self.sources.get(self.dataset):
            raise bad("sources", self.sources, f"it needs a non-empty list of sources for {self.dataset}")
        return self


class Labels(Section):
    counts: list[Annotated[int, Field(ge=10, multiple_of=10)]] = Field(min_length=1)  # N/10 per class
    seeds: list[Seed] = Field(min_length=1)


# --- M1: VAE + SVM ---------------------------------------------------------------------------


class Vae(Section):
    hidden: PositiveInt
    z_dim: PositiveInt
    epochs: PositiveInt
    batch_size: PositiveInt
    lr: Positive
    weight_decay: NonNegative
    kl_warmup_epochs: Count
    free_bits: NonNegative
    lr_schedule: Literal[LR_SCHEDULES]
    seed: Seed


class Augment(Section):
    transforms: list[Literal[AUGMENTATIONS]]
    max_n: Count


class Transductive(Section):
    enabled: bool
    pool: PositiveInt
    n_neighbors: PositiveInt
    alpha: Annotated[float, Field(gt=0, lt=1)]
    keep: Annotated[float, Field(gt=0, le=1)]
    cv_refits: Annotated[int, Field(ge=1)] | None = None  # CV folds whose transductive refit is scored (None: all)


class SvmM1(Section):
    standardize: bool
    drop_inactive: bool
    transductive: Transductive


class SvmPixels(Section):
    standardize: bool


class Svm(Section):
    kernel: Literal[KERNELS]
    C: list[Positive] = Field(min_length=1)
    gamma_factors: list[Positive] = Field(min_length=1)
    cv_folds: Annotated[int, Field(ge=2)]
    halving: Annotated[int, Field(ge=1)] = 1
    augment: Augment
    m1: SvmM1
    pixels: SvmPixels


# --- GANs ------------------------------------------------------------------------------------


class M2Validation(Section):
    size: PositiveInt  # training images outside every labelled subset: the classifier's epoch is chosen on them
    seed: Seed


class M2(Section):
    features: list[Literal[M2_FEATURES]] = Field(min_length=1)  # m1: M1 + M2 on z1; pixels: M2 on raw pixels
    hidden: PositiveInt
    z_dim: PositiveInt
    epochs: PositiveInt
    batch_unlabelled: PositiveInt
    batch_labelled: PositiveInt
    lr: Positive
    lr_schedule: Literal[LR_SCHEDULES]
    alpha: Positive  # classification weight beta = alpha * N_total / N_labelled
    z1: Literal["samples", "means"]  # M1 + M2's x: posterior samples of z1 redrawn per minibatch, or the means
    standardize: bool  # z1 scaled to unit variance per dimension (training statistics)
    validation: M2Validation
    seed: Seed


class Judge(Section):
    width: PositiveInt
    features: PositiveInt
    epochs: PositiveInt
    batch_size: PositiveInt
    lr: Positive
    weight_decay: NonNegative
    augment: bool
    min_test_accuracy: Fraction
    seed: Seed


class GeneratorArch(Section):
    type: Literal[GENERATOR_TYPES]
    depth: PositiveInt
    filters: PositiveInt
    nonlinearity: Literal[NONLINEARITIES]
    batch_norm: bool

    @model_validator(mode="after")
    def conv_depth(self):
        if self.type == "conv" and self.depth < 4:
            raise bad("depth", self.depth, "a conv generator needs depth >= 4 (DCGAN's 4 layers)")
        return self


class CriticArch(Section):
    depth: Annotated[int, Field(ge=4)]
    filters: PositiveInt
    nonlinearity: Literal[NONLINEARITIES]
    norm: Literal[NORMS]


class Architecture(Section):
    generator: GeneratorArch
    critic: CriticArch


class Method(Section):
    iterations: PositiveInt  # generator iterations
    critic_steps: PositiveInt
    optimizer: Literal["adam", "rmsprop"]
    lr: Positive
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] | None = None
    ac_weight_critic: NonNegative
    ac_weight_generator: NonNegative

    @model_validator(mode="after")
    def adam_betas(self):
        if self.optimizer == "adam" and self.betas is None:
            raise bad("betas", None, "adam needs two numbers in [0, 1)")
        return self


class Dcgan(Method):
    pass


class Wgan(Method):
    clip: Positive


class WganGp(Method):
    gp_weight: Positive


class Methods(Section):
    dcgan: Dcgan
    wgan: Wgan
    wgan_gp: WganGp


class FailureChecks(Section):
    max_attempts: PositiveInt  # the first, then restarts at seed+1, seed+2, ...
    warmup: Count  # generator iterations before any check but NaN/Inf
    check_every: PositiveInt
    patience: PositiveInt  # consecutive failed checks that make a failure
    saturation_prob: NonNegative
    critic_loss_limit: Positive
    min_diversity: NonNegative
    max_class_fraction: Positive
    min_classifier_accuracy: NonNegative
    probe_per_class: Annotated[int, Field(ge=2)]


class GanTrain(Section):
    batch_size: Annotated[int, Field(ge=2)]
    z_dim: PositiveInt
    seed: Seed
    device: str
    projection: bool
    ema_decay: Annotated[float, Field(ge=0, lt=1)]
    grid_every: PositiveInt
    log_every: PositiveInt  # not a param
    checkpoint_every: PositiveInt  # not a param
    failure: FailureChecks


class Matrix(Section):
    arch: list[str] = Field(min_length=1)
    method: list[Literal[GAN_METHODS]] = Field(min_length=1)


class Evaluation(Section):
    per_class: Annotated[int, Field(ge=2)]
    curve_per_class: Annotated[int, Field(ge=2)]
    seed: Seed
    min_diversity: NonNegative  # end-of-training verdict: samples' judge-feature spread / real training images'
    gan_train_epochs: PositiveInt  # GAN-train: epochs of the judge-like classifier trained on 10 x per_class images


class Gan(Section):
    matrix: Matrix
    architectures: dict[str, Architecture] = Field(min_length=1)
    methods: Methods
    train: GanTrain
    evaluation: Evaluation

    @model_validator(mode="after")
    def matrix_presets(self):
        unknown = [a for a in self.matrix.arch if a not in self.architectures]
        if unknown:
            raise bad(
                "matrix.arch",
                self.matrix.arch,
                f"{', '.join(unknown)} is not a preset of gan.architectures ({', '.join(self.architectures)})",
            )
        return self


# --- theory ----------------------------------------------------------------------------------


class Divergences(Section):
    theta_points: Annotated[int, Field(ge=2)]
    w_samples: Annotated[int, Field(ge=10)]
    hist_samples: Annotated[int, Field(ge=10)]
    bin_widths: list[Positive] = Field(min_length=1)
    knn_sizes: list[Annotated[int, Field(ge=10)]] = Field(min_length=2)  # at least two to fit a growth rate
    knn_k: PositiveInt
    growth_thetas: list[Fraction] = Field(min_length=1)
    fd_step: Positive
    seed: Seed

    @field_validator("knn_sizes")
    @classmethod
    def sorted_sizes(cls, sizes):
        return sorted(sizes)

    @model_validator(mode="after")
    def consistent(self):
        if not any(t > 0 for t in self.growth_thetas):
            raise bad("growth_thetas", self.growth_thetas, "it needs a theta > 0 (disjoint supports)")
        if self.fd_step >= 1 / (self.theta_points - 1):
            raise bad(
                "fd_step", self.fd_step, f"it must be smaller than the theta grid spacing 1/({self.theta_points} - 1)"
            )
        return self


class SequenceCost(Section):
    vocab: Annotated[int, Field(ge=2)]
    d_model: PositiveInt
    n_layers: PositiveInt
    n_head: PositiveInt
    lengths: list[PositiveInt] = Field(min_length=1)
    recompute_max_length: PositiveInt
    fit_min_length: PositiveInt
    flop_max_length: PositiveInt
    flop_check_length: PositiveInt
    repeats: PositiveInt
    repeat_budget_s: Positive
    threads: PositiveInt
    seed: Seed

    @field_validator("lengths")
    @classmethod
    def sorted_lengths(cls, lengths):
        return sorted(set(lengths))

    @model_validator(mode="after")
    def consistent(self):
        if self.d_model % self.n_head:
            raise bad("n_head", self.n_head, f"it must divide d_model = {self.d_model}")
        fitted = [n for n in self.lengths if self.fit_min_length <= n <= self.recompute_max_length]
        if len(fitted) < 2:
            raise bad(
                "fit_min_length",
                self.fit_min_length,
                "at least two timed lengths (those <= recompute_max_length too) must be >= it to fit a slope",
            )
        if self.flop_max_length < max(self.lengths):
            raise bad(
                "flop_max_length", self.flop_max_length, f"it must be >= the longest timed length {max(self.lengths)}"
            )
        return self


class Gan2d(Section):
    target: str  # a CSV of x,y,std,weight rows (a DVC dependency of theory_gan2d)
    epochs: PositiveInt
    batch_size: PositiveInt
    z_dim: PositiveInt
    hidden: PositiveInt
    depth: PositiveInt
    lr: Positive
    beta1: Annotated[float, Field(ge=0, lt=1)]
    eval_every: PositiveInt
    eval_size: Annotated[int, Field(ge=10)]
    snapshot_epochs: list[Count]
    w1_threshold_factor: Positive
    seed: Seed

    @field_validator("snapshot_epochs")
    @classmethod
    def sorted_epochs(cls, epochs):
        return sorted(set(epochs))

    @model_validator(mode="after")
    def snapshots_in_range(self):
        if any(e >= self.epochs for e in self.snapshot_epochs):
            raise bad(
                "snapshot_epochs",
                self.snapshot_epochs,
                f"every epoch must be below epochs = {self.epochs} (the final epoch is always drawn)",
            )
        return self


class Theory(Section):
    divergences: Divergences
    sequence_cost: SequenceCost
    gan2d: Gan2d


# --- report ----------------------------------------------------------------------------------


class Report(Section):
    labels: list[str | int] = Field(min_length=1)  # class names or indices 0-9
    images_per_label: PositiveInt
    seed: Seed
    loss_smoothing: PositiveInt


class Study(Section):
    """The whole of params.yaml."""

    data: Data
    labels: Labels
    vae: Vae
    svm: Svm
    m2: M2
    judge: Judge
    gan: Gan
    theory: Theory
    report: Report
