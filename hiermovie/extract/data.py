"""Decoding for backbone training: each item decodes its clips in one call (in DataLoader workers), or
indexes the frames of videos decoded into memory once; a video that cannot be read is skipped and
counted unless `strict`. Augmentation happens later,
on the batch tensor (augment.py), so it can run on the GPU."""

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
from hiermovie.video.decode import probe_video, read_frames, read_video


@dataclass(frozen=True)
class ClipSampling:
    num_frames: int  # frames per clip
    sampling_rate: int  # frame step
    size: int  # frames are decoded resized to size x size
    views: int  # 2: two clips at CVRL's sampled interval; 1: one clip at a random start
    motion: str = "grey_diff"  # grey_diff (computed on the batch later) | farneback | flow_files
    flow_dir: Path | None = None  # {video stem}.npy files for motion = flow_files


def _decode_whole(path: Path, size: int) -> np.ndarray | str:
    """Every frame of a video at size x size, or the problem that stopped its decoding."""
    try:
        return read_video(path, size=size)[1]  # (N, H, W, 3)
    except VideoDecodeError as error:
        return error.problem


def decode_into_memory(
    videos: list[LabeledVideo], size: int, jobs: int, budget_bytes: int, progress: bool = True
) -> dict[Path, np.ndarray | str] | None:
    """Every frame of every video decoded once, at the training size, in `jobs` threads: path -> (N, H, W, 3)
    uint8, or the problem of an unreadable video. None (nothing decoded) when the estimate from the
    first video's length exceeds `budget_bytes`. Later epochs then index frames instead of decoding them."""
    try:
        first = probe_video(videos[0].path).num_frames
    except VideoDecodeError:
        return None  # the decoding path skips and lists it
    if len(videos) * first * size * size * 3 > budget_bytes:
        return None
    paths = [video.path for video in videos]
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # the decoders release the GIL; no frames cross processes
        decoded = pool.map(_decode_whole, paths, [size] * len(paths))
        bar = progress_bar(decoded, total=len(paths), desc="decoding into memory", unit="video", enabled=progress)
        return dict(zip(paths, bar, strict=True))


class VideoClips(Dataset):
    """Item i: {"clips": (V, T, H, W, 3) uint8, "label": int, "skipped": [problems][, "flow": (V, T, H, W, 3)]}.

    An unreadable video is replaced by the next readable one (so every batch keeps its size, which
    DDP's collectives need) and its problem listed; with `strict` the item has no "clips". Randomness
    comes from (seed, epoch, i), so a resumed run draws the same clips."""

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
            read_frames(video.path, indices, size=s.size) if stored is None else stored[indices]
        )  # (V * T, H, W, 3)
        clips = frames.reshape(s.views, s.num_frames, *frames.shape[1:])  # (V, T, H, W, 3)
        item = {"clips": torch.from_numpy(clips), "label": video.label}
        if s.motion == "farneback":
            item["flow"] = torch.from_numpy(np.stack([farneback_flow(clip) for clip in clips]))  # (V, T, H, W, 3)
        elif s.motion == "flow_files":
            flow = load_flow_file(s.flow_dir / f"{video.path.stem}.npy", indices)  # (V * T, h, w, 3)
            item["flow"] = torch.from_numpy(flow.reshape(s.views, s.num_frames, *flow.shape[1:]))
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
