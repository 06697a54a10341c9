"""`genstudy`: user commands.

  genstudy generate --checkpoint models/gan/dcgan-wgan_gp.pt --label Dress -n 16 --seed 0 -o dress.png
  genstudy generate --arch dcgan --method wgan_gp --label Dress -o dress.png    (in the repository)
  genstudy generate --model models:/genstudy-gan@champion -o champion.png       (MLflow's registry)

draws n images of one class (or, without --label, n of every class, one row each) from a
trained class-conditional GAN and writes them as an image grid. The checkpoint carries its
architecture and class names, so --checkpoint works from any directory; --arch/--method
is the shortcut for models/gan/ARCH-METHOD.pt, which
`dvc repro pipelines/gan/dvc.yaml:train_gan@ARCH-METHOD` makes;
--model takes a registered generator (`dvc repro register_models`) from the MLflow store
(MLFLOW_TRACKING_URI, else the repository's mlflow.db): models:/genstudy-gan@champion, @ARCH-METHOD
or /VERSION. Every way loads a state dict and its config with weights_only=True: nothing unpickled.
Bad input ends with one `error: ...` line and exit status 2.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from genstudy.data import parse_label
from genstudy.gan import METHODS

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
        raise argparse.ArgumentTypeError(f"the image count must be a whole number from 1 to {MAX_IMAGES}, not {text!r}")
    return n


def seed(text: str) -> int:
    try:
        s = int(text)
    except ValueError:
        s = -1
    if s < 0:
        raise argparse.ArgumentTypeError(f"the seed must be a whole number >= 0, not {text!r}")
    return s


def checkpoint_path(args, download_dir: str) -> Path:
    """--checkpoint PATH, --model (downloaded into `download_dir`), or in the repository --arch/--method."""
    given = [name for name, value in (("--checkpoint", args.checkpoint), ("--model", args.model)) if value]
    if args.arch or args.method:
        given.append("--arch/--method")
    if len(given) > 1:
        raise UsageError(f"give one of --checkpoint, --model or --arch/--method, not {' and '.join(given)}")
    if args.checkpoint:
        return Path(args.checkpoint)
    if args.model:
        from genstudy import registry
        from genstudy.pipeline import tracking

        try:
            return registry.checkpoint(args.model, tracking.tracking_uri(), download_dir)
        except registry.RegistryError as e:
            raise UsageError(str(e)) from None
    if not (args.arch and args.method):
        raise UsageError(
            "name the generator: --checkpoint PATH, --model models:/NAME@ALIAS, or --arch and --method "
            "inside the repository"
        )
    from genstudy.pipeline import paths

    path = Path(paths.gan_model(args.arch, args.method))
    if not path.exists():
        raise UsageError(
            f"{path} does not exist here: run this from the repository root after "
            f"`{paths.repro(paths.stage_name('train_gan', args.arch, args.method))}`, or pass --checkpoint"
        )
    return path


def generate(args) -> Path:
    import torch

    from genstudy.gan import checkpoint as gan_checkpoint
    from genstudy.gan import nets
    from genstudy.io import save_figure
    from genstudy.plots import image_grid

    output = Path(args.output)
    if output.suffix.lower() not in FORMATS:
        raise UsageError(f"cannot write {output}: the output must end in one of {', '.join(FORMATS)}")
    with tempfile.TemporaryDirectory(prefix="genstudy-model-") as download_dir:
        try:
            checkpoint, g, _ = gan_checkpoint.load(checkpoint_path(args, download_dir))
        except gan_checkpoint.CheckpointError as e:
            raise UsageError(str(e)) from None
    names = checkpoint["class_names"]
    try:
        label = parse_label(args.label, names) if args.label is not None else None
    except ValueError as e:
        raise UsageError(str(e)) from None
    if label is None and args.n * len(names) > MAX_IMAGES:
        raise UsageError(f"-n {args.n} per class for all {len(names)} classes is more than {MAX_IMAGES} images")
    run = f"{checkpoint['arch']} / {checkpoint['method']}"
    if label is None:
        labels = torch.arange(len(names)).repeat_interleave(args.n)
        nrow, rows = args.n, names
        title = f"{run}: {args.n} per class (seed {args.seed})"
    else:
        labels = torch.full((args.n,), label, dtype=torch.long)
        nrow, rows = args.nrow or min(args.n, 8), None
        title = f"{run}: {names[label]} (seed {args.seed})"
    images = nets.sample(g, labels, torch.Generator().manual_seed(args.seed))
    save_figure(image_grid(images, nrow=nrow, title=title, row_labels=rows), output, dpi=120)
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="genstudy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="draw images of a class from a trained GAN")
    gen.add_argument(
        "--checkpoint", help="a GAN file written by train_gan (models/gan/ARCH-METHOD.pt); works from any directory"
    )
    gen.add_argument("--model", help="a registered generator: models:/genstudy-gan@champion, @ARCH-METHOD or /VERSION")
    gen.add_argument("--arch", help="inside the repository: the architecture preset of the trained run")
    gen.add_argument("--method", choices=METHODS, help="inside the repository: the method of the trained run")
    gen.add_argument(
        "--label",
        help="class name (Dress, 'Ankle boot', T-shirt) or index 0-9; omitted: n images of every class, one row each",
    )
    gen.add_argument("-n", type=count, default=16, help=f"images (per class without --label), 1-{MAX_IMAGES}")
    gen.add_argument("--seed", type=seed, default=0, help="noise seed: same seed, same images")
    gen.add_argument("-o", "--output", required=True, help="image file (.png, .pdf, .svg, .jpg)")
    gen.add_argument("--nrow", type=count, help="images per row with --label (default min(n, 8))")
    args = parser.parse_args(argv)

    try:
        path = generate(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
