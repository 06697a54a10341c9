"""What the GAN stages and `genstudy generate` share: file layout, params of gan.* and judge.*, loading weights."""

import torch

from genstudy.gan import METHODS, nets
from stages.common import Params, StageError, require

JUDGE_PATH = "models/judge.pt"
REFERENCE_PATH = "metrics/gan/reference.json"
FIGURES = "reports/figures/gan"


def run_name(arch: str, method: str) -> str:
    return f"{arch}-{method}"


def model_path(arch, method):
    return f"models/gan/{run_name(arch, method)}.pt"


def checkpoint_path(arch, method):
    # Outside the stage's declared outs: DVC deletes those before rerunning a stage.
    return f"checkpoints/gan/{run_name(arch, method)}.pt"


def train_record_path(arch, method):
    return f"metrics/gan/train/{run_name(arch, method)}.json"


def history_path(arch, method):
    return f"metrics/gan/history/{run_name(arch, method)}.csv"


def metrics_path(arch, method):
    return f"metrics/gan/{run_name(arch, method)}.json"


def train_stage(arch, method):
    return f"train_gan@{run_name(arch, method)}"


def architectures(p: Params) -> dict:
    value = p.get("gan.architectures")
    if not isinstance(value, dict) or not value:
        raise p.bad("gan.architectures", value, "it must map preset names to {generator: ..., critic: ...}")
    return value


def check_arch(p: Params, arch: str) -> str:
    names = list(architectures(p))
    if arch not in names:
        raise StageError(f"unknown architecture {arch!r}; presets in {p.file} (gan.architectures): "
                         f"{', '.join(names)}")
    return arch


def check_method(method: str) -> str:
    if method not in METHODS:
        raise StageError(f"unknown GAN method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def architecture(p: Params, arch: str) -> tuple[dict, dict]:
    """(generator spec, critic spec) of preset gan.architectures.<arch>, validated key by key."""
    check_arch(p, arch)
    key = f"gan.architectures.{arch}"
    g = {
        "type": p.choice(f"{key}.generator.type", nets.GENERATOR_TYPES),
        "depth": p.int(f"{key}.generator.depth", minimum=1),
        "filters": p.int(f"{key}.generator.filters"),
        "nonlinearity": p.choice(f"{key}.generator.nonlinearity", nets.NONLINEARITIES),
        "batch_norm": p.bool(f"{key}.generator.batch_norm"),
    }
    if g["type"] == "conv" and g["depth"] < 4:
        raise p.bad(f"{key}.generator.depth", g["depth"], "a conv generator needs depth >= 4 (DCGAN's 4 layers)")
    c = {
        "depth": p.int(f"{key}.critic.depth", minimum=4),
        "filters": p.int(f"{key}.critic.filters"),
        "nonlinearity": p.choice(f"{key}.critic.nonlinearity", nets.NONLINEARITIES),
        "norm": p.choice(f"{key}.critic.norm", nets.NORMS),
    }
    return g, c


def device(p: Params) -> str:
    """gan.train.device: where train_gan runs ("cpu" by default; "cuda" for the paper profile)."""
    import torch

    key = "gan.train.device"
    name = p.get(key)
    if not isinstance(name, str):
        raise p.bad(key, name, "use cpu, cuda, cuda:N or mps")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise p.bad(key, name, "use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise p.bad(key, name, "this torch build or machine has no CUDA device; use cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise p.bad(key, name, "this machine has no MPS device; use cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise p.bad(key, name, "use cpu, cuda, cuda:N or mps")
    return str(dev)


def train_config(p: Params, method: str) -> dict:
    """Keyword arguments of genstudy.gan.train.TrainConfig from gan.methods.<method> and gan.train."""
    check_method(method)
    m, t = f"gan.methods.{method}", "gan.train"
    cfg = {
        "method": method,
        "iterations": p.int(f"{m}.iterations"),
        "critic_steps": p.int(f"{m}.critic_steps"),
        "optimizer": p.choice(f"{m}.optimizer", ("adam", "rmsprop")),
        "lr": p.float(f"{m}.lr"),
        "ac_weight_critic": p.float(f"{m}.ac_weight_critic", inclusive=True),
        "ac_weight_generator": p.float(f"{m}.ac_weight_generator", inclusive=True),
        "batch_size": p.int(f"{t}.batch_size", minimum=2),
        "z_dim": p.int(f"{t}.z_dim"),
        "seed": p.int(f"{t}.seed", minimum=0),
        "projection": p.bool(f"{t}.projection"),
        "ema_decay": p.float(f"{t}.ema_decay", inclusive=True),
        "grid_every": p.int(f"{t}.grid_every"),
        "log_every": p.int(f"{t}.log_every"),
        "checkpoint_every": p.int(f"{t}.checkpoint_every"),
    }
    if cfg["optimizer"] == "adam":
        betas = p.list(f"{m}.betas", lambda b: isinstance(b, (int, float)) and not isinstance(b, bool)
                       and 0 <= b < 1)
        if len(betas) != 2:
            raise p.bad(f"{m}.betas", betas, "it must be two numbers in [0, 1)")
        cfg["betas"] = [float(b) for b in betas]
    if method == "wgan":
        cfg["clip"] = p.float(f"{m}.clip")
    if method == "wgan_gp":
        cfg["gp_weight"] = p.float(f"{m}.gp_weight")
    if cfg["ema_decay"] >= 1:
        raise p.bad(f"{t}.ema_decay", cfg["ema_decay"], "it must be in [0, 1) (0 turns the EMA off)")
    f = f"{t}.failure"
    cfg["failure"] = {
        "max_attempts": p.int(f"{f}.max_attempts"),
        "warmup": p.int(f"{f}.warmup", minimum=0),
        "check_every": p.int(f"{f}.check_every"),
        "patience": p.int(f"{f}.patience"),
        "saturation_prob": p.float(f"{f}.saturation_prob", inclusive=True),
        "critic_loss_limit": p.float(f"{f}.critic_loss_limit"),
        "min_diversity": p.float(f"{f}.min_diversity", inclusive=True),
        "max_class_fraction": p.float(f"{f}.max_class_fraction"),
        "min_classifier_accuracy": p.float(f"{f}.min_classifier_accuracy", inclusive=True),
        "probe_per_class": p.int(f"{f}.probe_per_class", minimum=2),
    }
    return cfg


def evaluation(p: Params) -> dict:
    return {"per_class": p.int("gan.evaluation.per_class", minimum=2), "seed": p.int("gan.evaluation.seed", minimum=0)}


def load_judge(path=JUDGE_PATH):
    from genstudy.judge import Judge

    checkpoint = torch.load(require(path, "train_judge"), map_location="cpu", weights_only=True)
    try:
        model = Judge(**checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError, TypeError) as e:
        raise StageError(f"{path} is not a judge checkpoint written by train_judge ({e}); "
                         "delete it and run `dvc repro train_judge`") from None
    return model.eval()


def load_gan(arch: str, method: str, path=None) -> tuple[dict, "nets.Generator", "nets.Critic"]:
    """(checkpoint dict, generator, critic) of one trained run."""
    path = path or model_path(arch, method)
    checkpoint = torch.load(require(path, train_stage(arch, method)), map_location="cpu", weights_only=True)
    try:
        g, c = nets.from_checkpoint(checkpoint)
    except (KeyError, RuntimeError, TypeError) as e:
        raise StageError(f"{path} is not a GAN checkpoint written by train_gan ({e}); "
                         f"delete it and run `dvc repro {train_stage(arch, method)}`") from None
    return checkpoint, g, c
