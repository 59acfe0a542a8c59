"""Which videos TxE pretrains on and how its windows are grouped: the train splits only (paper sec. 4), clips of
one source video as one video for the queue and the validation split."""

from pathlib import Path

import numpy as np
import pytest

from hiermovie.cache import EventCache, ShardWriter, VideoTokens, write_manifest
from hiermovie.contextualize.data import VideoChoice, is_validation, select_videos, split_windows, token_windows
from hiermovie.datasets.lvu import LVU_SPLITS, lvu_youtube_ids
from hiermovie.datasets.vidsitu import load_vidsitu, source_video
from hiermovie.errors import HiermovieError, InputFileError

ATTRS = {"window": {"stride_sec": 1.0, "window_sec": 2.0}}


def _cache(root: Path, videos: dict[str, int], dim: int = 4) -> Path:
    """A cache whose video v holds videos[v] tokens at 1 s, token t of video i equal to 100 i + t."""
    with ShardWriter(root, 0, ATTRS, dim, "float32") as writer:
        for i, (video, count) in enumerate(videos.items()):
            starts = np.arange(count, dtype=np.float64)  # (L,)
            features = np.repeat((100 * i + starts)[:, None], dim, axis=1).astype(np.float32)  # (L, D)
            writer.add(VideoTokens(video, features, starts, starts + 2.0))
    write_manifest(root, ATTRS)
    return root


def test_clips_of_one_source_video_share_their_owner_in_the_windows(tmp_path):
    ids = {"v_AAAAAAAAAAA_seg_0_10": 5, "v_AAAAAAAAAAA_seg_10_20": 5, "v_B_x-B_seg_5_15": 5, "movie": 7}
    with EventCache(_cache(tmp_path / "cache", ids)) as cache:
        windows = token_windows(cache, list(ids), seq_len=5, stride_sec=1.0)
    assert windows.sources == ["AAAAAAAAAAA", "B_x-B", "movie"]
    # the two clips of movie A are one video to the queue: never each other's distractors
    assert windows.video.tolist() == [0, 0, 1, 2, 2, 2]


def test_the_validation_split_keeps_the_clips_of_a_source_together(tmp_path):
    clips = {f"v_movie{m:03d}XYZ_seg_{10 * k}_{10 * k + 10}": 5 for m in range(40) for k in range(3)}
    with EventCache(_cache(tmp_path / "cache", clips)) as cache:
        train, valid = split_windows(cache, tuple(clips), seq_len=5, stride_sec=1.0, val_fraction=0.3)
    assert set(train.sources).isdisjoint(valid.sources)
    assert len(train) + len(valid) == 120 and 0 < len(valid.sources) < 40
    assert all(is_validation(source, 0.3) for source in valid.sources)


def test_source_video_reads_vidsitu_clip_ids_and_leaves_other_ids_alone():
    assert source_video("v_BQO5Xy2ebhs_seg_20_30") == "BQO5Xy2ebhs"
    assert source_video("v_-_a_b_c_d_e_seg_0_10") == "-_a_b_c_d_e"  # YouTube ids may hold "_" and "-"
    assert source_video("BQO5Xy2ebhs") == "BQO5Xy2ebhs"  # an LVU movie
    assert source_video("v_BQO5Xy2ebhs_seg_20") == "v_BQO5Xy2ebhs_seg_20"


def test_the_train_splits_select_only_train_clips_and_movies(tiny_benchmark, tiny_cache):
    with EventCache(tiny_cache) as cache:
        selection = select_videos(cache, VideoChoice(tiny_benchmark, vidsitu_split="train", lvu_split="train"))
        everything = select_videos(cache, VideoChoice())
    vidsitu = tiny_benchmark / "vidsitu"
    train_clips = {clip.clip_id for clip in load_vidsitu(vidsitu, "train").clips}
    valid_clips = {clip.clip_id for clip in load_vidsitu(vidsitu, "valid").clips}
    labels = tiny_benchmark / "lvu" / "lvu_1.0"
    train_movies = lvu_youtube_ids(labels, ("train",))
    assert set(selection.video_ids) == train_clips | train_movies
    assert not set(selection.video_ids) & (valid_clips | lvu_youtube_ids(labels, LVU_SPLITS[1:]))
    assert selection.description == f"VidSitu train ({len(train_clips)} clips) + LVU train ({len(train_movies)} movies)"
    assert set(everything.video_ids) >= valid_clips and everything.description.startswith("every video")


def test_a_list_file_selects_its_videos_and_a_missing_one_is_an_error(tiny_cache, tmp_path):
    with EventCache(tiny_cache) as cache:
        chosen = list(cache.video_ids)[:3]
        listing = tmp_path / "videos.txt"
        listing.write_text("# three videos\n" + "\n".join(chosen) + "\n\n")
        assert select_videos(cache, VideoChoice(videos_file=listing)).video_ids == tuple(chosen)
        listing.write_text(chosen[0] + "\nnot_in_the_cache\n")
        with pytest.raises(HiermovieError, match="1 of the 2 .* not in the cache .*not_in_the_cache"):
            select_videos(cache, VideoChoice(videos_file=listing))
        listing.write_text("\n# nothing\n")
        with pytest.raises(InputFileError, match="no video ids"):
            select_videos(cache, VideoChoice(videos_file=listing))
        with pytest.raises(HiermovieError, match="need --data"):
            select_videos(cache, VideoChoice(vidsitu_split="train"))
