"""Where the parts of a benchmark folder live, and a check that reads every part back through the
same readers real data goes through: annotations, label files, and every video's container."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hiermovie.datasets.lvu import LVU_SPLITS, LVU_TASKS, find_video, load_lvu_task
from hiermovie.datasets.synth.framecode import read_frame_code
from hiermovie.datasets.video_folder import load_video_folder
from hiermovie.datasets.vidsitu import SPLITS, load_vidsitu
from hiermovie.device import cpu_cores
from hiermovie.errors import InputFileError
from hiermovie.progress import progress_bar
from hiermovie.video.decode import probe_video, read_frames
from hiermovie.video.windows import event_clips_frame_indices, vidsitu_windows


@dataclass(frozen=True)
class BenchmarkLayout:
    """The folders of a benchmark written by `hiermovie synth`."""

    root: Path

    @property
    def vidsitu(self) -> Path:  # VidSitu root: vidsitu_annotations/, vsitu_video_trimmed_dir/
        return self.root / "vidsitu"

    @property
    def lvu_labels(self) -> Path:  # LVU 1.0 label files: <task>/{train,val,test}.csv
        return self.root / "lvu" / "lvu_1.0"

    @property
    def lvu_videos(self) -> Path:  # {youtube_id}.mp4
        return self.root / "lvu" / "videos"

    @property
    def lvu_instances(self) -> Path:  # {youtube_id}.json instance tracks
        return self.root / "lvu" / "instances"

    def kinetics(self, split: str) -> Path:  # Kinetics-style class folders
        return self.root / "kinetics" / split


@dataclass(frozen=True)
class CheckReport:
    vidsitu_clips: dict[str, int]
    lvu_records: dict[str, dict[str, int]]  # task -> split -> rows
    kinetics_clips: dict[str, int]
    videos_probed: int
    frames_verified: int  # frames whose frame-index code matched the index asked for
    decode_fps: float  # decoded frames per second in the frame-code check
    seconds: float


def check_benchmark(root: Path, decode_videos: int = 16, progress: bool = True) -> CheckReport:
    """Load every annotation file, open every video, and decode the 5 VidSitu event clips (16 x 4) of
    `decode_videos` valid clips, checking each frame's drawn index. Raises on the first bad file."""
    started = time.perf_counter()
    layout = BenchmarkLayout(Path(root))
    vidsitu = {split: load_vidsitu(layout.vidsitu, split, check_videos=True) for split in SPLITS}
    lvu = {task: {split: load_lvu_task(layout.lvu_labels, task, split) for split in LVU_SPLITS} for task in LVU_TASKS}
    kinetics = {split: load_video_folder(layout.kinetics(split)) for split in ("train", "val")}
    videos = [clip.video_path for split in vidsitu.values() for clip in split.clips]
    movies = {record.youtube_id for splits in lvu.values() for records in splits.values() for record in records}
    for youtube_id in sorted(movies):
        path = find_video(layout.lvu_videos, youtube_id)
        if path is None:
            raise InputFileError(layout.lvu_videos / f"{youtube_id}.mp4", "video of an LVU record not found")
        videos.append(path)
    videos += [video.path for split in kinetics.values() for video in split]
    with ThreadPoolExecutor(max_workers=cpu_cores()) as pool:  # the header reads release the GIL: 2x on 2 cores
        opened = pool.map(probe_video, videos)
        for _ in progress_bar(opened, total=len(videos), desc="check: opening videos", unit="video", enabled=progress):
            pass
    verified, decode_started = 0, time.perf_counter()
    for clip in vidsitu["valid"].clips[:decode_videos]:
        info = probe_video(clip.video_path)
        indices = event_clips_frame_indices(
            vidsitu_windows(), info.fps, 16, 4, info.num_frames
        )  # (80,) 5 clips of 16x4
        frames = read_frames(clip.video_path, indices)  # (80, H, W, 3)
        decoded = [read_frame_code(frame) for frame in frames]
        if decoded != indices.tolist():
            raise InputFileError(clip.video_path, f"decoded frames {decoded[:5]}... differ from {indices[:5]}...")
        verified += len(frames)
    return CheckReport(
        vidsitu_clips={split: len(s) for split, s in vidsitu.items()},
        lvu_records={task: {split: len(r) for split, r in splits.items()} for task, splits in lvu.items()},
        kinetics_clips={split: len(v) for split, v in kinetics.items()},
        videos_probed=len(videos),
        frames_verified=verified,
        decode_fps=verified / max(time.perf_counter() - decode_started, 1e-9),
        seconds=time.perf_counter() - started,
    )
