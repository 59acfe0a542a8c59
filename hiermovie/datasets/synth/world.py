"""The toy-movie world: characters, locations, verbs, manners, the causal grammar of relations, and
how annotators name things. Plain data and small pure functions; nothing here draws or writes."""

from dataclasses import dataclass

import numpy as np

COLOURS = {  # name -> RGB; synonyms annotators use
    "red": ((220, 40, 40), ("red", "crimson")),
    "blue": ((40, 80, 230), ("blue", "dark blue")),
    "green": ((40, 180, 60), ("green", "bright green")),
    "yellow": ((240, 220, 40), ("yellow", "golden")),
    "purple": ((150, 60, 200), ("purple", "violet")),
    "orange": ((250, 140, 30), ("orange", "orange coloured")),
}
SHAPES = {  # name -> nouns annotators use for it
    "circle": ("circle", "round shape", "disc", "ball"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge", "triangular shape"),
    "star": ("star", "star shape"),
    "diamond": ("diamond", "rhombus", "diamond shape"),
}
CHARACTERS = tuple(f"{colour} {shape}" for shape in SHAPES for colour in COLOURS)


@dataclass(frozen=True)
class Location:
    name: str  # also an LVU `scene` class name
    wall: tuple[int, int, int]  # base colour of the background
    pattern: str  # texture drawn over it: stripes_h | stripes_v | grid | bars | checker | dots
    prop: str  # the object characters hide behind
    phrases: tuple[str, ...]  # how annotators name the place (the AScn role)


LOCATIONS = {
    loc.name: loc
    for loc in (
        Location("office", (200, 190, 160), "stripes_h", "desk", ("in the office", "an office", "inside an office")),
        Location("airport", (170, 180, 190), "stripes_v", "pillar", ("at the airport", "an airport", "airport hall")),
        Location("school", (150, 170, 120), "grid", "bookcase", ("in a school", "a classroom", "at school")),
        Location("hotel", (130, 50, 60), "stripes_v", "sofa", ("in the hotel", "a hotel lobby", "hotel")),
        Location("prison", (90, 90, 95), "bars", "wall", ("in a prison", "a prison cell", "jail")),
        Location("restaurant", (210, 120, 70), "checker", "counter", ("in a restaurant", "a diner", "restaurant")),
    )
}


@dataclass(frozen=True)
class Verb:
    verb_id: str  # VidSitu style PropBank sense id
    agent_role: str  # role key of the mover, in VidSitu's "ArgN (description)" form
    patient_role: str | None  # role key of the other character, for verbs with two participants


VERBS = {
    v.verb_id: v
    for v in (
        Verb("walk.01", "Arg0 (walker)", None),
        Verb("jump.01", "Arg0 (jumper)", None),
        Verb("spin.01", "Arg0 (spinner)", None),
        Verb("grow.01", "Arg1 (thing growing)", None),
        Verb("shrink.01", "Arg1 (thing shrinking)", None),
        Verb("wave.01", "Arg0 (waver)", None),
        Verb("shake.01", "Arg1 (thing shaking)", None),
        Verb("fall.01", "Arg1 (thing falling)", None),
        Verb("hide.01", "Arg0 (hider)", None),
        Verb("approach.01", "Arg0 (approacher)", "Arg1 (thing approached)"),
        Verb("push.01", "Arg0 (pusher)", "Arg1 (thing pushed)"),
        Verb("chase.01", "Arg0 (chaser)", "Arg1 (thing chased)"),
        Verb("flee.01", "Arg0 (fleer)", "Arg1 (thing fled from)"),
        Verb("circle.01", "Arg0 (circler)", "Arg1 (thing circled)"),
    )
}
VERB_IDS = tuple(VERBS)
# verbs annotators confuse with each other (they pick these instead of the true verb now and then)
CONFUSABLE = {
    "walk.01": ("approach.01",),
    "jump.01": ("fall.01",),
    "spin.01": ("shake.01", "wave.01"),
    "grow.01": ("jump.01",),
    "shrink.01": ("fall.01",),
    "wave.01": ("shake.01",),
    "shake.01": ("wave.01",),
    "fall.01": ("shrink.01", "jump.01"),
    "hide.01": ("walk.01",),
    "approach.01": ("walk.01", "chase.01"),
    "push.01": ("approach.01",),
    "chase.01": ("approach.01", "flee.01"),
    "flee.01": ("walk.01", "chase.01"),
    "circle.01": ("walk.01", "approach.01"),
}
MANNERS = {"quickly": ("quickly", "fast", "rapidly", "in a hurry"), "slowly": ("slowly", "at a slow pace", "gently")}
MANNER_ROLE = "ArgM (manner)"  # mapped to AMnr: written, not scored by VidSitu
LOCATION_ROLE = "ArgM (location)"  # mapped to ALoc: where a character hides
SCENE_ROLE = "Scene of the Event"  # mapped to AScn


@dataclass(frozen=True)
class RelationRule:
    """`earlier` then `later` stand in `relation` when their characters are linked as `link` says.

    link: "same" (same agent), "patient_acts" (the later agent is the earlier patient),
    "patient_replies" (later agent = earlier patient and later patient = earlier agent),
    "other" (a different character answers).
    """

    earlier: str
    later: str
    link: str
    relation: str


# The causal grammar. VidSitu's relation of EvX to Ev3 reads "the earlier event Causes / Enables the
# later one" or "the later one is a Reaction To the earlier one"; a pair that matches no rule is NoRel.
RELATION_RULES = (
    RelationRule("push.01", "fall.01", "patient_acts", "Causes"),
    RelationRule("push.01", "spin.01", "patient_acts", "Causes"),
    RelationRule("push.01", "shrink.01", "patient_acts", "Causes"),
    RelationRule("jump.01", "fall.01", "same", "Causes"),
    RelationRule("spin.01", "fall.01", "same", "Causes"),
    RelationRule("fall.01", "shake.01", "same", "Causes"),
    RelationRule("approach.01", "flee.01", "patient_replies", "Reaction To"),
    RelationRule("chase.01", "hide.01", "patient_acts", "Reaction To"),
    RelationRule("push.01", "chase.01", "patient_replies", "Reaction To"),
    RelationRule("grow.01", "flee.01", "other", "Reaction To"),
    RelationRule("wave.01", "wave.01", "other", "Reaction To"),
    RelationRule("walk.01", "approach.01", "same", "Enables"),
    RelationRule("approach.01", "push.01", "same", "Enables"),
    RelationRule("approach.01", "circle.01", "same", "Enables"),
    RelationRule("grow.01", "push.01", "same", "Enables"),
)


def links(rule: RelationRule, earlier: tuple[int, int | None], later: tuple[int, int | None]) -> bool:
    """Whether the (agent, patient) casts of two events satisfy the rule's link."""
    (agent_a, patient_a), (agent_b, patient_b) = earlier, later
    if rule.link == "same":
        return agent_b == agent_a and (patient_b is None or patient_a is None or patient_b == patient_a)
    if rule.link == "patient_acts":
        return patient_a is not None and agent_b == patient_a
    if rule.link == "patient_replies":
        return patient_a is not None and agent_b == patient_a and patient_b == agent_a
    return agent_b != agent_a and (patient_b is None or patient_b == agent_a)  # "other"


def phrase_character(name: str, rng: np.random.Generator) -> str:
    """How one annotator names a character: "red circle", "the red circle", "a crimson disc", ..."""
    colour, shape = name.split()
    noun = SHAPES[shape][0] if rng.random() < 0.6 else str(rng.choice(SHAPES[shape]))
    adjective = colour if rng.random() < 0.75 else str(rng.choice(COLOURS[colour][1]))
    article = str(rng.choice(["", "the ", "a "], p=[0.3, 0.45, 0.25]))
    if article == "a " and adjective[0] in "aeiou":
        article = "an "
    return f"{article}{adjective} {noun}"


def phrase(options: tuple[str, ...], rng: np.random.Generator) -> str:
    """One annotator's choice among paraphrases, the first being the most common."""
    return options[0] if rng.random() < 0.5 else str(rng.choice(options))
