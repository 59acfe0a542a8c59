"""Every training run of the shared loop writes its scalars as TensorBoard event files: loss, lr, the chance
line, the validation metric of each epoch; a resumed run shows every step once; without the tensorboard
package training runs as before and says so once."""

import sys

import numpy as np
import pytest
import torch
from torch import nn

from hiermovie import tensorboard_log
from hiermovie.distributed import Distributed
from hiermovie.extract.config import BACKBONE_PROFILES
from hiermovie.runlog import read_log
from hiermovie.training import fit

SCHEDULE = np.linspace(0.1, 0.02, 8)  # (8,) one learning rate per step
X = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))  # (16, 3)


def train(out, stop_step=8, fail_at=None, chance=None):
    """A linear model fitted by the shared loop: 2 epochs of 4 steps, a checkpoint every 2 steps; `fail_at`:
    the step index whose step raises (a run stopped there); the validation metric is 10 x the epoch."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1)

    def step(net, batch, index):
        if index == fail_at:
            raise RuntimeError("stopped")
        return net(X[index * 2 : index * 2 + 2]).pow(2).mean(), {"half": 0.5}

    return fit(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        lr_schedule=SCHEDULE,
        steps_per_epoch=4,
        stop_step=stop_step,
        batches=lambda epoch, skip: ({} for _ in range(skip, 4)),
        step=step,
        out=out,
        kind="toy",
        config=BACKBONE_PROFILES["tiny"],
        dist=Distributed(0, 1, torch.device("cpu")),
        checkpoint_every=2,
        epoch_end=lambda epoch: {"metric": 10.0 * epoch},
        progress=False,
        chance_loss=chance,
    )


def test_the_event_files_hold_every_logged_scalar_at_its_step(tmp_path, tensorboard_scalars):
    train(tmp_path, chance=0.7)
    scalars = tensorboard_scalars(tmp_path / "tensorboard")
    log = read_log(tmp_path / "log.jsonl")
    assert [step for step, _ in scalars["loss"]] == list(range(1, 9))
    assert [value for _, value in scalars["loss"]] == pytest.approx([r["loss"] for r in log], rel=1e-6)
    assert [value for _, value in scalars["lr"]] == pytest.approx(SCHEDULE.tolist(), rel=1e-6)
    assert scalars["metric"] == [(4, 0.0), (8, 10.0)]  # epoch_end's metric, at each epoch's last step
    assert [value for _, value in scalars["chance_loss"]] == pytest.approx([0.7] * 8)  # a constant line
    assert {value for _, value in scalars["half"]} == {0.5}  # the step's own terms


def test_a_run_stopped_and_resumed_shows_each_step_once(tmp_path, tensorboard_scalars):
    with pytest.raises(RuntimeError, match="stopped"):
        train(tmp_path / "resumed", fail_at=5)  # steps 1-5 logged, the checkpoint holds 4
    train(tmp_path / "resumed")
    train(tmp_path / "straight")
    resumed, straight = (tensorboard_scalars(tmp_path / run / "tensorboard") for run in ("resumed", "straight"))
    del resumed["seconds"], straight["seconds"]  # wall-clock time of a step
    assert resumed == straight and [step for step, _ in resumed["loss"]] == list(range(1, 9))
    # step 5 is in the files twice; TensorBoard hides the first attempt's from the restart on
    unpurged = tensorboard_scalars(tmp_path / "resumed" / "tensorboard", purge=False)
    assert [step for step, _ in unpurged["loss"]] == [1, 2, 3, 4, 5, 5, 6, 7, 8]


def test_without_tensorboard_training_runs_and_says_once_that_it_is_off(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # `import` of it raises ImportError
    monkeypatch.setitem(tensorboard_log._said, "off", False)
    for run in ("a", "b"):
        assert train(tmp_path / run)["step"] == 8 and len(read_log(tmp_path / run / "log.jsonl")) == 8
    assert capsys.readouterr().err.count("pip install tensorboard") == 1
    assert not (tmp_path / "a" / "tensorboard").exists()
