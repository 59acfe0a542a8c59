"""The embedded benchmark: files in the real formats, read back by the real readers, decodable to the
exact frames, deterministic, atomic; and stories whose labels carry the signals docs/benchmark.md promises."""

import filecmp
import json
from collections import Counter, defaultdict
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch

from hiermovie.datasets.benchmark import BenchmarkLayout, check_benchmark
from hiermovie.datasets.config import SYNTH_SIZES
from hiermovie.datasets.lvu import LVU_SPLITS, LVU_TASKS, load_lvu_task
from hiermovie.datasets.synth import generate as generate_module
from hiermovie.datasets.synth.baselines import motion_energy, still_appearance
from hiermovie.datasets.synth.framecode import read_frame_code
from hiermovie.datasets.synth.generate import generate
from hiermovie.datasets.synth.render import PROP_BOX, character_tracks, render
from hiermovie.datasets.synth.story import (
    CAMERA_MOVES,
    GENRE_LIKE_EFFECT,
    LVU_CLASSES,
    RELATIONSHIP_LIKE_EFFECT,
    RELATIONSHIP_SIGNATURES,
    SPEAKING_GESTURES,
    Event,
    Shot,
    Story,
    action_story,
    clip_relations,
    clip_story,
    movie_story,
    relation_between,
)
from hiermovie.datasets.synth.world import VERB_IDS
from hiermovie.datasets.video_folder import load_video_folder
from hiermovie.datasets.vidsitu import EVALUATED_ROLES, EVENTS, RELATIONS, load_vidsitu
from hiermovie.errors import HiermovieError
from hiermovie.linear_probe import probe_accuracy
from hiermovie.video.decode import probe_video, read_frames
from hiermovie.video.windows import clip_frame_indices, fixed_stride_windows

TINY = SYNTH_SIZES["tiny"]


# ---------------------------------------------------------------- files, read back by the readers
def test_every_part_reads_back(tiny_benchmark):
    report = check_benchmark(tiny_benchmark, decode_videos=4, progress=False)
    train, valid, test = TINY.vidsitu_clips
    assert report.vidsitu_clips == {"train": train, "valid": valid, "testvb": test, "testsrl": test, "testevrel": test}
    assert all(report.lvu_records[task] == dict(zip(LVU_SPLITS, TINY.lvu_movies, strict=True)) for task in LVU_TASKS)
    assert report.kinetics_clips == {"train": len(VERB_IDS) * TINY.action_clips[0], "val": len(VERB_IDS)}
    assert report.frames_verified == 4 * 5 * 16
    manifest = json.loads((tiny_benchmark / "synth.json").read_text())
    assert manifest["config"]["size"] == "tiny" and manifest["bytes"] > 0


def test_valid_split_is_labelled_like_vidsitu_valid(tiny_benchmark):
    valid = load_vidsitu(BenchmarkLayout(tiny_benchmark).vidsitu, "valid")
    texts = defaultdict(set)
    for clip in valid.clips:
        assert 3 <= len(clip.annotations) <= 4
        assert all(len(clip.verb_ids[ev]) == 10 for ev in EVENTS)
        for annotation in clip.annotations:
            assert {ev: e.relation for ev, e in annotation.events.items()}["Ev3"] is None
            assert all(annotation.events[ev].relation in RELATIONS for ev in ("Ev1", "Ev2", "Ev4", "Ev5"))
            for ev, event in annotation.events.items():
                assert event.verb_id == clip.annotations[0].events[ev].verb_id  # one verb per event (vb_to_use)
                assert {"AScn"} <= {r.role for r in event.roles} and event.roles[0].role in EVALUATED_ROLES
                for role in event.roles:
                    texts[(clip.clip_id, ev, role.role)].add(role.text)
    assert any(len(variants) > 1 for variants in texts.values()), "annotators never paraphrase"


def test_train_and_test_splits(tiny_benchmark):
    root = BenchmarkLayout(tiny_benchmark).vidsitu
    assert all(len(c.annotations) == 1 and len(c.verb_ids["Ev1"]) == 1 for c in load_vidsitu(root, "train").clips)
    srl = load_vidsitu(root, "testsrl").clips[0].annotations[0].events["Ev1"]
    evrel = load_vidsitu(root, "testevrel").clips[0].annotations[0].events["Ev1"]
    assert srl.roles == () and srl.verb_id and evrel.roles and evrel.relation is None
    hidden = root / "vidsitu_annotations" / "hidden_test_answers"
    assert {p.name for p in hidden.iterdir()} == {
        f"{kind}_{split}_lb.json" for kind in ("vinfo", "vsann") for split in ("testvb", "testsrl", "testevrel")
    }


def test_lvu_instances_follow_their_format(tiny_benchmark):
    layout = BenchmarkLayout(tiny_benchmark)
    for record in load_lvu_task(layout.lvu_labels, "scene", "train"):
        tracks = json.loads((layout.lvu_instances / f"{record.youtube_id}.json").read_text())
        seconds = probe_video(layout.lvu_videos / f"{record.youtube_id}.mp4").duration
        assert tracks["instances"], "no instance boxes at all"
        for instance in tracks["instances"]:
            x1, y1, x2, y2 = instance["box"]
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
            assert str(instance["track_id"]) in tracks["tracks"] and instance["sec"] < seconds
        shot_ids = [i["shot_id"] for i in tracks["instances"]]
        assert shot_ids == sorted(shot_ids)


def test_kinetics_part_is_a_class_folder_per_verb(tiny_benchmark):
    videos = load_video_folder(BenchmarkLayout(tiny_benchmark).kinetics("train"))
    assert sorted({v.label_name for v in videos}) == sorted(v.split(".")[0] for v in VERB_IDS)


def test_long_video_windows_decode_to_their_frames(tiny_benchmark):
    movie = next(BenchmarkLayout(tiny_benchmark).lvu_videos.glob("*.mp4"))
    info = probe_video(movie)
    windows = fixed_stride_windows(info.duration, Fraction(1))
    indices = np.concatenate([clip_frame_indices(w, info.fps, 8, 8, info.num_frames) for w in windows])
    for backend in ("decord", "pyav"):
        frames = read_frames(movie, indices, backend=backend)
        assert [read_frame_code(f) for f in frames] == indices.tolist()


# ---------------------------------------------------------------- deterministic, reusable, atomic
def test_same_seed_same_benchmark_other_seed_other_benchmark(tiny_benchmark, tmp_path):
    again = tmp_path / "again"
    generate(TINY, again, jobs=2, progress=False)
    files = sorted(p.relative_to(tiny_benchmark) for p in tiny_benchmark.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    differing = [f for f in files if f.name != "synth.json" and not filecmp.cmp(tiny_benchmark / f, again / f, False)]
    assert differing == []
    other = tmp_path / "other"
    generate(replace(TINY, seed=1), other, jobs=2, progress=False)
    split = "vidsitu/vidsitu_annotations/split_files/vseg_split_train_lb.json"
    assert (other / split).read_text() != (tiny_benchmark / split).read_text()


def test_existing_benchmark_is_reused_and_other_folders_are_refused(tiny_benchmark, tmp_path):
    manifest = tiny_benchmark / "synth.json"
    before = manifest.stat().st_mtime_ns
    generate(TINY, tiny_benchmark, progress=False)
    assert manifest.stat().st_mtime_ns == before
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(HiermovieError, match="not empty"):
        generate(TINY, occupied, progress=False)
    assert (occupied / "notes.txt").read_text() == "mine"


def test_interrupted_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    def fail(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(generate_module.lvu_part, "write_instances", fail)
    with pytest.raises(RuntimeError):
        generate(replace(TINY, vidsitu_clips=(1, 1, 1), action_clips=(0, 0)), tmp_path / "out", jobs=1, progress=False)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- stories: the signals behind the labels
def _event(verb, agent, patient=None):
    return Event(verb, agent, patient, "quickly", 0, 60)


@pytest.mark.parametrize(
    "earlier, later, relation",
    [
        (_event("push.01", 0, 1), _event("fall.01", 1), "Causes"),
        (_event("push.01", 0, 1), _event("fall.01", 0), "NoRel"),  # the pusher fell: no rule
        (_event("approach.01", 0, 1), _event("flee.01", 1, 0), "Reaction To"),
        (_event("approach.01", 0, 1), _event("push.01", 0, 1), "Enables"),
        (_event("wave.01", 0), _event("wave.01", 1), "Reaction To"),
        (_event("wave.01", 0), _event("wave.01", 0), "NoRel"),
        (_event("jump.01", 2), _event("circle.01", 0, 1), "NoRel"),
    ],
)
def test_relation_grammar(earlier, later, relation):
    assert relation_between(earlier, later) == relation


def test_neighbours_predict_the_central_verb():
    """Context matters: Ev3's verb is far more predictable from Ev2 and Ev4 than by chance."""
    stories = [clip_story(np.random.default_rng([7, i]), 30) for i in range(3000)]
    table = defaultdict(Counter)
    for story in stories[:2000]:
        table[(story.events[1].verb_id, story.events[3].verb_id)][story.events[2].verb_id] += 1
    held_out = stories[2000:]
    hits = sum(
        table[(s.events[1].verb_id, s.events[3].verb_id)].most_common(1)[0][0] == s.events[2].verb_id
        for s in held_out
        if table[(s.events[1].verb_id, s.events[3].verb_id)]
    )
    assert hits / len(held_out) > 3 / len(VERB_IDS)


def test_clip_stories_mix_related_and_hard_events():
    stories = [clip_story(np.random.default_rng([8, i]), 30) for i in range(500)]
    relations = Counter(r for s in stories for r in clip_relations(s))
    assert set(relations) == set(RELATIONS) and relations["NoRel"] < 0.7 * sum(relations.values())
    hard = [sum(e.hardness is not None for e in s.events) for s in stories]
    assert max(hard) <= 2 and 0.15 < np.mean(hard) / 5 < 0.3


def test_every_clip_event_starts_in_sight():
    """Each VidSitu event is a shot of its own: its actor never starts behind the prop after a hide,
    and its scale is the resting one whatever the earlier events grew or shrank."""
    for i in range(100):
        story = clip_story(np.random.default_rng([8, i]), 30)
        assert [(s.start_frame, s.end_frame) for s in story.shots] == [
            (e.start_frame, e.end_frame) for e in story.events
        ]
        assert len({s.location for s in story.shots}) == 1
        tracks = character_tracks(story, np.random.default_rng(i))
        for event in story.events:
            agent = tracks[event.agent]
            assert agent.x[event.start_frame] < PROP_BOX[0] and agent.scale[event.start_frame] == 1.0


def test_synthetic_lvu_classes_fit_lvu_task_sizes():
    assert all(len(LVU_CLASSES[task]) == n for task, n in LVU_TASKS.items() if n)


def test_movie_labels_leave_their_traces():
    for i in range(60):
        movie = movie_story(np.random.default_rng([9, i]), 30, 60)
        for shot in movie.story.shots:
            assert shot.camera == CAMERA_MOVES[movie.labels["director"] % 5]
        assert movie.story.events[-1].end_frame == movie.story.num_frames == 1800
    scenes = [movie_story(np.random.default_rng([9, i]), 30, 120) for i in range(100)]
    assert sum(_dominant_location(m.story) == LVU_CLASSES["scene"][m.labels["scene"]] for m in scenes) >= 80


def test_what_the_leads_do_decides_relationship_and_speaking():
    """Every event joining both leads is the relationship's (verb, manner) and every event a lead does alone is
    the speaking style's, so these events decide the two labels; no ordinary event looks like them."""
    shown = 0
    for i in range(60):
        movie = movie_story(np.random.default_rng([9, i]), 30, 60)
        lead_to_lead = {(e.verb_id, e.manner) for e in movie.story.events if {e.agent, e.patient} == {0, 1}}
        alone = {(e.verb_id, e.manner) for e in movie.story.events if e.agent < 2 and e.patient is None}
        assert lead_to_lead <= {RELATIONSHIP_SIGNATURES[movie.labels["relationship"]]}
        assert alone <= {SPEAKING_GESTURES[movie.labels["way_speaking"]]}
        shown += bool(lead_to_lead and alone)
    assert shown >= 55


def test_like_ratio_follows_from_visible_labels():
    """The like ratio is genre, relationship and year plus little noise: given them, most variance is explained."""
    movies = [movie_story(np.random.default_rng([10, i]), 30, 10) for i in range(300)]
    target = np.array([10 * m.likes / (m.likes + m.dislikes) for m in movies])
    labels = np.array(
        [
            (
                GENRE_LIKE_EFFECT[m.labels["genre"]],
                RELATIONSHIP_LIKE_EFFECT[m.labels["relationship"]],
                m.labels["year"],
                1,
            )
            for m in movies
        ]
    )
    fit, *_ = np.linalg.lstsq(labels, target, rcond=None)
    assert np.var(target - labels @ fit) < 0.15 * np.var(target)


def _dominant_location(story: Story) -> str:
    frames = Counter()
    for shot in story.shots:
        frames[shot.location] += shot.end_frame - shot.start_frame
    return frames.most_common(1)[0][0]


def test_engagement_depends_on_the_genre():
    movies = [movie_story(np.random.default_rng([10, i]), 30, 10) for i in range(400)]
    ratio = np.array([m.likes / (m.likes + m.dislikes) for m in movies])
    comedy = np.array([m.labels["genre"] == 0 for m in movies])
    thriller = np.array([m.labels["genre"] == 3 for m in movies])
    assert ratio[comedy].mean() > ratio[thriller].mean() + 0.03


# ---------------------------------------------------------------- pixels
def _one_event_story(verb, hardness=None, patient=None):
    event = Event(verb, 0, patient, "quickly", 0, 60, hardness)
    return Story(("red circle", "blue square"), (event,), (Shot(0, 60, "office", "static"),), 8, 60)


def test_hard_events_are_hard_to_see():
    dark = [frame for frame, _ in render(_one_event_story("walk.01", "dark"), 64, 0, frame_code=False)]
    assert np.mean(dark) < 25
    panned = [boxes for _, boxes in render(_one_event_story("walk.01", "panned"), 64, 0)]
    assert all(boxes == {} for boxes in panned)
    occluded = [boxes for _, boxes in render(_one_event_story("walk.01", "occluded"), 64, 0)]
    assert sum(len(b) for b in occluded) < sum(len(b) for _, b in render(_one_event_story("walk.01"), 64, 0))


def test_a_hiding_character_ends_out_of_sight():
    boxes = [b for _, b in render(_one_event_story("hide.01"), 64, 0)]
    assert 0 in boxes[0] and 0 not in boxes[-1]


def test_spinning_changes_pixels_but_not_place():
    frames = [f for f, _ in render(_one_event_story("spin.01"), 64, 0, frame_code=False)]
    boxes = [b for _, b in render(_one_event_story("spin.01"), 64, 0)]
    assert boxes[0][0] == boxes[20][0]
    assert np.abs(frames[0].astype(int) - frames[20].astype(int)).sum() > 0


# ---------------------------------------------------------------- verbs are defined by motion
def _action_frames(split: int, per_verb: int) -> tuple[np.ndarray, torch.Tensor]:
    """16 frames (every 4th) of rendered Kinetics-style clips, `per_verb` of each verb; (N, 16, 64, 64, 3)."""
    frames, labels = [], []
    for v, verb in enumerate(VERB_IDS):
        for i in range(per_verb):
            rng = np.random.default_rng([split, v, i])
            video = [f for f, _ in render(action_story(rng, verb, 30, 3), 64, i, frame_code=False)]
            frames.append(np.stack(video[13:77:4]))
            labels.append(v)
    return np.stack(frames), torch.tensor(labels)


@pytest.fixture(scope="module")
def action_frames():
    return _action_frames(0, 16), _action_frames(1, 8)


@pytest.mark.parametrize(("features", "low", "high"), [(motion_energy, 0.4, 1.0), (still_appearance, 0.0, 0.15)])
def test_verbs_are_read_from_motion_not_from_looks(action_frames, features, low, high):
    """A linear probe reads the verb from frame differences (chance 1/14), never from a still of the clip."""
    (train, train_labels), (valid, valid_labels) = action_frames
    x_train, x_valid = (torch.from_numpy(features(f)) for f in (train, valid))
    accuracy = probe_accuracy(x_train, train_labels, x_valid, valid_labels)
    assert low <= accuracy <= high
