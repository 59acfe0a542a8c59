"""Decoding for backbone training: each item decodes its clips in one call (in DataLoader workers), or
indexes the frames of videos decoded into memory once; a video that cannot be read is skipped and
counted unless `strict`. Frames keep their aspect ratio (short side at the training size) and each view
takes a random square of them here; the rest of the augmentation happens later, on the batch tensor
(augment.py), so it can run on the GPU."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hiermovie.datasets.video_folder import LabeledVideo
from hiermovie.errors import VideoDecodeError
from hiermovie.extract.motion import farneback_flow, load_flow_file
from hiermovie.extract.sampling import clip_indices, cvrl_clip_starts
from hiermovie.progress import progress_bar
from hiermovie.video.decode import probe_video, read_frames, read_video, short_side_shape, square_crop


@dataclass(frozen=True)
class ClipSampling:
    num_frames: int  # frames per clip
    sampling_rate: int  # frame step
    size: int  # frames are decoded with the short side at `size`; each view is a random size x size square
    views: int  # 2: two clips at CVRL's sampled interval; 1: one clip at a random start
    motion: str = "grey_diff"  # grey_diff (computed on the batch later) | farneback | flow_files
    flow_dir: Path | None = None  # {video stem}.npy files for motion = flow_files


def crop_flow(flow: np.ndarray, frame_hw: tuple[int, int], offset: int) -> np.ndarray:
    """The part of `flow` (..., h, w, 3) that the square crop at `offset` (`square_crop`) of (H, W) frames shows.

    Flow of the frames' size is cut exactly there. Flow of another resolution is cut at the offset and side
    scaled by h / H and w / W, rounded; the side does not depend on the offset, so views stack (and batches
    do where the flow files share one resolution and the videos one aspect ratio), and
    `pretrain._motion_input` resizes the crop to the RGB crop's size as it resized whole flow frames.
    """
    height, width = frame_hw
    flow_height, flow_width = flow.shape[-3:-1]
    side = min(height, width)
    top, left = (offset, 0) if height > width else (0, offset)
    crop_height, crop_width = max(1, round(side * flow_height / height)), max(1, round(side * flow_width / width))
    y = min(round(top * flow_height / height), flow_height - crop_height)
    x = min(round(left * flow_width / width), flow_width - crop_width)
    return flow[..., y : y + crop_height, x : x + crop_width, :]  # (..., crop_height, crop_width, 3)


def _decode_whole(path: Path, size: int) -> np.ndarray | str:
    """Every frame of a video with its short side at `size` (no crop), or the problem that stopped its decoding."""
    try:
        return read_video(path, size=size, centre_crop=False)[1]  # (N, H, W, 3), min(H, W) = size
    except VideoDecodeError as error:
        return error.problem


def decode_into_memory(
    videos: list[LabeledVideo], size: int, jobs: int, budget_bytes: int, progress: bool = True
) -> dict[Path, np.ndarray | str] | None:
    """Every frame of every video decoded once, short side at the training size, in `jobs` threads:
    path -> (N, H, W, 3) uint8, or the problem of an unreadable video. None (nothing decoded) when the
    estimate from the first video's length and frame size exceeds `budget_bytes`. Later epochs then index
    frames instead of decoding them."""
    try:
        first = probe_video(videos[0].path)
    except VideoDecodeError:
        return None  # the decoding path skips and lists it
    height, width = short_side_shape(first.height, first.width, size)
    if len(videos) * first.num_frames * height * width * 3 > budget_bytes:
        return None
    paths = [video.path for video in videos]
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # the decoders release the GIL; no frames cross processes
        decoded = pool.map(_decode_whole, paths, [size] * len(paths))
        bar = progress_bar(decoded, total=len(paths), desc="decoding into memory", unit="video", enabled=progress)
        return dict(zip(paths, bar, strict=True))


class VideoClips(Dataset):
    """Item i: {"clips": (V, T, S, S, 3) uint8, "label": int, "skipped": [problems][, "flow": (V, T, h, w, 3)]}.

    Each view is a random S x S square (S = `size`) of the frames, its own offset along the long side;
    flow is cut at the same offsets (`crop_flow`; h, w = S, S but for flow files of another resolution).
    An unreadable video is replaced by the next readable one (so every batch keeps its size, which
    DDP's collectives need) and its problem listed; with `strict` the item has no "clips". Randomness
    comes from (seed, epoch, i), so a resumed run draws the same clips and crops."""

    def __init__(
        self,
        videos: list[LabeledVideo],
        sampling: ClipSampling,
        seed: int = 0,
        strict: bool = False,
        in_memory: dict[Path, np.ndarray | str] | None = None,
    ):
        # strict: stop at the first unreadable video (the caller raises on an item without "clips");
        # in_memory: `decode_into_memory`'s frames, read instead of the files (the same pixels)
        self.videos, self.sampling, self.seed, self.strict = videos, sampling, seed, strict
        self.in_memory = in_memory
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict:
        skipped = []
        for attempt in range(len(self.videos)):  # an unreadable video is replaced by the next one
            video = self.videos[(i + attempt) % len(self.videos)]
            try:
                return {**self._decode(video, np.random.default_rng([self.seed, self.epoch, i])), "skipped": skipped}
            except VideoDecodeError as error:  # listed, not raised: DataLoader workers cannot re-raise it as is
                skipped.append(str(error))
                if self.strict:
                    return {"skipped": skipped}
        raise VideoDecodeError(self.videos[i].path, "no video of the training set could be read")

    def _decode(self, video: LabeledVideo, rng: np.random.Generator) -> dict:
        s = self.sampling
        stored = None if self.in_memory is None else self.in_memory[video.path]
        if isinstance(stored, str):
            raise VideoDecodeError(video.path, stored)
        length = probe_video(video.path).num_frames if stored is None else len(stored)
        span = s.num_frames * s.sampling_rate
        if s.views == 2:
            starts = cvrl_clip_starts(length, span, rng)
        else:
            starts = (int(rng.integers(0, max(1, length - span + 1))),)
        indices = np.concatenate([clip_indices(st, s.num_frames, s.sampling_rate, length) for st in starts])
        frames = (
            read_frames(video.path, indices, size=s.size, centre_crop=False) if stored is None else stored[indices]
        )  # (V * T, H, W, 3), min(H, W) = size
        clips = frames.reshape(s.views, s.num_frames, *frames.shape[1:])  # (V, T, H, W, 3)
        offsets = rng.integers(0, max(clips.shape[2:4]) - s.size + 1, size=s.views)  # (V,) along the long side
        squares = np.stack([square_crop(clip, offset) for clip, offset in zip(clips, offsets, strict=True)])
        item = {"clips": torch.from_numpy(squares), "label": video.label}  # (V, T, S, S, 3)
        if s.motion == "farneback":  # on the whole frames, so motion entering the square is seen
            flow = [square_crop(farneback_flow(clip), offset) for clip, offset in zip(clips, offsets, strict=True)]
            item["flow"] = torch.from_numpy(np.stack(flow))  # (V, T, S, S, 3)
        elif s.motion == "flow_files":
            flow = load_flow_file(s.flow_dir / f"{video.path.stem}.npy", indices)  # (V * T, h, w, 3)
            flow = flow.reshape(s.views, s.num_frames, *flow.shape[1:])  # (V, T, h, w, 3)
            crops = [crop_flow(view, clips.shape[2:4], offset) for view, offset in zip(flow, offsets, strict=True)]
            item["flow"] = torch.from_numpy(np.stack(crops))  # (V, T, h', w', 3)
        return item


def collate_clips(items: list[dict]) -> dict:
    """Stack a batch; collect the problems of the videos that were skipped (only those, under strict)."""
    if any("clips" not in item for item in items):
        return {"skipped": [problem for item in items for problem in item["skipped"]]}
    batch = {
        "clips": torch.stack([item["clips"] for item in items]),  # (B, V, T, H, W, 3) uint8
        "labels": torch.tensor([item["label"] for item in items]),  # (B,)
        "skipped": [problem for item in items for problem in item["skipped"]],
    }
    if "flow" in items[0]:
        batch["flow"] = torch.stack([item["flow"] for item in items])  # (B, V, T, H, W, 3) float
    return batch


def epoch_batches(
    num_items: int, batch_size: int, seed: int, epoch: int, rank: int, world_size: int
) -> list[list[int]]:
    """This rank's batches of one epoch: a seeded permutation, dealt to ranks, tail dropped so every
    rank runs the same number of steps. `batch_size` is per rank."""
    order = np.random.default_rng([seed, epoch, 7]).permutation(num_items)
    per_rank = len(order) // world_size
    mine = order[rank * per_rank : (rank + 1) * per_rank]
    steps = len(mine) // batch_size
    return [mine[k * batch_size : (k + 1) * batch_size].tolist() for k in range(steps)]
