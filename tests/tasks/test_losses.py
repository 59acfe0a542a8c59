import math

import pytest
import torch

from hiermovie.tasks.losses import sequence_cross_entropy


def test_sequence_cross_entropy_is_the_mean_negative_log_likelihood_of_non_pad_targets():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4)
    targets = torch.tensor([[1, 3, 0], [0, 2, 2]])  # 0 = pad
    terms = []
    for b in range(2):
        for t in range(3):
            if targets[b, t] != 0:
                row = logits[b, t].tolist()
                log_norm = math.log(sum(math.exp(x) for x in row))
                terms.append(log_norm - row[targets[b, t]])
    assert sequence_cross_entropy(logits, targets, pad_id=0).item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)
