"""Coded test videos: every frame carries its own index in a binary strip (see datasets/synth/framecode)."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from hiermovie.datasets.synth.framecode import draw_frame_code
from hiermovie.video.decode import write_video


def _coded_frames(num_frames: int, size: int):
    """Frames (size, size, 3) uint8: a two-tone background that drifts with the index, plus the code strip."""
    for index in range(num_frames):
        frame = np.empty((size, size, 3), np.uint8)
        frame[:] = (40 + index % 100, 120, 200)
        frame[: size // 3] = (200, 80 + index % 100, 60)
        draw_frame_code(frame, index)
        yield frame


def _write_coded_video(path: Path, num_frames: int, size: int, fps: int | Fraction = 30) -> Path:
    write_video(path, _coded_frames(num_frames, size), fps=fps)
    return path


@pytest.fixture(scope="session")
def write_coded_video():
    """`write_coded_video(path, num_frames, size, fps=30) -> path`, for tests that need their own video."""
    return _write_coded_video


@pytest.fixture(scope="session")
def coded_video(tmp_path_factory) -> Path:
    """90 frames, 64x64, 30 fps."""
    return _write_coded_video(tmp_path_factory.mktemp("coded") / "coded64.mp4", 90, 64)


@pytest.fixture(scope="session")
def coded_video_112(tmp_path_factory) -> Path:
    """90 frames, 112x112, 30 fps."""
    return _write_coded_video(tmp_path_factory.mktemp("coded") / "coded112.mp4", 90, 112)


@pytest.fixture(scope="session")
def widescreen_video(tmp_path_factory) -> Path:
    """12 frames, 320x180 (16:9), 30 fps: black with a white 90x90 square in the centre."""
    frame = np.zeros((180, 320, 3), np.uint8)
    frame[45:135, 115:205] = 255
    path = tmp_path_factory.mktemp("wide") / "wide320x180.mp4"
    write_video(path, [frame] * 12)
    return path
