"""Small synthetic caches: videos of random features written with the real `ShardWriter`."""

from pathlib import Path

import numpy as np
import pytest

from hiermovie.cache import ShardWriter, VideoInstances, VideoTokens, write_manifest

DIM = 6
ATTRS = {
    "backbone_config": {"method": "cvrl", "depth": 50, "stem_dim_out": 8, "stem_kernel": [5, 7, 7]},
    "checkpoint_sha256": "ab" * 32,
    "extract_config": {"stride_sec": 1.0, "dtype": "float16"},
    "window": {"stride_sec": 1.0, "window_sec": 2.0},
}


def _make_video(video_id: str, tokens: int, instances: int = 0, seed: int = 0, stride: float = 1.0):
    """One video: `tokens` event tokens `stride` s apart (2 s windows) and `instances` object instances."""
    rng = np.random.default_rng(seed)
    start = np.arange(tokens) * stride  # (L,)
    video = VideoTokens(video_id, rng.normal(size=(tokens, DIM)), start, start + 2.0)
    boxes = rng.uniform(size=(instances, 4)).astype(np.float32)  # (M, 4)
    ints = [rng.integers(0, 50, instances).astype(np.int32) for _ in range(3)]
    return video, VideoInstances(rng.normal(size=(instances, DIM)), *ints, boxes)


def _write_cache(root: Path, shards: list[list[tuple]], attrs: dict = ATTRS, **writer_options) -> dict:
    """Write `shards` (lists of (tokens, instances)) and the manifest; returns the manifest."""
    for index, videos in enumerate(shards):
        with ShardWriter(root, index, attrs, DIM, **writer_options) as writer:
            for tokens, instances in videos:
                writer.add(tokens, instances)
            writer.close(failures=[{"video_id": f"broken{index}", "error": "decode failed"}])
    return write_manifest(root, attrs)


@pytest.fixture
def videos():
    """Five videos over two shards: one with no instances, one with no tokens at all."""
    first = [_make_video("v3", 12, 4, seed=1), _make_video("v1", 7, 0, seed=2), _make_video("v0", 0, 2, seed=3)]
    second = [_make_video("v2", 4, 1, seed=4), _make_video("v4", 30, 9, seed=5)]
    return [first, second]


@pytest.fixture
def dim() -> int:
    """Feature width of the test caches."""
    return DIM


@pytest.fixture
def attrs() -> dict:
    """The attrs the extraction passes: backbone and extract configs, checkpoint hash, a 1 s window stride."""
    return ATTRS


@pytest.fixture
def make_video():
    """`make_video(video_id, tokens, instances=0, seed=0, stride=1.0) -> (VideoTokens, VideoInstances)`."""
    return _make_video


@pytest.fixture
def write_cache():
    """`write_cache(root, shards, attrs=ATTRS, **writer_options) -> manifest`; one failure recorded per shard."""
    return _write_cache
