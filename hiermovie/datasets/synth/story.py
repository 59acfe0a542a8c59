"""Stories: who does what, where, when, for VidSitu-style clips and LVU-style movies. Pure functions
of a numpy Generator; the renderer turns a story into frames and the writers into annotations."""

from dataclasses import dataclass, replace

import numpy as np

from hiermovie.datasets.synth.world import CHARACTERS, LOCATIONS, RELATION_RULES, VERB_IDS, VERBS, RelationRule, links

HARDNESS = ("occluded", "dark", "panned")  # ways an event is made hard to read on its own


@dataclass(frozen=True)
class Event:
    verb_id: str
    agent: int  # index into the story's cast
    patient: int | None  # the second participant of two-participant verbs
    manner: str  # quickly | slowly
    start_frame: int
    end_frame: int  # exclusive
    hardness: str | None = None  # None, or one of HARDNESS


@dataclass(frozen=True)
class Shot:
    """A stretch of frames with one location and one camera move (a cut starts a new shot)."""

    start_frame: int
    end_frame: int  # exclusive
    location: str
    camera: str  # static | pan | zoom_in | zoom_out | handheld


@dataclass(frozen=True)
class Story:
    cast: tuple[str, ...]  # character names, e.g. ("red circle", "blue square")
    events: tuple[Event, ...]
    shots: tuple[Shot, ...]
    grading: int = 8  # film look: decade index 0 (1930s) .. 8 (2010s), see render.py
    num_frames: int = 0


def relation_between(earlier: Event, later: Event) -> str:
    """VidSitu relation label of two events in time order: the first matching rule, else NoRel."""
    for rule in RELATION_RULES:
        if (earlier.verb_id, later.verb_id) == (rule.earlier, rule.later) and links(
            rule, (earlier.agent, earlier.patient), (later.agent, later.patient)
        ):
            return rule.relation
    return "NoRel"


def _random_cast_for(verb_id: str, cast_size: int, rng: np.random.Generator) -> tuple[int, int | None]:
    agent = int(rng.integers(cast_size))
    if VERBS[verb_id].patient_role is None:
        return agent, None
    patient = int(rng.choice([i for i in range(cast_size) if i != agent]))
    return agent, patient


def _event(verb_id, cast, start, length, rng) -> Event:
    manner = "quickly" if rng.random() < 0.5 else "slowly"
    return Event(verb_id, cast[0], cast[1], manner, start, start + length)


def _linked_cast(verb_id, rule, other: Event, other_is_earlier: bool, cast_size, rng):
    """A cast for a new event that satisfies `rule` with `other`, by rejection sampling (None if none)."""
    fixed = (other.agent, other.patient)
    for _ in range(30):
        cast = _random_cast_for(verb_id, cast_size, rng)
        if links(rule, fixed, cast) if other_is_earlier else links(rule, cast, fixed):
            return cast
    return None


def _hardness(rng: np.random.Generator, prob: float, dark_bias: float = 0.0) -> str | None:
    if rng.random() >= prob:
        return None
    weights = np.array([1.0, 1.0 + dark_bias, 1.0])
    return str(rng.choice(HARDNESS, p=weights / weights.sum()))


def clip_story(rng: np.random.Generator, fps: int, related_prob: float = 0.65, hard_prob: float = 0.25) -> Story:
    """A 10-second VidSitu-style clip: 5 events of 2 s around a central Ev3.

    Ev1, Ev2 (before) and Ev4, Ev5 (after) follow a grammar rule with Ev3 with `related_prob`,
    so Ev3's verb is predictable from its neighbours and vice versa; other events are random.
    At most two events are made hard to read alone (occluded, cut to near-black, camera away).
    Every event is its own shot of the one location: the cast is staged anew at each event, so no
    event starts with its actor behind the prop, already beside its target or stuck at the edge.
    """
    cast_size = 2 if rng.random() < 0.6 else 3
    cast = tuple(str(c) for c in rng.choice(CHARACTERS, size=cast_size, replace=False))
    length = 2 * fps  # VidSitu events are 2 s
    centre_verb = str(rng.choice(VERB_IDS))
    centre = _event(centre_verb, _random_cast_for(centre_verb, cast_size, rng), 2 * length, length, rng)
    events = {2: centre}
    for slot in (1, 0, 3, 4):
        earlier = slot < 2
        candidates = [r for r in RELATION_RULES if (r.later if earlier else r.earlier) == centre_verb]
        new_cast = None
        if candidates and rng.random() < related_prob:
            rule = candidates[int(rng.integers(len(candidates)))]
            verb_id = rule.earlier if earlier else rule.later
            new_cast = _linked_cast(verb_id, rule, centre, not earlier, cast_size, rng)
        if new_cast is None:
            verb_id = str(rng.choice(VERB_IDS))
            new_cast = _random_cast_for(verb_id, cast_size, rng)
        events[slot] = _event(verb_id, new_cast, slot * length, length, rng)
    hard_slots = [s for s in range(5) if rng.random() < hard_prob][:2]
    ordered = tuple(
        replace(events[s], hardness=str(rng.choice(HARDNESS)) if s in hard_slots else None) for s in range(5)
    )
    location = str(rng.choice(list(LOCATIONS)))
    # one shot per event: with a single 10 s shot, 13% of the readable events had their actor hidden
    # behind the prop and 36% of the approaches started already touching (docs/benchmark.md "VidSitu part")
    shots = tuple(Shot(e.start_frame, e.end_frame, location, "static") for e in ordered)
    return Story(cast, ordered, shots, grading=int(rng.integers(5, 9)), num_frames=5 * length)


def clip_relations(story: Story) -> tuple[str, ...]:
    """Relations of Ev1, Ev2, Ev4, Ev5 to Ev3 (VidSitu's EvRel), in that order."""
    ev = story.events
    return (
        relation_between(ev[0], ev[2]),
        relation_between(ev[1], ev[2]),
        relation_between(ev[2], ev[3]),
        relation_between(ev[2], ev[4]),
    )


def action_story(rng: np.random.Generator, verb_id: str, fps: int, seconds: int) -> Story:
    """A short Kinetics-style clip of one action on a random set, for supervised pretraining."""
    cast = tuple(str(c) for c in rng.choice(CHARACTERS, size=2, replace=False))
    length = seconds * fps
    event = _event(verb_id, _random_cast_for(verb_id, 2, rng), 0, length, rng)
    shots = (Shot(0, length, str(rng.choice(list(LOCATIONS))), "static"),)
    return Story(cast, (event,), shots, grading=int(rng.integers(0, 9)), num_frames=length)


# ---------------------------------------------------------------- LVU-style movies
LVU_CLASSES = {
    "relationship": ("friend", "ex_boyfriend_ex_girlfriend", "husband_wife", "boyfriend_girlfriend"),
    "way_speaking": ("explains", "confronts", "discuss", "teaches", "threatens"),
    "scene": tuple(LOCATIONS),
    "director": tuple(f"nm00{7101 + 37 * i:05d}" for i in range(10)),
    "writer": tuple(f"nm01{2203 + 41 * i:05d}" for i in range(10)),
    "year": tuple(str(1930 + 10 * i) for i in range(9)),
    "genre": ("Comedy", "Action-Crime-Adventure", "Romance", "Thriller-Horror"),
}
# what makes each label learnable (docs/benchmark.md documents the same). The leads (cast 0 and 1) act alone
# only to speak and on each other only as their relationship says, so no ordinary event has their cast slots
RELATIONSHIP_SIGNATURES = (  # what one lead does to the other: (verb, manner)
    ("approach.01", "slowly"),
    ("flee.01", "quickly"),
    ("circle.01", "slowly"),
    ("chase.01", "quickly"),
)
SPEAKING_GESTURES = (  # how the speaking lead moves while talking: (verb, manner)
    ("wave.01", "slowly"),
    ("shake.01", "quickly"),
    ("spin.01", "slowly"),
    ("grow.01", "slowly"),
    ("jump.01", "quickly"),
)
GENRE_VERBS = (  # disjoint, so that one ordinary event points at one genre
    ("jump.01", "fall.01", "spin.01"),
    ("chase.01", "push.01", "shake.01"),
    ("approach.01", "circle.01", "walk.01"),
    ("hide.01", "flee.01", "shrink.01"),
)
GENRE_MANNERS = ("quickly", "quickly", "slowly", "slowly")  # the pace of ordinary events (motifs too)
CAMERA_MOVES = ("static", "pan", "zoom_in", "zoom_out", "handheld")  # director d: move d % 5, long takes if d >= 5
# writers are told apart by a favourite two-event motif: writer w keeps reusing RELATION_RULES[w]
GENRE_LIKE_EFFECT = (0.6, -0.2, 0.3, -0.7)
RELATIONSHIP_LIKE_EFFECT = (0.4, -0.6, 0.2, 0.0)
DIRECTOR_VIEW_EFFECT = (0.8, -0.5, 0.2, -1.0, 0.5, 1.1, -0.3, 0.0, -0.8, 0.6)
SCENE_VIEW_EFFECT = (-0.4, 0.6, -0.8, 0.3, 0.9, -0.2)


@dataclass(frozen=True)
class Movie:
    story: Story
    labels: dict[str, int]  # class id for each of the 7 LVU classification tasks
    likes: int
    dislikes: int
    views: int


def movie_labels(rng: np.random.Generator) -> dict[str, int]:
    """Draw the 7 movie-level class labels independently and uniformly."""
    return {task: int(rng.integers(len(names))) for task, names in LVU_CLASSES.items()}


def engagement(labels: dict[str, int], cast_size: int, rng: np.random.Generator) -> tuple[int, int, int]:
    """(likes, dislikes, views): noisy functions of genre, year, relationship, director, scene, cast."""
    z = (  # small noise: the ratio follows from labels the movie shows
        GENRE_LIKE_EFFECT[labels["genre"]]
        + RELATIONSHIP_LIKE_EFFECT[labels["relationship"]]
        + 0.7 * (labels["year"] - 4) / 4
        + 0.15 * rng.normal()
    )
    ratio = float(np.clip(0.914 + 0.06 * z, 0.55, 0.995))  # LVU like ratios centre near 0.91
    total = int(rng.lognormal(8.0, 1.2)) + 50
    likes = max(1, round(total * ratio))
    dislikes = max(1, total - likes)
    log_views = (
        11.76
        + 1.2 * DIRECTOR_VIEW_EFFECT[labels["director"]]
        + 0.8 * SCENE_VIEW_EFFECT[labels["scene"]]
        + 0.4 * (cast_size - 3)
        + 0.6 * rng.normal()
    )
    return likes, dislikes, int(np.exp(log_views))


def _background_cast(verb_id: str, cast_size: int, rng: np.random.Generator) -> tuple[int, int | None]:
    """A random cast for an ordinary event: one-participant verbs are done by an extra (cast 2 or 3), and
    two-participant verbs never join both leads, so the leads' signatures stay theirs alone."""
    if VERBS[verb_id].patient_role is None:
        return int(rng.integers(2, cast_size)), None
    while True:
        agent, patient = _random_cast_for(verb_id, cast_size, rng)
        if max(agent, patient) >= 2:
            return agent, patient


def _motif(rule: RelationRule, cast_size: int, rng: np.random.Generator) -> tuple[tuple, tuple | None]:
    """Background casts of the motif's two events, linked as `rule` says (the second None if none found)."""
    for _ in range(30):
        first = _background_cast(rule.earlier, cast_size, rng)
        second = _background_cast(rule.later, cast_size, rng)
        if links(rule, first, second):
            return first, second
    return first, None


def movie_story(rng: np.random.Generator, fps: int, seconds: int, hard_prob: float = 0.25) -> Movie:
    """A long movie of consecutive events by a recurring cast, carrying the 9 LVU labels."""
    labels = movie_labels(rng)
    cast_size = int(rng.integers(3, 5))  # two leads (cast 0 and 1) and one or two extras
    cast = tuple(str(c) for c in rng.choice(CHARACTERS, size=cast_size, replace=False))
    num_frames = seconds * fps
    motif = RELATION_RULES[labels["writer"]]
    dark_bias = 2.0 if labels["genre"] == 3 else 0.0  # thrillers cut to black more often
    pace = GENRE_MANNERS[labels["genre"]]  # the manner of every ordinary event
    events: list[Event] = []
    frame = 0
    while frame < num_frames:
        length = int(rng.choice([45, 60, 75, 90])) * fps // 30  # 1.5 to 3 s
        draw = rng.random()
        lead = int(rng.integers(2))
        if draw < 0.2:  # the speaking lead's gesture (way_speaking)
            verb_id, manner = SPEAKING_GESTURES[labels["way_speaking"]]
            cast_ix = (lead, None)
        elif draw < 0.4:  # one lead acting on the other (relationship)
            verb_id, manner = RELATIONSHIP_SIGNATURES[labels["relationship"]]
            cast_ix = (lead, 1 - lead)
        elif draw < 0.7:  # the writer's motif: an event, then its grammatical follow-up
            first_cast, second_cast = _motif(motif, cast_size, rng)
            verb_id, cast_ix, manner = motif.earlier, first_cast, pace
            if second_cast is not None:
                events.append(
                    Event(verb_id, *cast_ix, manner, frame, frame + length, _hardness(rng, hard_prob, dark_bias))
                )
                frame += length
                verb_id, cast_ix = motif.later, second_cast
        else:  # genre-typical action
            verb_id = str(rng.choice(GENRE_VERBS[labels["genre"]]))
            cast_ix, manner = _background_cast(verb_id, cast_size, rng), pace
        events.append(Event(verb_id, *cast_ix, manner, frame, frame + length, _hardness(rng, hard_prob, dark_bias)))
        frame += length
    events = [e for e in events if e.start_frame < num_frames]
    events[-1] = replace(events[-1], end_frame=num_frames)
    story = Story(cast, tuple(events), _movie_shots(rng, events, labels), labels["year"], num_frames)
    return Movie(story, labels, *engagement(labels, cast_size, rng))


def _movie_shots(rng: np.random.Generator, events: list[Event], labels: dict[str, int]) -> tuple[Shot, ...]:
    """Cut the movie into shots at event boundaries; most shots are in the dominant location."""
    long_takes = labels["director"] >= 5
    camera = CAMERA_MOVES[labels["director"] % 5]
    dominant = LVU_CLASSES["scene"][labels["scene"]]
    shots, start, events_in_shot = [], 0, 0
    target = int(rng.integers(3, 6) if long_takes else rng.integers(1, 3))
    for i, event in enumerate(events):
        events_in_shot += 1
        if events_in_shot >= target or i == len(events) - 1:
            location = dominant if rng.random() < 0.65 else str(rng.choice(list(LOCATIONS)))
            shots.append(Shot(start, event.end_frame, location, camera))
            start, events_in_shot = event.end_frame, 0
            target = int(rng.integers(3, 6) if long_takes else rng.integers(1, 3))
    return tuple(shots)
