"""The shared linear probe: it separates what is linearly separable, skips IGNORE, and standardises
with the training statistics only."""

import torch

from hiermovie.linear_probe import IGNORE, fit_linear_probe, probe_accuracy, standardizer


def _blobs(n: int, seed: int, shift: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian blobs in 5-d, one per class, `shift` apart along different axes."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3  # (N,)
    x = torch.randn(n, 5, generator=generator)  # (N, 5)
    x[torch.arange(n), labels] += shift
    return x, labels


def test_separable_classes_are_read_and_noise_is_not():
    train, test = _blobs(90, 0), _blobs(60, 1)
    assert probe_accuracy(*train, *test) > 0.95
    noise_train = (torch.randn(90, 5, generator=torch.Generator().manual_seed(2)), train[1])
    noise_test = (torch.randn(60, 5, generator=torch.Generator().manual_seed(3)), test[1])
    assert probe_accuracy(*noise_train, *noise_test) < 0.6


def test_ignored_examples_are_neither_fit_nor_scored():
    (x, y), (tx, ty) = _blobs(90, 0), _blobs(60, 1)
    poisoned = y.clone()
    poisoned[:30] = IGNORE
    x_poisoned = x.clone()
    x_poisoned[:30] = 1e6  # would wreck the fit if these rows were used
    ty_ignored = ty.clone()
    ty_ignored[::2] = IGNORE
    probe = fit_linear_probe(x_poisoned, poisoned, 3, weight_decay=1e-3)
    assert torch.isfinite(probe.weight).all()
    assert probe_accuracy(x, y, tx, ty_ignored) > 0.95


def test_standardizer_uses_per_dimension_statistics_and_survives_constant_columns():
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    mean, std = standardizer(x)
    torch.testing.assert_close(mean, torch.tensor([2.0, 5.0]))
    assert std[1] > 0 and torch.isfinite((x - mean) / std).all()
