"""Draw a story into RGB frames: textured sets, shape characters with a visible "eye" (so spins
show), motion programs per verb, camera moves, the hard-to-read events, a film look per decade,
and the frame-index code strip. World coordinates: the stage is [0, 1] x [0, 1], y down."""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hiermovie.datasets.synth.framecode import draw_frame_code
from hiermovie.datasets.synth.story import Event, Shot, Story
from hiermovie.datasets.synth.world import COLOURS, LOCATIONS

BODY_RADIUS = 0.11  # character radius in stage units at scale 1
OUTLINE = (20, 20, 20)  # every character has a dark rim, so it stands out on any set and in any film look
EVENT_SECONDS = 2.0  # motion programs are written for VidSitu's 2 s events; longer events continue them
FRIEZE = 0.28  # the set's pattern covers the top of the wall (screen rows 0..0.28 at rest), above the action
PROP_BOX = (0.78, 0.42, 0.94, 0.88)  # x1, y1, x2, y2 of the object characters hide behind
PROP_COLOUR = (95, 62, 40)
CURTAIN = (0.12, 0.9)  # screen x-range covered by the foreground curtain of "occluded" events
ANGLE_BUCKETS = 24
# film look per decade 1930s..2010s: (saturation, RGB tint, contrast, wear), wear = (flicker, specks):
# old films flicker in brightness (sigma, grey levels) and carry dust specks (per frame). Wear is
# global or sparse on purpose: per-pixel grain would make H.264 files ~25x larger. It is kept faint
# (3 grey levels at most): stronger flicker swamped the characters' motion in frame differences.
FILM_LOOKS = (
    (0.0, (1.0, 1.0, 1.0), 0.8, (3, 2)),
    (0.0, (1.0, 1.0, 1.0), 0.9, (3, 2)),
    (0.2, (1.1, 0.95, 0.75), 0.9, (2, 2)),
    (0.5, (1.08, 1.0, 0.85), 0.95, (2, 1)),
    (0.7, (1.1, 1.05, 0.8), 1.0, (1, 1)),
    (0.85, (1.08, 0.9, 1.05), 1.05, (1, 1)),
    (0.9, (0.95, 1.08, 0.95), 1.05, (1, 0)),
    (1.0, (0.9, 1.0, 1.1), 1.15, (0, 0)),
    (1.0, (1.0, 1.0, 1.0), 1.25, (0, 0)),
)


@dataclass
class _Tracks:
    """Per-frame pose of every character: arrays of shape (num_frames,)."""

    x: np.ndarray
    y: np.ndarray
    scale: np.ndarray
    angle: np.ndarray


def _texture(location: str, size: int) -> np.ndarray:
    """A 2x-size tileable set for a location: wall colour, a patterned frieze along the top of the wall,
    a darker floor. (2S, 2S, 3) uint8. The wall behind the characters stays plain: a pattern there hid
    the actions from small video networks."""
    loc = LOCATIONS[location]
    canvas = np.empty((2 * size, 2 * size, 3), np.float32)
    canvas[:] = loc.wall
    yy, xx = np.mgrid[0 : 2 * size, 0 : 2 * size]
    period = max(4, size // 8)
    pattern = {
        "stripes_h": (yy // period) % 2 == 0,
        "stripes_v": (xx // period) % 2 == 0,
        "grid": (yy % period == 0) | (xx % period == 0),
        "bars": (xx % (2 * period)) < period // 2,
        "checker": ((yy // period) + (xx // period)) % 2 == 0,
    }[loc.pattern]
    frieze = ((yy - size // 2) % size) < int(FRIEZE * size)  # canvas row size/2 is the top of the screen at rest
    canvas[pattern & frieze] *= 0.72
    canvas[int(1.38 * size) :] *= 0.55  # floor below stage y = 0.88
    return canvas.astype(np.uint8)


@lru_cache(maxsize=4096)
def _sprite(shape: str, radius: int, angle_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (body, eye) of a character, (2r+1, 2r+1) each, rotated to the angle bucket."""
    theta = 2 * np.pi * angle_bucket / ANGLE_BUCKETS
    v, u = np.mgrid[-radius : radius + 1, -radius : radius + 1] / max(radius, 1)
    cu, sv = np.cos(theta), np.sin(theta)
    u, v = cu * u + sv * v, -sv * u + cu * v  # rotate the grid by -theta
    r, phi = np.hypot(u, v), np.arctan2(v, u)
    body = {
        "circle": r <= 1.0,
        "square": np.maximum(np.abs(u), np.abs(v)) <= 0.78,
        "diamond": np.abs(u) + np.abs(v) <= 1.0,
        "triangle": (v <= 0.5) & (v >= 2.0 * np.abs(u) - 1.2),
        "star": r <= 0.45 + 0.55 * (0.5 + 0.5 * np.cos(5 * (phi + np.pi / 2))) ** 2,
    }[shape]
    eye = np.hypot(u - 0.4, v + 0.1) <= 0.22
    return body, eye & body


def _motion(event: Event, tracks: list[_Tracks], fps: int) -> None:
    """Write the event's poses for its agent (and patient) into `tracks`, continuing from the frame
    before the event. Verbs are motion programs on a clock of EVENT_SECONDS: a 2 s event plays one
    program, a longer one keeps going (periodic verbs repeat, goal-directed ones rest at their goal),
    so a verb moves at the same speed in every part of the benchmark. `quickly` moves further and faster.
    Repetitive motions stay slow (at most 1.5 cycles or 1 turn a second) so that even 8 frames sampled
    every 8 (3.75 Hz) show them without aliasing."""
    f0, f1 = event.start_frame, event.end_frame
    u = np.arange(f1 - f0) / (fps * EVENT_SECONDS)  # program time, 1.0 = one 2 s event, (T,)
    speed = 1.6 if event.manner == "quickly" else 0.8
    quick = speed > 1
    reach = np.minimum(1.0, speed * u)
    a, b = tracks[event.agent], tracks[event.patient] if event.patient is not None else None
    ax, ay, ascale = a.x[f0], a.y[f0], a.scale[f0]
    toward = 1.0 if b is None or b.x[f0] >= ax else -1.0  # direction from agent to patient
    centreward = 1.0 if ax < 0.5 else -1.0
    touching = 2.2 * BODY_RADIUS  # centre distance of two characters side by side
    verb = event.verb_id.split(".")[0]
    if verb == "walk":
        a.x[f0:f1] = ax + centreward * 0.35 * speed * u
        a.y[f0:f1] = ay - 0.02 * np.abs(np.sin(np.pi * 4 * speed * u))
    elif verb == "jump":
        a.y[f0:f1] = ay - 0.25 * np.abs(np.sin(np.pi * (2 if quick else 1) * u))
    elif verb == "spin":
        a.angle[f0:f1] = 2 * np.pi * (1.0 if quick else 0.5) * u
    elif verb in ("grow", "shrink"):
        a.scale[f0:f1] = ascale * (1 + (0.7 if verb == "grow" else -0.5) * reach)
    elif verb == "wave":
        a.angle[f0:f1] = 0.8 * np.sin(2 * np.pi * (1.5 if quick else 1) * u)
    elif verb == "shake":
        a.x[f0:f1] = ax + 0.08 * np.sin(2 * np.pi * (3 if quick else 2) * u)
    elif verb == "fall":
        a.angle[f0:f1] = (np.pi / 2) * reach
        a.y[f0:f1] = ay + 0.1 * reach
    elif verb == "hide":
        target_x, target_y = (PROP_BOX[0] + PROP_BOX[2]) / 2, (PROP_BOX[1] + PROP_BOX[3]) / 2
        a.x[f0:f1] = ax + (target_x - ax) * reach
        a.y[f0:f1] = ay + (target_y - ay) * reach
    elif verb == "approach":
        a.x[f0:f1] = ax + (b.x[f0] - toward * touching - ax) * reach
    elif verb == "push":
        contact = b.x[f0] - toward * touching
        phase1, phase2 = np.minimum(1.0, u / 0.4), np.clip((u - 0.4) / 0.6, 0.0, 1.0)
        shove = toward * 0.25 * speed * phase2
        a.x[f0:f1] = ax + (contact - ax) * phase1 + shove
        b.x[f0:f1] = b.x[f0] + shove
        b.angle[f0:f1] = toward * 0.5 * phase2
    elif verb == "chase":
        b.x[f0:f1] = b.x[f0] + toward * 0.35 * speed * u  # the patient runs on, away from the agent
        a.x[f0:f1] = ax + (b.x[f0:f1] - ax - toward * touching) * np.minimum(1.0, 1.4 * u)
    elif verb == "flee":
        a.x[f0:f1] = ax - toward * 0.4 * speed * u
    elif verb == "circle":
        start = np.arctan2(ay - b.y[f0], ax - b.x[f0])
        sweep = start + 2 * np.pi * speed * u
        a.x[f0:f1] = b.x[f0] + 1.1 * touching * np.cos(sweep)
        a.y[f0:f1] = b.y[f0] + 0.75 * touching * np.sin(sweep)
    for track in tracks:  # keep everyone on stage
        np.clip(track.x[f0:f1], 0.08, 0.92, out=track.x[f0:f1])
        np.clip(track.y[f0:f1], 0.3, 0.85, out=track.y[f0:f1])
        np.clip(track.scale[f0:f1], 0.4, 2.2, out=track.scale[f0:f1])


def character_tracks(story: Story, rng: np.random.Generator, fps: int = 30) -> list[_Tracks]:
    """Poses of every character in every frame: placed anew at each cut, then moved by the events."""
    n = story.num_frames
    tracks = [_Tracks(np.zeros(n), np.zeros(n), np.ones(n), np.zeros(n)) for _ in story.cast]
    shot_starts = {shot.start_frame for shot in story.shots}
    events = sorted(story.events, key=lambda e: e.start_frame)
    for event in events:
        f0, f1 = event.start_frame, event.end_frame
        for i, track in enumerate(tracks):
            if f0 in shot_starts:  # a cut: everyone placed anew, spread along the stage
                track.x[f0] = 0.1 + 0.62 * (i + rng.random()) / len(tracks)  # left of the prop
                track.y[f0] = rng.uniform(0.5, 0.75)
                track.scale[f0] = 1.0
            elif f0 > 0:
                track.x[f0], track.y[f0], track.scale[f0] = track.x[f0 - 1], track.y[f0 - 1], track.scale[f0 - 1]
            track.x[f0:f1], track.y[f0:f1], track.scale[f0:f1] = track.x[f0], track.y[f0], track.scale[f0]
            track.angle[f0:f1] = 0.0
        _motion(event, tracks, fps)
    return tracks


def _camera(shot: Shot, frame: int, phases: np.ndarray) -> tuple[float, float, float]:
    """(centre x, centre y, zoom) of the camera at `frame` of `shot`."""
    t = (frame - shot.start_frame) / max(1, shot.end_frame - shot.start_frame - 1)
    if shot.camera == "pan":
        return 0.5 + 0.3 * (t - 0.5), 0.5, 1.0
    if shot.camera == "zoom_in":
        return 0.5, 0.55, 1.0 + 0.45 * t
    if shot.camera == "zoom_out":
        return 0.5, 0.55, 1.45 - 0.45 * t
    if shot.camera == "handheld":
        wobble = np.sin(frame * np.array([0.21, 0.37, 0.13, 0.29]) + phases)  # (4,)
        return 0.5 + 0.02 * (wobble[0] + wobble[1]), 0.5 + 0.02 * (wobble[2] + wobble[3]), 1.0
    return 0.5, 0.5, 1.0


def film_look(rgb: np.ndarray, decade: int) -> np.ndarray:
    """Colour grading of a decade (saturation, tint, contrast) applied to RGB values (..., 3)."""
    saturation, tint, contrast, _ = FILM_LOOKS[decade]
    mix = saturation * np.eye(3) + (1 - saturation) / 3  # (3, 3): blend each channel towards grey
    matrix = contrast * np.diag(tint) @ mix  # (3, 3)
    graded = np.rint(np.asarray(rgb, np.float64) @ matrix.T + 128.0 * (1 - contrast))  # (..., 3)
    return np.clip(graded, 0, 255).astype(np.uint8)


def render(
    story: Story, size: int, seed: int, frame_code: bool = True, fps: int = 30
) -> Iterator[tuple[np.ndarray, dict]]:
    """Yield (frame, boxes) for every frame: frame (S, S, 3) uint8 RGB; boxes maps a cast index to
    its visible normalised box (x1, y1, x2, y2), for the instance tracks of the LVU part."""
    rng = np.random.default_rng(seed)
    tracks = character_tracks(story, rng, fps)
    # grading is per pixel and position-free: grade the sets and the character colours once
    textures = {loc: film_look(_texture(loc, size), story.grading) for loc in {s.location for s in story.shots}}
    colours = {name: film_look(COLOURS[name][0], story.grading) for name in COLOURS}
    colours["eye"], colours["prop"] = film_look((255, 255, 255), story.grading), film_look(PROP_COLOUR, story.grading)
    curtain, folds = film_look((40, 70, 45), story.grading), film_look((25, 45, 30), story.grading)
    flicker, specks = FILM_LOOKS[story.grading][3]
    phases = rng.uniform(0, 2 * np.pi, 4)
    event_at = np.zeros(story.num_frames, dtype=np.int64)
    for i, event in enumerate(story.events):
        event_at[event.start_frame : event.end_frame] = i
    pixel = (np.arange(size) + 0.5) / size - 0.5  # screen offsets from the centre, stage units at zoom 1
    for shot in story.shots:
        canvas, view, background = textures[shot.location], None, None
        for f in range(shot.start_frame, shot.end_frame):
            hardness = story.events[event_at[f]].hardness
            cx, cy, zoom = _camera(shot, f, phases)
            if hardness == "panned":
                cx += 1.4  # the camera looks away from the stage: even a grown character at x 0.92 is off screen
            if view != (cx, cy, zoom):  # the set only needs resampling when the camera moves
                view = (cx, cy, zoom)
                rows = (((cy + pixel / zoom) + 0.5) * size).astype(np.int64) % (2 * size)
                cols = (((cx + pixel / zoom) + 0.5) * size).astype(np.int64) % (2 * size)
                background = canvas[rows[:, None], cols[None, :]]  # (S, S, 3)
            frame = background.copy()
            boxes = _draw_characters(frame, story, tracks, f, view, size, colours)
            _draw_box(frame, PROP_BOX, view, size, colours["prop"])
            boxes = {k: v for k, v in boxes.items() if not _inside(v, PROP_BOX, view, size)}
            if hardness == "occluded":
                x1, x2 = int(CURTAIN[0] * size), int(CURTAIN[1] * size)
                frame[:, x1:x2] = curtain
                frame[:, x1:x2:6] = folds
                boxes = {k: v for k, v in boxes.items() if not CURTAIN[0] < (v[0] + v[2]) / 2 < CURTAIN[1]}
            if hardness == "dark":
                frame //= 10
            if flicker:
                levels = np.clip(np.arange(256) + int(flicker * rng.standard_normal()), 0, 255).astype(np.uint8)
                frame = levels[frame]  # the whole frame brighter or darker
            for x, y in rng.integers(0, size - 2, size=(specks, 2)):
                frame[y : y + 2, x : x + 2] = 30  # dust
            if frame_code:
                draw_frame_code(frame, f)
            yield frame, boxes


def _to_screen(x, y, camera, size):
    cx, cy, zoom = camera
    return ((x - cx) * zoom + 0.5) * size, ((y - cy) * zoom + 0.5) * size


def _draw_characters(frame, story, tracks, f, camera, size, colours) -> dict[int, tuple[float, float, float, float]]:
    boxes = {}
    for i, name in enumerate(story.cast):
        colour, shape = name.split()
        track = tracks[i]
        px, py = _to_screen(track.x[f], track.y[f], camera, size)
        radius = max(2, int(BODY_RADIUS * track.scale[f] * camera[2] * size))
        bucket = int(round(track.angle[f] / (2 * np.pi) * ANGLE_BUCKETS)) % ANGLE_BUCKETS
        rim = radius + max(1, radius // 5)
        outline, _ = _sprite(shape, rim, bucket)
        body, eye = _sprite(shape, radius, bucket)
        _paint(frame, outline, int(px) - rim, int(py) - rim, size, OUTLINE)
        box = _paint(frame, body, int(px) - radius, int(py) - radius, size, colours[colour])
        _paint(frame, eye, int(px) - radius, int(py) - radius, size, colours["eye"] if colour != "yellow" else OUTLINE)
        if box is not None:  # else off screen
            boxes[i] = box
    return boxes


def _paint(frame, mask, x0, y0, size, colour) -> tuple[float, float, float, float] | None:
    """Paint the (2r+1, 2r+1) `mask` with its corner at (x0, y0), clipped to the frame; return the
    normalised box of the painted square, None when it is off screen."""
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + mask.shape[1], size), min(y0 + mask.shape[0], size)
    if xa >= xb or ya >= yb:
        return None
    frame[ya:yb, xa:xb][mask[ya - y0 : yb - y0, xa - x0 : xb - x0]] = colour
    return xa / size, ya / size, xb / size, yb / size


def _draw_box(frame, box, camera, size, colour) -> None:
    x1, y1 = _to_screen(box[0], box[1], camera, size)
    x2, y2 = _to_screen(box[2], box[3], camera, size)
    frame[max(0, int(y1)) : max(0, int(y2)), max(0, int(x1)) : max(0, int(x2))] = colour


def _inside(screen_box, stage_box, camera, size) -> bool:
    """Whether the centre of a normalised screen box lies behind the stage-space `stage_box`."""
    x = (screen_box[0] + screen_box[2]) / 2 * size
    y = (screen_box[1] + screen_box[3]) / 2 * size
    x1, y1 = _to_screen(stage_box[0], stage_box[1], camera, size)
    x2, y2 = _to_screen(stage_box[2], stage_box[3], camera, size)
    return x1 <= x <= x2 and y1 <= y <= y2
