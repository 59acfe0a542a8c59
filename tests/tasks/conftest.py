"""A VidSitu cache for the task tests: the tiny benchmark's clips, each event's feature a noisy code of its
annotated verb (the first annotation's), so that a head that learns does better than chance."""

from pathlib import Path

import numpy as np
import pytest

from hiermovie.cache import ShardWriter, VideoTokens, write_manifest
from hiermovie.datasets.vidsitu import EVENTS, load_vidsitu

DIM = 32
ATTRS = {
    "backbone_config": {"method": "cvrl"},
    "checkpoint_sha256": "cd" * 32,
    "extract_config": {"stride_sec": 2.0},
    "window": {"stride_sec": 2.0, "window_sec": 2.0},
}


def write_verb_cache(benchmark: Path, root: Path, noise: float, seed: int = 0) -> Path:
    """A cache of every VidSitu clip of `benchmark` whose event features encode the event's verb plus noise."""
    rng = np.random.default_rng(seed)
    clips = [clip for split in ("train", "valid") for clip in load_vidsitu(benchmark / "vidsitu", split).clips]
    verbs = sorted({clip.annotations[0].events[ev].verb_id for clip in clips for ev in EVENTS})
    codes = rng.normal(size=(len(verbs), DIM))  # (verbs, D)
    start = 2.0 * np.arange(len(EVENTS))  # VidSitu's 5 events of 2 s
    with ShardWriter(root, 0, ATTRS, DIM, dtype="float32") as writer:
        for clip in clips:
            rows = [verbs.index(clip.annotations[0].events[ev].verb_id) for ev in EVENTS]
            features = codes[rows] + noise * rng.normal(size=(len(EVENTS), DIM))  # (5, D)
            writer.add(VideoTokens(clip.clip_id, features, start, start + 2.0))
    write_manifest(root, ATTRS)
    return root


@pytest.fixture(scope="session")
def verb_cache(tiny_benchmark, tmp_path_factory) -> Path:
    """Features that carry each event's verb (noise 0.1)."""
    return write_verb_cache(tiny_benchmark, tmp_path_factory.mktemp("tasks") / "cache", noise=0.1)


def random_instances(rng: np.random.Generator, m: int, dim: int) -> dict[str, np.ndarray]:
    """One span's m instances: random dim-d features, two tracks, one shot, seconds 0..5."""
    return {
        "features": rng.normal(size=(m, dim)).astype(np.float32),
        "box": np.full((m, 4), 0.5, np.float32),
        "sec": np.arange(m) % 6,
        "shot": np.zeros(m, int),
        "track": np.arange(m) % 2,
    }


@pytest.fixture
def one_thread():
    """Tiny tensors: intra-op threads only add overhead (a lot of it on a busy machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
