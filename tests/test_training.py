"""The shared training loop stops on a loss that is not finite and keeps the last good checkpoint."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from hiermovie.checkpoint import load_checkpoint
from hiermovie.distributed import Distributed
from hiermovie.errors import HiermovieError
from hiermovie.extract.config import BACKBONE_PROFILES
from hiermovie.training import fit


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_loss_that_is_not_finite_stops_training_and_the_last_checkpoint_stays(bad, tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(8, 3)

    def step(net, batch, index):
        loss = net(x).pow(2).mean()
        return (loss * bad if index == 3 else loss), {}  # the 4th step's loss is NaN / Inf

    with pytest.raises(HiermovieError) as stopped:
        fit(
            model=model,
            optimizer=optimizer,
            lr_schedule=np.full(10, 0.1),
            steps_per_epoch=5,
            stop_step=10,
            batches=lambda epoch, skip: ({} for _ in range(skip, 5)),
            step=step,
            out=tmp_path,
            kind="toy",
            config=BACKBONE_PROFILES["tiny"],
            dist=Distributed(0, 1, torch.device("cpu")),
            checkpoint_every=1,
            progress=False,
        )
    message = str(stopped.value)
    assert f"loss is {bad} at step 4" in message and str(tmp_path / "checkpoint.pt") in message
    saved = load_checkpoint(tmp_path / "checkpoint.pt", "toy")
    assert saved["step"] == 3  # the last good step, its weights finite and equal to the model's
    assert all(torch.isfinite(v).all() for v in saved["model"].values())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in saved["model"].items())
