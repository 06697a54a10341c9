"""Class-conditional generators and critics for 28x28x1 images, built from the axes of
Gulrajani et al. (2017), Table 1: nonlinearity, depth, batch norm in G, normalization
in D, base filter count.

The conv nets are the official 28x28 MNIST model (igul222/improved_wgan_training,
gan_mnist.py) at base width DIM: G is Linear -> 4DIM x 4 x 4 -> deconv 5x5 to 2DIM x 7 x 7
-> DIM x 14 x 14 -> 1 x 28 x 28 (sigmoid); D is conv 5x5 stride 2 at DIM, 2DIM, 4DIM
-> Linear. Depth beyond 4 adds stride-1 3x3 conv layers at the middle resolutions.
The MLP generator is the official FCGenerator: `depth` ReLU layers of `filters` units.

Conditioning on the class label y:
- G gets y as a one-hot vector concatenated to z and, where it has batch norm, through
  class-conditional BN gains and biases (as in the official conditional model).
- The critic sees y twice. An auxiliary classifier head (AC-GAN, Odena et al. 2017)
  trained on real images gives G a class signal from the first iterations, which is
  what makes conditioning take hold on a CPU budget. A projection term <embed(y), phi(x)>
  (Miyato & Koyama 2018) makes the critic's value itself conditional, so the adversarial
  loss compares p(x|y), not only p(x).
"""

import torch
import torch.nn.functional as F
from torch import nn

N_CLASSES = 10
NONLINEARITIES = ("relu", "leaky_relu", "softplus", "tanh")
NORMS = ("none", "batch", "layer")
GENERATOR_TYPES = ("conv", "mlp")


class ScaledSoftplus(nn.Module):
    """softplus(2x + 2) / 2 - 1 (Table 1): a smooth ReLU shifted to pass near (-1, -1)."""

    def forward(self, x):
        return F.softplus(2 * x + 2) / 2 - 1


def make_nonlinearity(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "softplus":
        return ScaledSoftplus()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown nonlinearity {name!r}; choose one of {', '.join(NONLINEARITIES)}")


def critic_norm(norm: str, gradient_penalty: bool) -> str:
    """Batch norm couples the samples of a batch, which breaks WGAN-GP's per-sample
    penalty: a WGAN-GP critic uses layer norm where the architecture has a norm."""
    return "layer" if gradient_penalty and norm == "batch" else norm


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose gain and bias are looked up per class."""

    def __init__(self, features: int, n_classes: int, dims: int):
        super().__init__()
        self.bn = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(features, affine=False)
        self.gain = nn.Embedding(n_classes, features)
        self.bias = nn.Embedding(n_classes, features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x, y):
        shape = (len(x), -1) + (1,) * (x.dim() - 2)
        return self.bn(x) * self.gain(y).view(shape) + self.bias(y).view(shape)


class Block(nn.Module):
    """layer -> (conditional) norm -> nonlinearity."""

    def __init__(self, layer: nn.Module, norm: nn.Module | None, act: nn.Module):
        super().__init__()
        self.layer, self.norm, self.act = layer, norm, act

    def forward(self, x, y):
        x = self.layer(x)
        if isinstance(self.norm, ConditionalBatchNorm):
            x = self.norm(x, y)
        elif self.norm is not None:
            x = self.norm(x)
        return self.act(x)


class Generator(nn.Module):
    """(z (B, z_dim), y (B,)) -> images (B, 1, 28, 28) in [0, 1]."""

    def __init__(
        self,
        z_dim: int = 128,
        n_classes: int = N_CLASSES,
        type: str = "conv",
        depth: int = 4,
        filters: int = 64,
        nonlinearity: str = "relu",
        batch_norm: bool = True,
    ):
        super().__init__()
        if type not in GENERATOR_TYPES:
            raise ValueError(f"unknown generator type {type!r}; choose one of {', '.join(GENERATOR_TYPES)}")
        if depth < (4 if type == "conv" else 1):
            raise ValueError(f"{type} generator depth {depth} too small (conv: >= 4, mlp: >= 1)")
        self.cfg = dict(
            z_dim=z_dim,
            n_classes=n_classes,
            type=type,
            depth=depth,
            filters=filters,
            nonlinearity=nonlinearity,
            batch_norm=batch_norm,
        )
        self.z_dim, self.n_classes = z_dim, n_classes
        act = make_nonlinearity
        d = filters

        def norm(features, dims):
            return ConditionalBatchNorm(features, n_classes, dims) if batch_norm else None

        blocks = []
        if type == "conv":
            self.stem = Block(
                nn.Linear(z_dim + n_classes, 4 * 4 * 4 * d, bias=not batch_norm),
                norm(4 * 4 * 4 * d, 1),
                act(nonlinearity),
            )  # (B, 4d*16)
            up1 = nn.ConvTranspose2d(4 * d, 2 * d, 5, stride=2, padding=2, bias=not batch_norm)  # (B, 2d, 7, 7)
            up2 = nn.ConvTranspose2d(
                2 * d, d, 5, stride=2, padding=2, output_padding=1, bias=not batch_norm
            )  # (B, d, 14, 14)
            blocks.append(Block(up1, norm(2 * d, 2), act(nonlinearity)))
            extra = depth - 4
            # Extra stride-1 layers alternate between the 7x7 and the 14x14 stage.
            at7, at14 = (extra + 1) // 2, extra // 2
            for _ in range(at7):
                blocks.append(
                    Block(nn.Conv2d(2 * d, 2 * d, 3, padding=1, bias=not batch_norm), norm(2 * d, 2), act(nonlinearity))
                )  # (B, 2d, 7, 7)
            blocks.append(Block(up2, norm(d, 2), act(nonlinearity)))
            for _ in range(at14):
                blocks.append(
                    Block(nn.Conv2d(d, d, 3, padding=1, bias=not batch_norm), norm(d, 2), act(nonlinearity))
                )  # (B, d, 14, 14)
            out = nn.ConvTranspose2d(d, 1, 5, stride=2, padding=2, output_padding=1)  # (B, 1, 28, 28)
        else:
            self.stem = Block(
                nn.Linear(z_dim + n_classes, d, bias=not batch_norm), norm(d, 1), act(nonlinearity)
            )  # (B, d)
            for _ in range(depth - 1):
                blocks.append(Block(nn.Linear(d, d, bias=not batch_norm), norm(d, 1), act(nonlinearity)))
            out = nn.Linear(d, 28 * 28)  # (B, 784)
        self.blocks = nn.ModuleList(blocks)
        self.out = out

    def forward(self, z, y):
        h = self.stem(torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], 1), y)
        if self.cfg["type"] == "conv":
            h = h.view(len(z), -1, 4, 4)  # (B, 4d, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return torch.sigmoid(self.out(h)).view(len(z), 1, 28, 28)

    def config(self) -> dict:
        return dict(self.cfg)


class Critic(nn.Module):
    """(x (B, 1, 28, 28) or (B, 784), y (B,)) -> (critic value (B,), class logits (B, n_classes))."""

    def __init__(
        self,
        n_classes: int = N_CLASSES,
        depth: int = 4,
        filters: int = 64,
        nonlinearity: str = "leaky_relu",
        norm: str = "none",
        projection: bool = True,
    ):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown critic norm {norm!r}; choose one of {', '.join(NORMS)}")
        if depth < 4:
            raise ValueError(f"critic depth {depth} too small (>= 4)")
        self.cfg = dict(
            n_classes=n_classes,
            depth=depth,
            filters=filters,
            nonlinearity=nonlinearity,
            norm=norm,
            projection=projection,
        )
        act = make_nonlinearity
        d = filters

        def make_norm(channels):
            if norm == "batch":
                return nn.BatchNorm2d(channels)
            if norm == "layer":
                # Layer norm over (C, H, W) with a per-channel gain and bias, as the official code's.
                return nn.GroupNorm(1, channels)
            return None

        extra = depth - 4
        at14, at7 = (extra + 1) // 2, extra // 2
        # The first layer has no norm (DCGAN): normalizing raw pixels only removes information.
        layers = [Block(nn.Conv2d(1, d, 5, stride=2, padding=2), None, act(nonlinearity))]  # (B, d, 14, 14)
        for _ in range(at14):
            layers.append(Block(nn.Conv2d(d, d, 3, padding=1), make_norm(d), act(nonlinearity)))  # (B, d, 14, 14)
        layers.append(
            Block(nn.Conv2d(d, 2 * d, 5, stride=2, padding=2), make_norm(2 * d), act(nonlinearity))
        )  # (B, 2d, 7, 7)
        for _ in range(at7):
            layers.append(
                Block(nn.Conv2d(2 * d, 2 * d, 3, padding=1), make_norm(2 * d), act(nonlinearity))
            )  # (B, 2d, 7, 7)
        layers.append(
            Block(nn.Conv2d(2 * d, 4 * d, 5, stride=2, padding=2), make_norm(4 * d), act(nonlinearity))
        )  # (B, 4d, 4, 4)
        self.trunk = nn.ModuleList(layers)
        features = 4 * 4 * 4 * d
        self.value = nn.Linear(features, 1)  # (B, 1)
        self.embed = nn.Embedding(n_classes, features) if projection else None  # (B, 4d*16)
        if self.embed is not None:
            bound = features**-0.5  # the scale of the value head's init: the projection starts no louder
            nn.init.uniform_(self.embed.weight, -bound, bound)
        self.classifier = nn.Linear(features, n_classes)  # (B, 10)

    def features(self, x, y):
        h = x.reshape(len(x), 1, 28, 28)
        for layer in self.trunk:
            h = layer(h, y)
        return h.flatten(1)  # (B, 4d*16)

    def forward(self, x, y):
        phi = self.features(x, y)
        value = self.value(phi).squeeze(1)
        if self.embed is not None:
            value = value + (self.embed(y) * phi).sum(1)
        return value, self.classifier(phi)

    def critic_parameters(self):
        """The parameters of the critic function f(x, y): everything but the auxiliary
        classifier head, which is a classifier, not part of f (WGAN clips exactly these)."""
        return [p for name, p in self.named_parameters() if not name.startswith("classifier.")]

    def config(self) -> dict:
        return dict(self.cfg)


def build(
    generator: dict,
    critic: dict,
    z_dim: int,
    gradient_penalty: bool,
    projection: bool = True,
    n_classes: int = N_CLASSES,
):
    """(Generator, Critic) from architecture dicts as in params.yaml's gan.architectures.<name>."""
    g = Generator(z_dim=z_dim, n_classes=n_classes, **generator)
    c = dict(critic)
    c["norm"] = critic_norm(c.get("norm", "none"), gradient_penalty)
    return g, Critic(n_classes=n_classes, projection=projection, **c)


@torch.no_grad()
def standing_stats(g: Generator, generator: torch.Generator, batches: int = 8, batch_size: int = 500):
    """Re-estimate G's batch-norm statistics for sampling in eval mode.

    An EMA generator's weights are an average, so the running statistics of the
    generator being trained do not fit them. Averaging the batch statistics of a few
    large mixed-class batches of its own (momentum None = cumulative mean) does.
    """
    bns = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return g
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    g.train()
    for _ in range(batches):
        z = torch.randn(batch_size, g.z_dim, generator=generator)
        y = torch.randint(g.n_classes, (batch_size,), generator=generator)
        g(z, y)
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    return g.eval()


@torch.no_grad()
def sample(g: Generator, labels: torch.Tensor, generator: torch.Generator, batch_size: int = 1000):
    """Images (n, 1, 28, 28) in [0, 1] for the given labels, z ~ N(0, I) drawn from `generator`.

    All noise is drawn first, so the images do not depend on batch_size.
    """
    g.eval()
    z = torch.randn(len(labels), g.z_dim, generator=generator)
    out = [g(z[i : i + batch_size], labels[i : i + batch_size]) for i in range(0, len(labels), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 1, 28, 28)


def from_checkpoint(checkpoint: dict):
    """(generator, critic) in eval mode from a dict saved by the train_gan stage (weights_only)."""
    g = Generator(**checkpoint["generator_config"])
    g.load_state_dict(checkpoint["generator"])
    c = Critic(**checkpoint["critic_config"])
    c.load_state_dict(checkpoint["critic"])
    return g.eval(), c.eval()
