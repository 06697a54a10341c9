"""`genstudy`: user commands.

  genstudy generate --arch dcgan --method wgan_gp --label Dress -n 16 --seed 0 -o dress.png

draws n images of one class (or, without --label, n of every class, one row each) from a
trained class-conditional GAN and writes them as an image grid. Run it from the
repository root: architecture presets come from params.yaml, weights from
models/gan/ARCH-METHOD.pt, which `dvc repro train_gan@ARCH-METHOD` makes.
Bad input ends with one `error: ...` line and exit status 2.
"""

import argparse
import re
import sys
from pathlib import Path

MAX_IMAGES = 10_000
FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


class UsageError(Exception):
    pass


def count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = None
    if n is None or not 1 <= n <= MAX_IMAGES:
        raise argparse.ArgumentTypeError(f"the image count must be a whole number from 1 to {MAX_IMAGES}, "
                                         f"not {text!r}")
    return n


def seed(text: str) -> int:
    try:
        s = int(text)
    except ValueError:
        s = -1
    if s < 0:
        raise argparse.ArgumentTypeError(f"the seed must be a whole number >= 0, not {text!r}")
    return s


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_label(text: str, names: list[str]) -> int:
    """A class index from its name (case and punctuation ignored; 'T-shirt' for 'T-shirt/top') or its index."""
    if text.strip().isdigit():
        index = int(text)
        if index < len(names):
            return index
    else:
        for i, name in enumerate(names):
            if _key(text) in {_key(name)} | {_key(part) for part in name.split("/")}:
                return i
    listing = ", ".join(f"{i} {name}" for i, name in enumerate(names))
    raise UsageError(f"unknown label {text!r}; use a class name or index: {listing}")


def generate(args) -> Path:
    import torch

    from genstudy import data
    from genstudy.gan import nets
    from genstudy.io import save_figure
    from genstudy.plots import image_grid
    from stages import gan_common as gc
    from stages.common import Params, dataset_name

    p = Params.load()
    gc.check_arch(p, args.arch)
    gc.check_method(args.method)
    output = Path(args.output)
    if output.suffix.lower() not in FORMATS:
        raise UsageError(f"cannot write {output}: the output must end in one of {', '.join(FORMATS)}")
    names = data.class_names(dataset_name(p))
    label = parse_label(args.label, names) if args.label is not None else None
    if label is None and args.n * len(names) > MAX_IMAGES:
        raise UsageError(f"-n {args.n} per class for all {len(names)} classes is more than {MAX_IMAGES} images")

    checkpoint, g, _ = gc.load_gan(args.arch, args.method, args.weights)
    names = checkpoint.get("class_names", names)
    if label is None:
        labels = torch.arange(len(names)).repeat_interleave(args.n)
        nrow, rows = args.n, names
        title = f"{args.arch} / {args.method}: {args.n} per class (seed {args.seed})"
    else:
        labels = torch.full((args.n,), label, dtype=torch.long)
        nrow, rows = args.nrow or min(args.n, 8), None
        title = f"{args.arch} / {args.method}: {names[label]} (seed {args.seed})"
    images = nets.sample(g, labels, torch.Generator().manual_seed(args.seed))
    save_figure(image_grid(images, nrow=nrow, title=title, row_labels=rows), output, dpi=120)
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="genstudy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="draw images of a class from a trained GAN")
    gen.add_argument("--arch", required=True, help="architecture preset of params.yaml's gan.architectures")
    gen.add_argument("--method", required=True, help="dcgan, wgan or wgan_gp")
    gen.add_argument("--label", help="class name (Dress, 'Ankle boot', T-shirt) or index 0-9; "
                                     "omitted: n images of every class, one row each")
    gen.add_argument("-n", type=count, default=16, help=f"images (per class without --label), 1-{MAX_IMAGES}")
    gen.add_argument("--seed", type=seed, default=0, help="noise seed: same seed, same images")
    gen.add_argument("-o", "--output", required=True, help="image file (.png, .pdf, .svg, .jpg)")
    gen.add_argument("--nrow", type=count, help="images per row with --label (default min(n, 8))")
    gen.add_argument("--weights", help="a checkpoint other than models/gan/ARCH-METHOD.pt")
    args = parser.parse_args(argv)

    from stages.common import StageError

    try:
        path = generate(args)
    except (UsageError, StageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
