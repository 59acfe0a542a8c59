"""Config of the embedded benchmark generator (`hiermovie synth`, stage `data`)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    size: str = "demo"  # tiny | demo | eval | full: the named size this config came from
    seed: int = 0  # everything (stories, pixels, annotation noise) is a function of the seed
    frame_size: int = 64  # square frames, pixels: the tiny backbone's input (demo); eval and full render 112
    fps: int = 30  # VidSitu clips are 30 fps
    vidsitu_clips: tuple[int, int, int] = (160, 40, 16)  # train, valid, and each of the 3 test splits
    vidsitu_clips_per_movie: int = 3  # consecutive clips of a split cut from one movie (VidSitu: ~10)
    lvu_overlap_clips: int = 2  # valid clips cut from LVU movies: scored without them (paper sec. 4)
    lvu_movies: tuple[int, int, int] = (30, 10, 10)  # train, val, test
    lvu_seconds: tuple[int, int] = (30, 45)  # movie length range, seconds (LVU: 1 to 3 minutes)
    action_clips: tuple[int, int] = (200, 20)  # Kinetics-style clips per verb: train, val
    action_seconds: int = 3  # length of each action clip
    related_prob: float = 0.65  # chance that a VidSitu event follows a grammar rule with Ev3
    hard_prob: float = 0.25  # chance that an event is hard to read alone (occluded, dark, panned away)
    frame_code: bool = True  # draw the frame-index code strip (lets tests verify decoding)
    crf: int = 23  # H.264 quality (lower is better and larger)


SYNTH_SIZES = {
    "tiny": SynthConfig(
        size="tiny",
        frame_size=64,
        vidsitu_clips=(8, 4, 2),
        lvu_overlap_clips=1,
        lvu_movies=(3, 2, 2),
        lvu_seconds=(12, 16),
        action_clips=(1, 1),
        action_seconds=2,
    ),
    "demo": SynthConfig(),
    # `make claims`: >= 1,500 annotated valid events and >= 100 LVU val / test movies per task, so that paired
    # differences over 10 seeds can be told from noise (issue 13); train and Kinetics-style parts as in demo
    "eval": SynthConfig(
        size="eval",
        frame_size=112,
        vidsitu_clips=(240, 300, 16),
        lvu_movies=(100, 100, 100),
        lvu_overlap_clips=6,
    ),
    "full": SynthConfig(
        size="full",
        frame_size=112,
        vidsitu_clips=(3000, 600, 300),
        lvu_overlap_clips=12,
        lvu_movies=(700, 150, 150),
        lvu_seconds=(60, 180),
        action_clips=(800, 50),
    ),
}
