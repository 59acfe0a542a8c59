"""Extraction into the cache on the tiny benchmark: windows and times, features equal to a direct
backbone run, failures recorded, reruns skip finished work, SIGKILL + rerun and 2-rank torchrun
give exactly the cache of one uninterrupted run, `cache verify` catches a flipped byte."""

import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from hiermovie.cache import EventCache
from hiermovie.errors import HiermovieError
from hiermovie.extract.augment import normalize, to_float_clips
from hiermovie.extract.backbone import create_slow_d
from hiermovie.extract.config import BACKBONE_PROFILES, EXTRACT_PROFILES
from hiermovie.extract.featurize import ExtractOptions, extract
from hiermovie.video.decode import probe_video, read_frames, write_video
from hiermovie.video.windows import clip_frame_indices, fixed_stride_windows

TINY = BACKBONE_PROFILES["tiny"]
CONFIG = replace(EXTRACT_PROFILES["tiny"], stride_sec=1.0, videos_per_shard=6)
OPTIONS = ExtractOptions(device="cpu", workers=0, progress=False)


@pytest.fixture
def backbone_checkpoint(tiny_backbone):
    return tiny_backbone


@pytest.fixture
def cache(tiny_cache):
    """The tiny benchmark extracted with CONFIG (the session's `tiny_cache`)."""
    return tiny_cache


def all_tokens(path) -> dict:
    with EventCache(path) as opened:
        return {v: opened.tokens(v) for v in opened.video_ids}


def test_every_video_gets_its_windows(cache, tiny_benchmark):
    with EventCache(cache) as opened:
        clips = sorted(p.stem for p in (tiny_benchmark / "vidsitu" / "vsitu_video_trimmed_dir").glob("*.mp4"))
        movies = sorted(p.stem for p in (tiny_benchmark / "lvu" / "videos").glob("*.mp4"))
        assert opened.video_ids == sorted(clips + movies) and opened.dim == TINY.feature_dim
        for clip in clips:  # VidSitu's 5 events of 2 s
            tokens = opened.tokens(clip)
            assert tokens.start_sec.tolist() == [0, 2, 4, 6, 8] and tokens.end_sec.tolist() == [2, 4, 6, 8, 10]
        for movie in movies:  # 1 s windows over the whole movie, and its instances
            duration = probe_video(tiny_benchmark / "lvu" / "videos" / f"{movie}.mp4").duration
            assert len(opened.tokens(movie).features) == int(duration)
            instances = opened.instances(movie)
            assert len(instances.features) > 0 and instances.features.shape[1] == TINY.feature_dim
        assert opened.verify() == [] and opened.failures == []


def test_features_equal_a_direct_backbone_run(cache, tiny_benchmark, backbone_checkpoint):
    movie = sorted((tiny_benchmark / "lvu" / "videos").glob("*.mp4"))[0]
    backbone = create_slow_d(TINY)
    backbone.load_state_dict(torch.load(backbone_checkpoint, weights_only=True)["backbone"])
    info = probe_video(movie)
    windows = fixed_stride_windows(info.duration, 1)[:3]
    frames = [read_frames(movie, clip_frame_indices(w, info.fps, 8, 8, info.num_frames), size=64) for w in windows]
    clips = normalize(to_float_clips(torch.from_numpy(np.stack(frames))))  # (3, 3, 8, 64, 64)
    with torch.inference_mode():
        expected = backbone.eval()(clips).numpy()  # (3, 512)
    with EventCache(cache) as opened:
        stored = opened.tokens(movie.stem).features[:3].astype(np.float32)
    np.testing.assert_allclose(stored, expected, rtol=2e-3, atol=2e-3)  # float16 storage


def test_failures_are_recorded_and_the_run_goes_on(tiny_benchmark, backbone_checkpoint, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(tiny_benchmark / "lvu" / "videos", videos)
    (videos / "empty.mp4").write_bytes(b"")
    write_video(videos / "short.mp4", np.zeros((15, 64, 64, 3), np.uint8))  # half a second
    manifest = extract(backbone_checkpoint, videos, tmp_path / "cache", CONFIG, OPTIONS)
    reasons = {f["video_id"]: f["failure"] for f in manifest["failures"]}
    assert set(reasons) == {"empty", "short"} and "empty file" in reasons["empty"] and "too short" in reasons["short"]
    assert manifest["videos"] == len(list(videos.glob("*.mp4"))) - 2
    with pytest.raises(HiermovieError, match="empty.mp4: empty file"):
        extract(backbone_checkpoint, videos, tmp_path / "strict", CONFIG, replace(OPTIONS, strict=True))


def test_rerun_skips_finished_work_and_other_settings_are_refused(cache, tiny_benchmark, backbone_checkpoint):
    before = {p.name: p.stat().st_mtime_ns for p in (cache / "shards").glob("*.h5")}
    extract(backbone_checkpoint, tiny_benchmark, cache, CONFIG, OPTIONS)
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "shards").glob("*.h5")} == before
    with pytest.raises(HiermovieError, match="extracted with another extract_config"):
        extract(backbone_checkpoint, tiny_benchmark, cache, replace(CONFIG, stride_sec=2.0), OPTIONS)


def cli_extract(benchmark, checkpoint, out, per_shard: int = 3) -> list[str]:
    return [
        "extract",
        "--backbone",
        str(checkpoint),
        "--data",
        str(benchmark),
        "--out",
        str(out),
        "--profile",
        "tiny",
        "--stride",
        "1",
        "--videos-per-shard",
        str(per_shard),
        "--device",
        "cpu",
        "--workers",
        "1",
    ]


def assert_same_cache(a, b) -> None:
    first, second = all_tokens(a), all_tokens(b)
    assert list(first) == list(second)
    for video, tokens in first.items():
        assert np.array_equal(tokens.features, second[video].features), video
        assert np.array_equal(tokens.start_sec, second[video].start_sec)


def test_sigkill_then_rerun_equals_an_uninterrupted_run(tiny_benchmark, backbone_checkpoint, tmp_path, kill_when):
    def command(out):  # one video per shard: many shard boundaries to die between
        return [sys.executable, "-m", "hiermovie", *cli_extract(tiny_benchmark, backbone_checkpoint, out, 1)]

    killed = kill_when(
        command(tmp_path / "killed"), lambda: len(list((tmp_path / "killed" / "shards").glob("*.json"))) >= 3
    )
    assert killed.mid_run, killed.stderr
    assert not (tmp_path / "killed" / "manifest.json").exists()
    for out in (tmp_path / "killed", tmp_path / "straight"):
        subprocess.run(command(out), check=True, capture_output=True)
    assert_same_cache(tmp_path / "killed", tmp_path / "straight")
    assert not list((tmp_path / "killed" / "shards").glob(".*partial*"))


def test_two_rank_torchrun_equals_one_rank(tiny_benchmark, backbone_checkpoint, tmp_path, torchrun):
    torchrun(cli_extract(tiny_benchmark, backbone_checkpoint, tmp_path / "two"), tmp_path / "logs")
    one = [sys.executable, "-m", "hiermovie", *cli_extract(tiny_benchmark, backbone_checkpoint, tmp_path / "one")]
    result = subprocess.run(one, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_same_cache(tmp_path / "two", tmp_path / "one")


def test_cache_verify_detects_a_flipped_byte(cache, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(cache, damaged)
    shard = sorted((damaged / "shards").glob("*.h5"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    verify = [sys.executable, "-m", "hiermovie", "cache", "verify"]
    assert subprocess.run([*verify, str(cache)], capture_output=True).returncode == 0
    result = subprocess.run([*verify, str(damaged)], capture_output=True, text=True)
    assert result.returncode == 1 and shard.name in result.stderr
    info = subprocess.run(
        [sys.executable, "-m", "hiermovie", "cache", "info", str(cache)], capture_output=True, text=True
    )
    assert info.returncode == 0 and '"videos"' in info.stdout
