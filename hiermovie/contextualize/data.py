"""Windows of consecutive cached event tokens for the contextualizer, all in memory.

Long videos (tokens at the extraction stride) are subsampled every k-th token, k = stride /
extraction stride, so one extraction at 1 s serves the 1, 2 and 3 s ablations of Table 2. VidSitu
clips (5 events of 2 s, VidSitu's own windows) always contribute their 5 events as they are.
Videos are split into train and validation by a hash of their id: stable across runs and caches.
"""

import hashlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from hiermovie.cache import EventCache
from hiermovie.errors import HiermovieError


@dataclass(frozen=True)
class TokenWindows:
    """Shape: features (W, N, D) float32; video (W,) int64 index into video_ids."""

    features: np.ndarray
    video: np.ndarray
    video_ids: list[str]

    def __len__(self) -> int:
        return len(self.features)


def is_validation(video_id: str, fraction: float) -> bool:
    """Whether a video is held out for validation: a stable hash of its id, about `fraction` of them."""
    bucket = int(hashlib.sha1(video_id.encode()).hexdigest()[:8], 16) % 1000
    return bucket < round(fraction * 1000)


def token_windows(cache: EventCache, video_ids: list[str], seq_len: int, stride_sec: float) -> TokenWindows:
    """Every run of `seq_len` consecutive (subsampled) tokens of the given videos."""
    step = cache.subsample_step(stride_sec)  # refuses a stride that is not a multiple of the extraction stride
    extraction = Fraction(str(cache.attrs["window"]["stride_sec"]))
    windows, owners = [], []
    for v, video_id in enumerate(video_ids):
        tokens = cache.tokens(video_id)
        spacing = (
            Fraction(tokens.start_sec[1] - tokens.start_sec[0]).limit_denominator(1000)
            if len(tokens.start_sec) > 1
            else None
        )
        features = tokens.features[:: step if spacing == extraction else 1].astype(np.float32)  # (L', D)
        for start in range(len(features) - seq_len + 1):
            windows.append(features[start : start + seq_len])
            owners.append(v)
    if not windows:
        raise HiermovieError(
            f"{cache.root}: no window of {seq_len} tokens at {stride_sec} s in {len(video_ids)} videos"
        )
    return TokenWindows(np.stack(windows), np.asarray(owners, np.int64), list(video_ids))


def split_windows(
    cache: EventCache, seq_len: int, stride_sec: float, val_fraction: float
) -> tuple[TokenWindows, TokenWindows]:
    """(train, validation) windows, videos split by `is_validation`."""
    val_ids = [v for v in cache.video_ids if is_validation(v, val_fraction)]
    train_ids = [v for v in cache.video_ids if not is_validation(v, val_fraction)]
    return token_windows(cache, train_ids, seq_len, stride_sec), token_windows(cache, val_ids, seq_len, stride_sec)
