"""Backbone training data: frames keep their aspect ratio, each view is a random square of them (repeated
for the same seed, epoch and item), flow is cut at its RGB view's offset, the memory estimate counts the
real frame size."""

from pathlib import Path

import numpy as np
import pytest

from hiermovie.datasets.video_folder import LabeledVideo
from hiermovie.extract.data import ClipSampling, VideoClips, crop_flow, decode_into_memory
from hiermovie.extract.motion import farneback_flow
from hiermovie.video.decode import square_crop, write_video

FRAMES, HEIGHT, WIDTH, SIZE = 40, 64, 114, 64  # a 16:9 video with its short side at 64
TEXTURE = np.random.default_rng(1).permutation(256)[:WIDTH]  # (W,) a distinct value in every column


def stored_frames(seed: int) -> np.ndarray:
    """Frames as `decode_into_memory` keeps them, (N, H, W, 3) uint8: red is the column's `TEXTURE` value,
    green 5 x the frame index, blue noise (for Farneback)."""
    frames = np.empty((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
    frames[..., 0] = TEXTURE
    frames[..., 1] = 5 * np.arange(FRAMES)[:, None, None]
    frames[..., 2] = np.random.default_rng(seed).integers(0, 256, (FRAMES, HEIGHT, WIDTH))
    return frames


def in_memory_clips(motion: str = "diff", flow_dir: Path | None = None, seed: int = 0, items: int = 6) -> VideoClips:
    videos = [LabeledVideo(Path(f"video{i}.mp4"), 0, "verb") for i in range(items)]
    sampling = ClipSampling(num_frames=4, sampling_rate=2, size=SIZE, views=2, motion=motion, flow_dir=flow_dir)
    memory = {video.path: stored_frames(i) for i, video in enumerate(videos)}
    return VideoClips(videos, sampling, seed=seed, in_memory=memory)


def offset_of(square: np.ndarray) -> int:
    """Where along the width a (.., SIZE, SIZE, 3) square of `stored_frames` starts."""
    offset = int(np.flatnonzero(TEXTURE == square[..., 0, 0, 0].flat[0])[0])
    assert (square[..., 0] == TEXTURE[offset : offset + SIZE]).all()
    return offset


def frame_indices(clip: np.ndarray) -> np.ndarray:
    """The frame indices of a (T, S, S, 3) clip of `stored_frames`. Shape: (T,)."""
    return clip[:, 0, 0, 1].astype(np.int64) // 5


def test_each_view_is_a_random_square_repeated_for_the_same_seed_epoch_and_item():
    clips = in_memory_clips()
    items = [clips[i]["clips"].numpy() for i in range(len(clips))]
    assert all(item.shape == (2, 4, SIZE, SIZE, 3) for item in items)
    offsets = [offset_of(view) for item in items for view in item]
    assert len(set(offsets)) >= 6 and max(offsets) - min(offsets) >= WIDTH // 4  # spread across the width
    again = in_memory_clips()
    assert all((again[i]["clips"].numpy() == items[i]).all() for i in range(len(clips)))
    again.epoch = 1
    assert [offset_of(view) for i in range(len(clips)) for view in again[i]["clips"].numpy()] != offsets


def test_a_square_video_is_not_cropped():
    videos = [LabeledVideo(Path("square.mp4"), 0, "verb")]
    frames = stored_frames(0)[:, :, :SIZE]  # (N, S, S, 3)
    item = VideoClips(videos, ClipSampling(4, 2, SIZE, views=2), in_memory={videos[0].path: frames})[0]
    assert offset_of(item["clips"].numpy()[0]) == offset_of(item["clips"].numpy()[1]) == 0


def test_farneback_flow_is_cut_at_its_views_offset():
    item = in_memory_clips("farneback")[0]
    assert item["flow"].shape == (2, 4, SIZE, SIZE, 3)
    for clip, flow in zip(item["clips"].numpy(), item["flow"].numpy(), strict=True):
        whole = stored_frames(0)[frame_indices(clip)]  # (T, H, W, 3)
        np.testing.assert_array_equal(flow, square_crop(farneback_flow(whole), offset_of(clip)))


@pytest.mark.parametrize(
    "flow_hw, crop_hw",
    [
        ((HEIGHT, WIDTH), (SIZE, SIZE)),  # the frames' size: the same pixels
        ((2 * HEIGHT, 2 * WIDTH), (2 * SIZE, 2 * SIZE)),  # twice the size: offset and side doubled
        ((90, 160), (90, 90)),  # another size: 64 * 160 / 114 = 89.8
    ],
)
def test_flow_files_are_cut_where_their_view_was(tmp_path, flow_hw, crop_hw):
    rows, columns = np.mgrid[: flow_hw[0], : flow_hw[1]]  # (h, w) each
    index = np.arange(FRAMES, dtype=np.float32)[:, None, None]  # (N, 1, 1)
    flow = np.stack(np.broadcast_arrays(columns[None], rows[None], index), axis=-1).astype(np.float32)  # (N, h, w, 3)
    for i in range(3):
        np.save(tmp_path / f"video{i}.npy", flow)
    clips = in_memory_clips("flow_files", tmp_path, items=3)
    for i in range(len(clips)):
        item = clips[i]
        assert item["flow"].shape == (2, 4, *crop_hw, 3)
        for clip, cut in zip(item["clips"].numpy(), item["flow"].numpy(), strict=True):
            np.testing.assert_array_equal(cut[:, 0, 0, 2], frame_indices(clip))  # the view's frames
            assert cut[0, 0, 0, 0] == round(offset_of(clip) * flow_hw[1] / WIDTH) and cut[0, 0, 0, 1] == 0


def test_crop_flow_on_portrait_frames():
    flow = np.arange(2 * 10 * 4 * 3, dtype=np.float32).reshape(2, 10, 4, 3)  # (T, h, w, 3), frames (20, 8)
    np.testing.assert_array_equal(crop_flow(flow, (20, 8), 6), flow[:, 3:7])
    np.testing.assert_array_equal(crop_flow(flow, (20, 8), 12), flow[:, 6:10])
    np.testing.assert_array_equal(crop_flow(flow[:, :, :2], (10, 2), 8), flow[:, 8:10, :2])  # the same size


@pytest.fixture(scope="module")
def widescreen_videos(tmp_path_factory) -> list[LabeledVideo]:
    """Two 320x180 videos of 12 frames: a horizontal grey ramp that brightens with the frame index."""
    out = tmp_path_factory.mktemp("wide")
    ramp = np.linspace(0, 200, 320, dtype=np.uint8)[None, :, None]  # (1, W, 1)
    videos = []
    for i in range(2):
        write_video(out / f"wide{i}.mp4", [np.broadcast_to(ramp + 4 * t, (180, 320, 3)).copy() for t in range(12)])
        videos.append(LabeledVideo(out / f"wide{i}.mp4", i, f"verb{i}"))
    return videos


def test_decoded_and_in_memory_videos_give_the_same_squares(widescreen_videos):
    memory = decode_into_memory(widescreen_videos, SIZE, jobs=1, budget_bytes=2**20, progress=False)
    assert {path: frames.shape for path, frames in memory.items()} == {
        video.path: (12, SIZE, WIDTH, 3) for video in widescreen_videos
    }
    sampling = ClipSampling(4, 2, SIZE, views=2)
    decoded, stored = VideoClips(widescreen_videos, sampling), VideoClips(widescreen_videos, sampling, in_memory=memory)
    for i in range(len(widescreen_videos)):
        assert decoded[i]["clips"].shape == (2, 4, SIZE, SIZE, 3)
        np.testing.assert_array_equal(decoded[i]["clips"], stored[i]["clips"])


def test_the_memory_estimate_counts_the_whole_width(widescreen_videos):
    whole = len(widescreen_videos) * 12 * SIZE * WIDTH * 3  # 525,312 bytes; as squares 294,912
    assert decode_into_memory(widescreen_videos, SIZE, jobs=1, budget_bytes=whole - 1, progress=False) is None
    assert decode_into_memory(widescreen_videos, SIZE, jobs=1, budget_bytes=whole, progress=False) is not None
