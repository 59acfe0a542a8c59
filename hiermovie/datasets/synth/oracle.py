"""The ceiling of every task (issue 13): an event cache whose tokens are the benchmark's
ground truth instead of backbone features.

The generator's stories are a pure function of the seed, so they are rebuilt from `synth.json`; each
event window (VidSitu's 5 events, the movies' windows at the extraction stride) gets the concatenation of
one-hot codes of what happens at its centre frame: the verb, who does it (agent and patient identities,
and their cast slots: LVU's leads are slots 0 and 1), the manner, the shot's location and camera move, the
film look (decade) and how the event is made hard to see. Nothing in it has to be seen to be known, so a
head trained on it shows what the benchmark lets a perfect event encoder reach. Written with the cache's
own writer, in its format: every stage-2 command reads it like a backbone's cache. A part cache keeps only
some of the blocks (`ORACLE_PARTS`), to ask which of them a task's labels can be read from.
"""

import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np

from hiermovie.cache import ShardWriter, VideoTokens, write_manifest
from hiermovie.datasets.config import SynthConfig
from hiermovie.datasets.synth.generate import MANIFEST
from hiermovie.datasets.synth.lvu_part import make_movies, youtube_ids
from hiermovie.datasets.synth.story import CAMERA_MOVES, HARDNESS, Story
from hiermovie.datasets.synth.vidsitu_part import make_clips
from hiermovie.datasets.synth.world import CHARACTERS, LOCATIONS, VERB_IDS
from hiermovie.errors import HiermovieError, InputFileError
from hiermovie.video.windows import EventWindow, fixed_stride_windows, vidsitu_windows

MAX_CAST = 4  # cast slots: VidSitu clips have 2-3 characters, LVU movies 3-4
DECADES = 9  # Story.grading: 0 (1930s) .. 8 (2010s)
# (name, width) of each one-hot block of an oracle token, in order
BLOCKS = (
    ("verb", len(VERB_IDS)),
    ("agent", len(CHARACTERS)),
    ("patient", len(CHARACTERS) + 1),  # + none
    ("agent slot", MAX_CAST),
    ("patient slot", MAX_CAST + 1),  # + none
    ("manner", 2),
    ("location", len(LOCATIONS)),
    ("camera", len(CAMERA_MOVES)),
    ("decade", DECADES),
    ("hardness", len(HARDNESS) + 1),  # + none
)
ORACLE_DIM = sum(width for _, width in BLOCKS)
# the parts the relation probe compares (docs/benchmark.md "What decides a relation"): is a relation seen
# in the two events' verbs, or only in who does them?
ORACLE_PARTS = {
    "verbs only": ("verb",),
    "characters only": ("agent", "patient", "agent slot", "patient slot"),
}
VIDEOS_PER_SHARD = 256


def oracle_token(story: Story, frame: int) -> np.ndarray:
    """The ground-truth code of the event and shot at `frame` of `story`. Shape (ORACLE_DIM,), float32."""
    event = next((e for e in story.events if e.start_frame <= frame < e.end_frame), story.events[-1])
    shot = next((s for s in story.shots if s.start_frame <= frame < s.end_frame), story.shots[-1])
    patient = None if event.patient is None else story.cast[event.patient]
    hot = (
        VERB_IDS.index(event.verb_id),
        CHARACTERS.index(story.cast[event.agent]),
        len(CHARACTERS) if patient is None else CHARACTERS.index(patient),
        event.agent,
        MAX_CAST if event.patient is None else event.patient,
        0 if event.manner == "quickly" else 1,
        list(LOCATIONS).index(shot.location),
        CAMERA_MOVES.index(shot.camera),
        story.grading,
        len(HARDNESS) if event.hardness is None else HARDNESS.index(event.hardness),
    )
    token = np.zeros(ORACLE_DIM, np.float32)
    offset = 0
    for index, (_, width) in zip(hot, BLOCKS, strict=True):
        token[offset + index] = 1.0
        offset += width
    return token


def part_columns(parts: tuple[str, ...]) -> np.ndarray:
    """Columns of a full oracle token that hold the blocks named in `parts`, in BLOCKS order."""
    names = [name for name, _ in BLOCKS]
    unknown = sorted(set(parts) - set(names))
    if unknown or not parts:
        raise ValueError(f"oracle parts must be some of {names}, got {list(parts)}")
    starts = np.cumsum([0] + [width for _, width in BLOCKS])
    return np.concatenate([np.arange(starts[i], starts[i + 1]) for i, name in enumerate(names) if name in parts])


def oracle_tokens(
    video_id: str, story: Story, windows: list[EventWindow], fps: int, columns: np.ndarray | None = None
) -> VideoTokens:
    """One oracle token per window, taken at the window's centre frame; only `columns` of it if given."""
    centres = [int((w.start_sec + w.end_sec) / 2 * fps) for w in windows]
    features = np.stack([oracle_token(story, min(frame, story.num_frames - 1)) for frame in centres])  # (L, D)
    if columns is not None:
        features = features[:, columns]  # (L, D')
    start = np.array([float(w.start_sec) for w in windows])  # (L,)
    end = np.array([float(w.end_sec) for w in windows])  # (L,)
    return VideoTokens(video_id, features, start, end)


def benchmark_stories(data: Path) -> tuple[SynthConfig, dict[str, tuple[Story, bool]]]:
    """The generator config of the benchmark in `data` and {video id: (story, is a VidSitu clip)}."""
    manifest_path = Path(data) / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        fields = manifest["config"]
        config = SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    except FileNotFoundError:
        raise HiermovieError(
            f"{data}: not an embedded benchmark (no {MANIFEST}); the oracle needs its stories"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise InputFileError(manifest_path, f"unreadable benchmark manifest ({error})") from None
    movies = make_movies(config.seed, config.lvu_movies, config.fps, config.lvu_seconds, config.hard_prob)
    stories = {
        clip.clip_id: (clip.story, True) for clips in make_clips(config, youtube_ids(movies)).values() for clip in clips
    }
    stories.update({youtube: (movie.story, False) for entries in movies.values() for youtube, _, movie in entries})
    return config, stories


def write_oracle_cache(data: Path, out: Path, stride_sec: float = 1.0, parts: tuple[str, ...] | None = None) -> dict:
    """Write the oracle cache of the benchmark in `data` to `out` (movies at `stride_sec`); its manifest.

    `parts`: the BLOCKS to keep (None: all). The others are left out rather than zeroed: a zero column is a
    constant input a head gains nothing from, and left out the attrs' `blocks` decode the token as they do
    the full one. Written into a temporary
    sibling and renamed when complete; an existing complete cache of the same blocks is reused.
    """
    out = Path(out)
    kept = [list(block) for block in BLOCKS if parts is None or block[0] in parts]
    columns = None if parts is None else part_columns(parts)
    if (out / "manifest.json").is_file():
        manifest = json.loads((out / "manifest.json").read_text())
        if manifest["attrs"]["oracle"]["blocks"] != kept:
            raise HiermovieError(f"{out}: an oracle cache of other blocks; remove it or write elsewhere")
        return manifest
    config, stories = benchmark_stories(data)
    stride = Fraction(str(stride_sec))
    attrs = {
        "backbone_config": {"method": "oracle"},
        "oracle": {"blocks": kept, "benchmark_seed": config.seed, "size": config.size},
        "window": {"stride_sec": str(stride), "vidsitu_clip_sec": 10, "vidsitu_event_sec": 2},
    }
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    ids = sorted(stories)
    for index, start in enumerate(range(0, len(ids), VIDEOS_PER_SHARD)):
        with ShardWriter(partial, index, attrs, sum(width for _, width in kept), "float32") as writer:
            for video_id in ids[start : start + VIDEOS_PER_SHARD]:
                story, is_clip = stories[video_id]
                duration = Fraction(story.num_frames, config.fps)
                windows = vidsitu_windows() if is_clip else fixed_stride_windows(duration, stride)
                writer.add(oracle_tokens(video_id, story, windows, config.fps, columns))
    manifest = write_manifest(partial, attrs)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return manifest
