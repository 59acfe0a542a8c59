"""ROI averaging of res5 maps over instance boxes, and the window that holds each second."""

import numpy as np
import pytest
import torch

from hiermovie.errors import InputFileError
from hiermovie.extract.instances import read_instances, roi_average, window_of_second


def test_a_box_over_the_whole_map_is_its_mean_and_a_cell_box_its_value():
    maps = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)  # (W, D, h, w)
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.25, 0.5, 0.5, 0.75]])
    pooled = roi_average(maps, torch.tensor([1, 0]), boxes)  # (2, D)
    assert torch.allclose(pooled[0], maps[1].mean(dim=(1, 2)))
    assert torch.allclose(pooled[1], maps[0, :, 2, 1])  # the cell at row 2, column 1, sampled inside it
    assert roi_average(maps, torch.zeros(0, dtype=torch.long), torch.zeros(0, 4)).shape == (0, 3)


def test_constant_maps_give_the_constant_for_any_box():
    maps = torch.full((1, 5, 2, 2), 3.5)
    boxes = torch.tensor([[0.1, 0.2, 0.35, 0.9], [0.6, 0.0, 0.61, 0.05]])
    assert torch.allclose(roi_average(maps, torch.tensor([0, 0]), boxes), torch.full((2, 5), 3.5))


@pytest.mark.parametrize(
    "seconds, expected",
    [([0, 1, 2, 9], [0, 0, 1, 4]), ([10, 12], [4, 4])],  # windows [0,2) [2,4) ... [8,10); later seconds: the last
)
def test_window_of_second(seconds, expected):
    starts, ends = np.arange(0, 10, 2.0), np.arange(2, 12, 2.0)
    assert window_of_second(np.array(seconds, float), starts, ends).tolist() == expected


def test_unreadable_instance_file(tmp_path):
    path = tmp_path / "v.json"
    path.write_text('{"instances": [{"sec": 1}]}')
    with pytest.raises(InputFileError, match="v.json: not a readable instance-track file"):
        read_instances(path)
