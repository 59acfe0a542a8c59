"""Linear probes: a multinomial logistic regression on frozen features, used by the backbone's verb
probe (stage 1), the probe table of the cached event tokens (stage 2) and the benchmark's tests."""

import torch
import torch.nn.functional as F
from torch import nn

IGNORE = -100  # label of an example the probe leaves out (its class is not in the vocabulary)


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight_decay: float) -> nn.Linear:
    """Multinomial logistic regression, full batch L-BFGS; examples labelled IGNORE are left out.

    Shape: features (N, D) float, ideally standardised; labels (N,) long.
    """
    keep = labels != IGNORE
    x, y = features[keep], labels[keep]
    probe = nn.Linear(x.shape[1], num_classes)
    optimizer = torch.optim.LBFGS(probe.parameters(), lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(probe(x), y) + weight_decay * probe.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return probe


def standardizer(train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the training features, per dimension; std floored so constant dims stay finite."""
    return train.mean(0), train.std(0) + 1e-6  # (D,), (D,)


def probe_accuracy(
    train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, test_labels: torch.Tensor, weight_decay=1e-3
) -> float:
    """Test accuracy of a linear probe fit on the standardised training features (IGNORE labels skipped).

    Shape: train (N, D), test (M, D); labels (N,), (M,) long with classes 0..C-1 or IGNORE.
    """
    mean, std = standardizer(train)
    num_classes = int(torch.cat([train_labels, test_labels]).max()) + 1
    probe = fit_linear_probe((train - mean) / std, train_labels, num_classes, weight_decay)
    keep = test_labels != IGNORE
    with torch.no_grad():
        predicted = probe((test[keep] - mean) / std).argmax(1)  # (M',)
    return (predicted == test_labels[keep]).float().mean().item()
