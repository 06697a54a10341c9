"""The judge: Frechet distance against closed forms and scipy, accuracy and diversity, training on tiny data."""

import copy

import numpy as np
import pytest
import torch
from scipy import linalg

from genstudy import judge
from genstudy.data import FILES
from tests.helpers.tiny_data import tiny_arrays

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.01 * np.eye(d)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert judge.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=20), rng.normal(size=20)
    c1, c2 = random_cov(rng, 20), random_cov(rng, 20)
    root = linalg.sqrtm(c1 @ c2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * root)
    assert judge.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-8)
    assert judge.frechet_distance(mu2, c2, mu1, c1) == pytest.approx(expected, rel=1e-8)  # symmetric


def test_frechet_distance_of_a_set_with_itself_is_zero_and_a_shift_adds_its_square():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    mu, cov = judge.gaussian(f)
    assert abs(judge.frechet_distance(mu, cov, mu, cov)) < 1e-8
    shift = np.arange(8) / 4
    mu2, cov2 = judge.gaussian(f + shift)
    assert judge.frechet_distance(mu, cov, mu2, cov2) == pytest.approx(np.sum(shift**2), rel=1e-6)


def test_accuracy_per_class_and_spread():
    predicted, labels = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]
    assert judge.accuracy(predicted, labels) == pytest.approx(4 / 6)
    assert judge.per_class_accuracy(predicted, labels, 3) == pytest.approx([0.5, 0.5, 1.0])
    spread = judge.within_class_spread(np.array([[0, 0], [3, 4], [1, 1], [1, 1]]), [0, 0, 1, 1], 3)
    assert spread[:2] == pytest.approx([5.0, 0.0]) and np.isnan(spread[2])


def test_augment_shifts_whole_images_and_never_mirrors():
    x = torch.zeros(64, 1, 28, 28)
    x[:, 0, 12:16, 10:13] = torch.rand(64, 1, 1)  # a blob away from the border: it survives any 2-px shift
    x[:, 0, 12, 10] = 1.0  # its top-left pixel marks the orientation
    out = judge.augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.allclose(out.sum((1, 2, 3)), x.sum((1, 2, 3)))
    assert not torch.equal(out, x)
    for image in out[:, 0]:
        rows, cols = torch.nonzero(image == 1.0, as_tuple=True)
        blob_rows, blob_cols = torch.nonzero(image > 0, as_tuple=True)
        assert rows.item() == blob_rows.min().item() and cols.item() == blob_cols.min().item()  # still top-left


def tiny():
    arrays = tiny_arrays()
    f = lambda k: torch.from_numpy(arrays[FILES[k]].reshape(-1, 784)).float() / 255  # noqa: E731
    g = lambda k: arrays[FILES[k]].astype(np.int64)  # noqa: E731
    return f("train_images"), g("train_labels"), f("test_images"), g("test_labels")


def train_tiny(seed=0):
    train_x, train_y, test_x, test_y = tiny()
    torch.manual_seed(seed)
    model = judge.Judge(width=8, features=16)
    # No augmentation: the tiny classes differ by a 2-pixel shift of their band.
    history = judge.train(
        model,
        train_x,
        train_y,
        test_x,
        test_y,
        epochs=3,
        batch_size=32,
        lr=0.01,
        weight_decay=0.0,
        seed=seed,
        augment_images=False,
        progress=False,
    )
    return model, history


def test_judge_learns_the_tiny_classes_and_is_deterministic():
    model, history = train_tiny()
    assert history[-1]["test_accuracy"] > 0.9
    again, history2 = train_tiny()
    assert history == history2
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_judge_runs_channels_last_with_the_numbers_of_the_default_layout():
    torch.manual_seed(0)
    model = judge.Judge(width=4, features=8).eval()
    assert model.convs[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    loaded = judge.Judge(width=4, features=8).eval()
    loaded.load_state_dict({k: v.contiguous() for k, v in model.state_dict().items()})  # as a saved judge loads
    assert loaded.convs[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    plain = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    x = torch.rand(6, 784)
    with torch.no_grad():
        expected = plain.head(plain.penultimate(plain.convs(x.reshape(6, 1, 28, 28))))
        assert torch.allclose(model(x), expected, atol=1e-5)
        assert torch.equal(loaded(x), model(x))


def test_pool_before_relu_trains_the_same_weights_as_relu_before_pool():
    # The judge pools before its ReLU to save time; max and ReLU commute, so training must not change.
    def trained(swap):
        torch.manual_seed(0)
        model = judge.Judge(width=4, features=8)
        if swap:
            for block in model.convs:
                block[2], block[3] = block[3], block[2]
        assert isinstance(model.convs[0][2 if swap else 3], torch.nn.ReLU)
        train_x, train_y, _, _ = tiny()
        judge.train(
            model, train_x, train_y, None, None, epochs=2, batch_size=32, lr=0.01, weight_decay=0.0, seed=0,
            progress=False,
        )  # fmt: skip
        return model.state_dict()

    pooled_first, relu_first = trained(False), trained(True)
    for k in pooled_first:
        assert torch.equal(pooled_first[k], relu_first[k]), k


def test_the_test_set_is_scored_after_the_last_epoch_only():
    _, history = train_tiny()
    assert [("test_accuracy" in row) for row in history] == [False, False, True]


def test_report_of_real_images_against_themselves():
    model, _ = train_tiny()
    _, _, test_x, test_y = tiny()
    feats, logits = judge.embed(model, test_x)
    assert feats.shape == (len(test_x), 16) and logits.shape == (len(test_x), 10)
    reference = judge.Reference(model, test_x, test_y)
    names = [f"c{i}" for i in range(10)]
    r = judge.report(model, test_x, test_y, reference, names)
    assert abs(r["frechet_distance"]) < 1e-6 and r["diversity"] == pytest.approx(1.0)
    assert r["judge_accuracy"] == pytest.approx(reference.accuracy)
    assert list(r["per_class_accuracy"]) == names
    # One image per class, repeated: perfect diversity loss, and a large distance.
    firsts = torch.stack([test_x[np.flatnonzero(test_y == c)[0]] for c in range(10)]).repeat_interleave(10, 0)
    collapsed = judge.report(model, firsts, np.repeat(np.arange(10), 10), reference, names)
    assert collapsed["diversity"] == pytest.approx(0.0, abs=1e-6)
    assert collapsed["frechet_distance"] > 0.01
    # unconditional samples get only the distance
    assert set(judge.report(model, test_x, None, reference)) == {"frechet_distance", "n"}
