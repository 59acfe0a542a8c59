"""The VidSitu-format part: 10-second clips and their annotations in VidSitu's JSON files
(shared/notes/vidsitu.md section 1), with annotator noise: verb votes, paraphrased role fillers,
relation disagreements."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hiermovie.datasets.config import SynthConfig
from hiermovie.datasets.synth.story import Story, clip_relations, clip_story
from hiermovie.datasets.synth.world import (
    CONFUSABLE,
    LOCATION_ROLE,
    LOCATIONS,
    MANNER_ROLE,
    MANNERS,
    SCENE_ROLE,
    VERB_IDS,
    VERBS,
    phrase,
    phrase_character,
)
from hiermovie.datasets.vidsitu import EVENTS, RELATIONS

TEST_SPLITS = ("testvb", "testsrl", "testevrel")
VERB_VOTES = 10  # VidSitu valid: 10 verb annotations per event
GENRES = ("Comedy", "Action", "Romance", "Thriller", "Drama")


@dataclass(frozen=True)
class Clip:
    clip_id: str  # VidSitu id "v_{youtube id}_seg_{start}_{end}"
    story: Story
    info: dict  # the vinfo record (without the verb lists)


def youtube_id(rng: np.random.Generator) -> str:
    """An 11-character id in YouTube's alphabet."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[i] for i in rng.integers(0, 64, size=11))


def make_clip(
    rng: np.random.Generator, fps: int, related_prob: float, hard_prob: float, movie: tuple[str, str], part: int
) -> Clip:
    """One clip: its story and the vinfo record of segment `part` of `movie` (YouTube id, title).

    Clips of one movie share its YouTube id and title, as VidSitu's clips of one movie do; their 10-second
    segments never overlap.
    """
    story = clip_story(rng, fps, related_prob, hard_prob)
    youtube_id(rng)  # drawn and dropped: the movie names the clip; keeps every later draw as it was
    name, start = movie[0], 120 * part + 5 * int(rng.integers(0, 24))
    clip_id = f"v_{name}_seg_{start}_{start + 10}"
    year = 1930 + 10 * story.grading + int(rng.integers(0, 10))  # the film look matches the release decade
    genre = str(rng.choice(GENRES))
    rng.integers(1, 999)  # was the per-clip title's number: the movie's title now
    info = {
        "vid_uid": name,
        "vid_seg_int": clip_id,
        "name": name,
        "start": start,
        "end": start + 10,
        "duration": 10,
        "genres": [genre],
        "movie_name": movie[1],
        "clip_name": f"{story.cast[0]} meets {story.cast[1]}",
        "imdb_id": f"tt{rng.integers(10**6, 10**7)}",
        "year_rel": year,
        "upload_year": year + int(rng.integers(0, 10)),
        "text": "",
    }
    return Clip(clip_id, story, info)


def verb_vote(true_verb: str, rng: np.random.Generator, hard: bool) -> str:
    """One annotator's verb: usually the true one, else a confusable or, rarely, any verb."""
    draw = rng.random()
    if draw < (0.7 if hard else 0.8):
        return true_verb
    if draw < 0.93:
        return str(rng.choice(CONFUSABLE[true_verb]))
    return str(rng.choice(VERB_IDS))


def _relation_vote(true_relation: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.8:
        return true_relation
    return str(rng.choice([r for r in RELATIONS if r != true_relation]))


def annotate(clip: Clip, rng: np.random.Generator, verbs: list[str], with_roles=True, with_relations=True) -> dict:
    """One annotator's vsann record of a clip: per event the verb, role fillers and EvRel."""
    story = clip.story
    location = LOCATIONS[story.shots[0].location]
    relations = dict(zip(("Ev1", "Ev2", "Ev4", "Ev5"), clip_relations(story), strict=True))
    record = {}
    for ev, event, verb_id in zip(EVENTS, story.events, verbs, strict=True):
        entry = {
            "vid_uid": clip.info["vid_uid"],
            "vid_seg_int": clip.clip_id,
            "Verb": verb_id.split(".")[0],
            "VerbID": verb_id,
        }
        if with_roles:
            verb = VERBS[event.verb_id]
            args = {verb.agent_role: phrase_character(story.cast[event.agent], rng)}
            if verb.patient_role:
                args[verb.patient_role] = phrase_character(story.cast[event.patient], rng)
            if event.verb_id == "hide.01":
                args[LOCATION_ROLE] = f"behind the {location.prop}"
            args[MANNER_ROLE] = phrase(MANNERS[event.manner], rng)
            args[SCENE_ROLE] = phrase(location.phrases, rng)
            entry["Arg_List"] = {role: str(i + 1) for i, role in enumerate(args)}
            entry["Args"] = args
        if with_relations and ev in relations:
            entry["EvRel"] = _relation_vote(relations[ev], rng)
        record[ev] = entry
    return record


def split_records(clips: list[Clip], split: str, rng: np.random.Generator) -> tuple[list, list]:
    """(vinfo records, vsann records) of a split, labelled as VidSitu's train or valid files are:
    train has one annotation per clip; valid has 10 verb votes per event and 3 or 4 annotations."""
    vinfo, vsann = [], []
    for clip in clips:
        events = clip.story.events
        true_verbs = [e.verb_id for e in events]
        if split == "train":
            vinfo.append(clip.info)
            vsann.append(annotate(clip, rng, [verb_vote(e.verb_id, rng, e.hardness is not None) for e in events]))
            continue
        votes = {
            ev: [verb_vote(e.verb_id, rng, e.hardness is not None) for _ in range(VERB_VOTES)]
            for ev, e in zip(EVENTS, events, strict=True)
        }
        vinfo.append(
            {
                **clip.info,
                "vbid_lst": votes,
                "vb_lst": {ev: [v.split(".")[0] for v in vs] for ev, vs in votes.items()},
                "vb_to_use": dict(zip(EVENTS, true_verbs, strict=True)),
            }
        )
        # every role/relation annotator of a valid clip describes the same verbs (VidSitu's vb_to_use)
        vsann += [annotate(clip, rng, true_verbs) for _ in range(3 + int(rng.random() < 0.5))]
    return vinfo, vsann


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


def write_annotations(root: Path, clips: dict[str, list[Clip]], rng: np.random.Generator) -> None:
    """Write VidSitu's split, vinfo and vsann files for every split under `root`.

    Test splits get VidSitu's `_noann` inputs (verbs for testsrl; verbs and roles for testevrel);
    their hidden labels go to `vidsitu_annotations/hidden_test_answers/` in the valid format."""
    ann = root / "vidsitu_annotations"
    for split, split_clips in clips.items():
        _dump(ann / "split_files" / f"vseg_split_{split}_lb.json", [c.clip_id for c in split_clips])
        vinfo, vsann = split_records(split_clips, "train" if split == "train" else "valid", rng)
        if split in ("train", "valid"):
            _dump(ann / "vinfo_files" / f"vinfo_{split}_lb.json", vinfo)
            _dump(ann / "vseg_ann_files" / f"vsann_{split}_lb.json", vsann)
            continue
        _dump(ann / "hidden_test_answers" / f"vinfo_{split}_lb.json", vinfo)
        _dump(ann / "hidden_test_answers" / f"vsann_{split}_lb.json", vsann)
        if split == "testvb":
            continue
        noann = [
            annotate(c, rng, [e.verb_id for e in c.story.events], with_roles=split == "testevrel", with_relations=False)
            for c in split_clips
        ]
        _dump(ann / "vseg_ann_files" / f"vsann_{split}_noann_lb.json", noann)


def make_clips(config: SynthConfig, lvu_youtube_ids: list[str]) -> dict[str, list[Clip]]:
    """Clips of every split, each from its own seeded generator (order-independent, reproducible).

    Consecutive clips of a split come from one made-up movie, `config.vidsitu_clips_per_movie` each (VidSitu:
    29k clips from 3k movies). The first `config.lvu_overlap_clips` valid clips are cut from LVU movies
    (their YouTube ids): the overlap the paper removes from VidSitu val before scoring (sec. 4).
    """
    counts = config.vidsitu_clips
    sizes = {"train": counts[0], "valid": counts[1], **{s: counts[2] for s in TEST_SPLITS}}
    per_movie = config.vidsitu_clips_per_movie
    if config.lvu_overlap_clips > min(counts[1], len(lvu_youtube_ids)):
        raise ValueError(
            f"{config.lvu_overlap_clips} overlap clips, but {counts[1]} valid clips and "
            f"{len(lvu_youtube_ids)} LVU movies"
        )
    clips = {}
    for k, (split, n) in enumerate(sizes.items()):
        clips[split] = []
        for i in range(n):
            movie_rng = np.random.default_rng([config.seed, 4, k, i // per_movie])
            movie = (youtube_id(movie_rng), f"Toy Movie {movie_rng.integers(1, 999)}")
            part = i % per_movie
            if split == "valid" and i < config.lvu_overlap_clips:
                movie, part = (lvu_youtube_ids[i], f"Toy Movie {i} (in LVU)"), 0
            rng = np.random.default_rng([config.seed, 1, k, i])
            clips[split].append(make_clip(rng, config.fps, config.related_prob, config.hard_prob, movie, part))
    return clips
