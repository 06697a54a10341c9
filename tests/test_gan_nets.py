"""Generators and critics: the paper's shapes for both presets, the Table 1 axes, conditioning that is wired in."""

import pytest
import torch
import yaml
from torch import nn

from genstudy.gan import nets
from tests.helpers.project import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PRESETS = yaml.safe_load((ROOT / "params.yaml").read_text())["gan"]["architectures"]


@pytest.mark.parametrize("arch", ["dcgan", "mlp_g"])
@pytest.mark.parametrize("penalty", [False, True])
def test_presets_give_images_and_critic_outputs_of_the_right_shapes(arch, penalty):
    torch.manual_seed(0)
    g, d = nets.build(PRESETS[arch]["generator"], PRESETS[arch]["critic"], z_dim=128, gradient_penalty=penalty)
    z, y = torch.randn(5, 128), torch.arange(5)
    x = g(z, y)
    assert x.shape == (5, 1, 28, 28)
    assert 0 <= x.min() and x.max() <= 1
    value, logits = d(x, y)
    assert value.shape == (5,) and logits.shape == (5, 10)
    # the critic takes flat images as well
    assert torch.allclose(d.eval()(x.reshape(5, 784), y)[0], d(x, y)[0])


def test_dcgan_preset_is_the_official_28x28_model_at_its_width():
    spec = PRESETS["dcgan"]
    g, d = nets.build(spec["generator"], spec["critic"], z_dim=128, gradient_penalty=False)
    dim = spec["generator"]["filters"]
    deconvs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in deconvs] == [
        (4 * dim, 2 * dim, (5, 5)),
        (2 * dim, dim, (5, 5)),
        (dim, 1, (5, 5)),
    ]
    assert g.stem.layer.out_features == 4 * 4 * 4 * dim
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.stride) for m in convs] == [
        (1, dim, (2, 2)),
        (dim, 2 * dim, (2, 2)),
        (2 * dim, 4 * dim, (2, 2)),
    ]
    assert sum(isinstance(m, nets.ConditionalBatchNorm) for m in g.modules()) == 3
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 2  # none on the first layer
    assert sum(isinstance(m, nn.LeakyReLU) for m in d.modules()) == 3


def test_mlp_g_preset_is_four_hidden_relu_layers_of_512():
    spec = PRESETS["mlp_g"]
    g, _ = nets.build(spec["generator"], spec["critic"], z_dim=128, gradient_penalty=False)
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (138, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 784),
    ]
    assert sum(isinstance(m, nn.ReLU) for m in g.modules()) == 4
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in g.modules())


def test_wgan_gp_critic_has_layer_norm_instead_of_batch_norm():
    spec = PRESETS["dcgan"]["critic"]
    assert spec["norm"] == "batch"
    _, d = nets.build(PRESETS["dcgan"]["generator"], spec, z_dim=16, gradient_penalty=True)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in d.modules()) == 2
    # Layer norm keeps samples independent: a sample's critic value does not depend on its batch.
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    assert torch.allclose(d(x, y)[0][:2], d(x[:2], y[:2])[0], atol=1e-6)


@pytest.mark.parametrize("depth", [4, 5, 8])
def test_depth_adds_layers_and_keeps_shapes(depth):
    g = nets.Generator(z_dim=8, depth=depth, filters=4)
    d = nets.Critic(depth=depth, filters=4, norm="layer")

    def weight_layers(module):
        return sum(isinstance(k, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) for k in module.modules())

    assert weight_layers(g) == depth
    assert weight_layers(d) == depth + 1  # the value head is one of the depth layers; + the classifier head
    x = g(torch.randn(3, 8), torch.tensor([0, 1, 2]))
    assert x.shape == (3, 1, 28, 28) and d(x, torch.tensor([0, 1, 2]))[0].shape == (3,)


@pytest.mark.parametrize("name", nets.NONLINEARITIES)
def test_every_nonlinearity_builds(name):
    g = nets.Generator(z_dim=8, filters=4, nonlinearity=name, batch_norm=False)
    assert g(torch.randn(2, 8), torch.tensor([3, 4])).shape == (2, 1, 28, 28)


def test_scaled_softplus_is_the_papers_formula():
    x = torch.linspace(-5, 5, 11)
    expected = torch.log1p(torch.exp(2 * x + 2)) / 2 - 1
    assert torch.allclose(nets.ScaledSoftplus()(x), expected, atol=1e-6)


def test_the_label_changes_what_g_draws_and_what_the_critic_says():
    torch.manual_seed(0)
    for generator in (
        nets.Generator(z_dim=8, filters=4),
        nets.Generator(z_dim=8, type="mlp", filters=16, batch_norm=False),
    ):
        generator.eval()
        z = torch.randn(1, 8).repeat(2, 1)
        a, b = generator(z, torch.tensor([0, 7]))
        assert (a - b).abs().max() > 1e-4
    d = nets.Critic(filters=4, projection=True).eval()
    x = torch.rand(1, 784).repeat(2, 1)
    values, logits = d(x, torch.tensor([0, 7]))
    assert values[0] != values[1]  # the projection term
    assert torch.equal(logits[0], logits[1])  # the classifier sees only the image


def test_critic_parameters_leave_out_only_the_classifier_head():
    d = nets.Critic(filters=4)
    names = {n for n, _ in d.named_parameters()}
    kept = {id(p) for p in d.critic_parameters()}
    dropped = {n for n, p in d.named_parameters() if id(p) not in kept}
    assert dropped == {"classifier.weight", "classifier.bias"} and len(names) == len(kept) + 2


def test_standing_stats_make_eval_samples_independent_of_the_batch():
    torch.manual_seed(0)
    g = nets.Generator(z_dim=8, filters=4)
    nets.standing_stats(g, torch.Generator().manual_seed(0), batches=2, batch_size=50)
    assert not g.training
    z, y = torch.randn(6, 8), torch.arange(6)
    assert torch.allclose(g(z, y)[:2], g(z[:2], y[:2]), atol=1e-6)
    bn = next(m for m in g.modules() if isinstance(m, nn.BatchNorm2d))
    assert bn.num_batches_tracked == 2 and bn.momentum == 0.1


def test_sample_is_reproducible_and_checkpoint_round_trips(tmp_path):
    torch.manual_seed(0)
    g, d = nets.build({"filters": 4}, {"filters": 4, "norm": "batch"}, z_dim=8, gradient_penalty=False)
    labels = torch.tensor([1, 1, 5])
    a = nets.sample(g, labels, torch.Generator().manual_seed(3))
    assert torch.equal(a, nets.sample(g, labels, torch.Generator().manual_seed(3)))
    # the noise is drawn before batching: the batch size changes nothing beyond float rounding
    assert torch.allclose(a, nets.sample(g, labels, torch.Generator().manual_seed(3), batch_size=2), atol=1e-6)
    torch.save(
        {
            "generator_config": g.config(),
            "generator": g.state_dict(),
            "critic_config": d.config(),
            "critic": d.state_dict(),
        },
        tmp_path / "gan.pt",
    )
    g2, d2 = nets.from_checkpoint(torch.load(tmp_path / "gan.pt", weights_only=True))
    assert torch.equal(nets.sample(g2, labels, torch.Generator().manual_seed(3)), a)
    assert torch.equal(d2(a, labels)[0], d.eval()(a, labels)[0])


def test_bad_axes_are_refused_by_name():
    with pytest.raises(ValueError, match="nonlinearity 'swish'"):
        nets.Generator(nonlinearity="swish")
    with pytest.raises(ValueError, match="critic norm 'instance'"):
        nets.Critic(norm="instance")
    with pytest.raises(ValueError, match="depth 3"):
        nets.Generator(depth=3)
