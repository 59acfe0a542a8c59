"""Windows of consecutive cached event tokens for the contextualizer, all in memory.

Long videos (tokens at the extraction stride) are subsampled every k-th token, k = stride /
extraction stride, so one extraction at 1 s serves the 1, 2 and 3 s ablations of Table 2. VidSitu
clips (5 events of 2 s, VidSitu's own windows) always contribute their 5 events as they are.

Pretraining reads the videos `select_videos` picks: a dataset's train split (the paper pretrains on
VidSitu train and LVU train, sec. 4), a list file, or every video of the cache. Windows are grouped by
source video (`source_video`: the clips VidSitu cuts from one movie are one source): a source's windows
are never distractors of each other, and sources, not clips, are split into train and validation by a
hash of their id (stable across runs and caches).
"""

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from hiermovie.cache import EventCache
from hiermovie.datasets.lvu import lvu_labels_root, lvu_youtube_ids
from hiermovie.datasets.vidsitu import load_vidsitu, source_video, vidsitu_root
from hiermovie.errors import HiermovieError, InputFileError


@dataclass(frozen=True)
class TokenWindows:
    """Shape: features (W, N, D) float32; video (W,) int64 index into sources, the window's source video."""

    features: np.ndarray
    video: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.features)


def is_validation(video_id: str, fraction: float) -> bool:
    """Whether a video is held out for validation: a stable hash of its id, about `fraction` of them."""
    bucket = int(hashlib.sha1(video_id.encode()).hexdigest()[:8], 16) % 1000
    return bucket < round(fraction * 1000)


@dataclass(frozen=True)
class VideoSelection:
    """The cached videos TxE pretrains on, and how they were chosen (in the summary and the checkpoint)."""

    video_ids: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class VideoChoice:
    """Which videos to pretrain on; the union of those given, every video of the cache if none is."""

    data: Path | None = None  # the benchmark, VidSitu or LVU folder whose split files name the videos
    vidsitu_split: str | None = None  # e.g. "train": that split's VidSitu clips
    lvu_split: str | None = None  # e.g. "train": that split's LVU movies (over the 9 tasks)
    videos_file: Path | None = None  # a list file, one cache video id per line ("#" comments)


def select_videos(cache: EventCache, choice: VideoChoice) -> VideoSelection:
    """The cached videos `choice` names; every chosen video must be in the cache (an error names one missing)."""
    if (choice.vidsitu_split or choice.lvu_split) and choice.data is None:
        raise HiermovieError("--vidsitu-split and --lvu-split need --data (the benchmark, VidSitu or LVU folder)")
    chosen: dict[str, None] = {}  # ordered set
    parts = []
    if choice.vidsitu_split:
        root = vidsitu_root(choice.data)
        ids = [clip.clip_id for clip in load_vidsitu(root, choice.vidsitu_split).clips]
        chosen.update(dict.fromkeys(ids))
        parts.append(f"VidSitu {choice.vidsitu_split} ({len(ids)} clips)")
        _require_cached(cache, ids, f"VidSitu {choice.vidsitu_split} clips of {root}")
    if choice.lvu_split:
        root = lvu_labels_root(choice.data)
        ids = sorted(lvu_youtube_ids(root, (choice.lvu_split,)))
        chosen.update(dict.fromkeys(ids))
        parts.append(f"LVU {choice.lvu_split} ({len(ids)} movies)")
        _require_cached(cache, ids, f"LVU {choice.lvu_split} movies of {root}")
    if choice.videos_file is not None:
        ids = _read_video_list(Path(choice.videos_file))
        chosen.update(dict.fromkeys(ids))
        parts.append(f"{choice.videos_file} ({len(ids)} videos)")
        _require_cached(cache, ids, str(choice.videos_file))
    if not parts:
        return VideoSelection(tuple(cache.video_ids), f"every video of the cache ({len(cache.video_ids)})")
    return VideoSelection(tuple(chosen), " + ".join(parts))


def _read_video_list(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(path, f"unreadable video list ({error})") from None
    ids = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise InputFileError(path, "no video ids (one per line expected)")
    return ids


def _require_cached(cache: EventCache, ids: list[str], where: str) -> None:
    missing = [video for video in ids if video not in cache]
    if missing:
        raise HiermovieError(
            f"{cache.root}: {len(missing)} of the {len(ids)} {where} are not in the cache (e.g. {missing[0]})"
        )


def token_windows(cache: EventCache, video_ids: list[str], seq_len: int, stride_sec: float) -> TokenWindows:
    """Every run of `seq_len` consecutive (subsampled) tokens of the given videos, owned by their source video."""
    step = cache.subsample_step(stride_sec)  # refuses a stride that is not a multiple of the extraction stride
    extraction = Fraction(str(cache.attrs["window"]["stride_sec"]))
    sources = list(dict.fromkeys(source_video(video_id) for video_id in video_ids))  # ordered, unique
    source_index = {source: i for i, source in enumerate(sources)}
    windows, owners = [], []
    for video_id in video_ids:
        tokens = cache.tokens(video_id)
        spacing = (
            Fraction(tokens.start_sec[1] - tokens.start_sec[0]).limit_denominator(1000)
            if len(tokens.start_sec) > 1
            else None
        )
        features = tokens.features[:: step if spacing == extraction else 1].astype(np.float32)  # (L', D)
        for start in range(len(features) - seq_len + 1):
            windows.append(features[start : start + seq_len])
            owners.append(source_index[source_video(video_id)])
    if not windows:
        raise HiermovieError(
            f"{cache.root}: no window of {seq_len} tokens at {stride_sec} s in {len(video_ids)} videos"
        )
    return TokenWindows(np.stack(windows), np.asarray(owners, np.int64), sources)


def split_windows(
    cache: EventCache, video_ids: tuple[str, ...], seq_len: int, stride_sec: float, val_fraction: float
) -> tuple[TokenWindows, TokenWindows]:
    """(train, validation) windows of `video_ids`, source videos split by `is_validation`."""
    val_ids = [v for v in video_ids if is_validation(source_video(v), val_fraction)]
    train_ids = [v for v in video_ids if not is_validation(source_video(v), val_fraction)]
    return token_windows(cache, train_ids, seq_len, stride_sec), token_windows(cache, val_ids, seq_len, stride_sec)
