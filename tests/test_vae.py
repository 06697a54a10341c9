"""M1's VAE: the paper's shapes, a falling loss, and identical results for identical seeds."""

import pytest
import torch

from genstudy import vae
from genstudy.data import FILES
from tests.helpers.tiny_data import tiny_arrays


def tiny_tensors():
    arrays = tiny_arrays()
    train = torch.from_numpy(arrays[FILES["train_images"]].reshape(-1, 784)).float() / 255
    test = torch.from_numpy(arrays[FILES["test_images"]].reshape(-1, 784)).float() / 255
    return train, test


def test_architecture_is_the_papers():
    model = vae.VAE(784, 600, 50)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 600),
        (600, 600),
        (600, 50),
        (600, 50),
        (50, 600),
        (600, 600),
        (600, 784),
    ]
    assert sum(isinstance(m, torch.nn.Softplus) for m in model.modules()) == 4
    mu, logvar = model.encode(torch.rand(3, 784))
    assert mu.shape == logvar.shape == (3, 50)


def train_once(epochs=3, **kwargs):
    train, test = tiny_tensors()
    torch.manual_seed(0)
    model = vae.VAE(784, 32, 8)
    history = vae.train(model, train, test, epochs=epochs, batch_size=50, lr=3e-3, seed=0, progress=False, **kwargs)
    return model, history


def test_training_improves_the_elbo():
    _, history = train_once(epochs=6)
    assert history[-1]["train_elbo"] > history[0]["train_elbo"] + 20
    assert history[-1]["test_elbo"] > history[0]["test_elbo"]


def test_same_seed_same_numbers():
    a, ha = train_once(kl_warmup_epochs=2)
    b, hb = train_once(kl_warmup_epochs=2)
    assert ha == hb
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_kl_warmup_reaches_one():
    _, history = train_once(epochs=3, kl_warmup_epochs=2)
    assert history[0]["kl_weight"] < 1.0
    assert history[1]["kl_weight"] == history[2]["kl_weight"] == 1.0


def test_negative_elbo_matches_closed_form_kl():
    model = vae.VAE(784, 16, 4)
    x = torch.bernoulli(torch.full((5, 784), 0.3))
    _, kl, _ = vae.negative_elbo(model, x, torch.Generator().manual_seed(0))
    mu, logvar = model.encode(x)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, p).sum(1), atol=1e-5)


def test_checkpoint_reloads_with_weights_only(tmp_path):
    from genstudy.io import save_torch

    model, _ = train_once(epochs=1)
    save_torch({"config": model.config(), "state_dict": model.state_dict()}, tmp_path / "vae.pt")
    checkpoint = torch.load(tmp_path / "vae.pt", weights_only=True)
    again = vae.VAE(**checkpoint["config"])
    again.load_state_dict(checkpoint["state_dict"])
    x = torch.rand(4, 784)
    assert torch.equal(vae.encode_means(again, x), vae.encode_means(model, x))
    # The same weights give the same bytes (DVC sees an unchanged output when a stage reruns).
    save_torch({"config": model.config(), "state_dict": model.state_dict()}, tmp_path / "again.pt")
    assert (tmp_path / "again.pt").read_bytes() == (tmp_path / "vae.pt").read_bytes()


def test_load_model_gives_an_eval_model_and_names_the_stage_for_a_bad_file(tmp_path):
    from genstudy.io import LoadError, load_model, save_torch

    model, _ = train_once(epochs=1)
    save_torch({"config": model.config(), "state_dict": model.state_dict()}, tmp_path / "vae.pt")
    again = load_model(vae.VAE, tmp_path / "vae.pt", "train_vae")
    assert not again.training
    x = torch.rand(4, 784)
    assert torch.equal(vae.encode_means(again, x), vae.encode_means(model, x))
    (tmp_path / "text.pt").write_text("not a model")
    save_torch({"config": {"x_dim": 784}, "state_dict": {}}, tmp_path / "partial.pt")
    for name in ("text.pt", "partial.pt", "missing.pt"):
        message = f"{name} is not a VAE checkpoint written by train_vae .*; delete it and run `dvc repro train_vae`"
        with pytest.raises(LoadError, match=message):
            load_model(vae.VAE, tmp_path / name, "train_vae")
    target = "pipelines/m1/dvc.yaml:train_vae"  # the stages name the target DVC takes at the root
    with pytest.raises(LoadError, match=f"delete it and run `dvc repro {target}`"):
        load_model(vae.VAE, tmp_path / "text.pt", target)
