"""`hiermovie extract`: run a trained backbone once over every video and write one feature per event
window into the HDF5 cache (hiermovie.cache). After this, nothing downstream touches video.

- Windows: VidSitu's 5 events for 10-second clips, a fixed stride (1, 2 or 3 s) for longer videos.
- Decoding in DataLoader workers, one decode call per video for all its windows; windows batched
  across videos; inference mode; channels-last 3D, and bf16 autocast on CUDA.
- Shard k holds videos [k * n, (k + 1) * n) of the sorted list; under torchrun rank r extracts
  shards k = r, r + world, ..., so the cache is the same whatever the number of ranks, batches
  included (hence bit-identical features).
- Resumable: finished shards (their sidecar exists) are skipped; a shard is written under a
  temporary name and renamed when complete; `manifest.json` is written last.
- An unreadable or too-short video is recorded with its reason and the run goes on (`strict` stops).
"""

import hashlib
import itertools
import json
import os
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hiermovie.cache import ShardWriter, VideoInstances, VideoTokens, finished_shards, write_manifest
from hiermovie.device import autocast, decoding_share, to_device_clips, to_device_model
from hiermovie.distributed import barrier, init_distributed, shutdown
from hiermovie.errors import HiermovieError, VideoDecodeError
from hiermovie.extract.augment import normalize, to_float_clips
from hiermovie.extract.config import BackboneConfig, ExtractConfig
from hiermovie.extract.instances import read_instances, roi_average, window_of_second
from hiermovie.extract.verbs import load_backbone
from hiermovie.profiles import config_dict
from hiermovie.progress import progress_bar
from hiermovie.video.decode import VideoInfo, read_selected
from hiermovie.video.windows import EventWindow, event_clips_frame_indices, fixed_stride_windows, vidsitu_windows
from hiermovie.workers import worker_faults, worker_loader

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")
VIDSITU_CLIP_SEC = (Fraction(19, 2), Fraction(21, 2))  # a 10-second clip, give or take half a second
ATTRS_FILE = "attrs.json"


@dataclass(frozen=True)
class ExtractOptions:
    device: str = "auto"
    workers: int = 2  # decoding processes per rank
    strict: bool = False  # stop at the first unreadable video instead of recording it
    instances: Path | None = None  # folder of {video id}.json instance tracks (default: the benchmark's)
    progress: bool = True


def discover_videos(data: Path) -> list[tuple[str, Path]]:
    """(video id, path) of every video, sorted by id: a benchmark folder's VidSitu clips and LVU
    movies, any folder of videos (searched recursively), or a text file listing one path per line."""
    data = Path(data)
    if data.is_file():
        paths = [data.parent / line.strip() for line in data.read_text().splitlines() if line.strip()]
    elif (data / "synth.json").is_file():  # the embedded benchmark: the clips and movies of stage 2
        paths = [
            *(data / "vidsitu" / "vsitu_video_trimmed_dir").glob("*.mp4"),
            *(data / "lvu" / "videos").glob("*.mp4"),
        ]
    elif data.is_dir():
        paths = [p for p in data.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES]
    else:
        raise HiermovieError(f"{data}: no such folder or list file")
    videos: dict[str, Path] = {}
    for path in paths:
        if path.stem in videos:
            raise HiermovieError(f"{data}: two videos share the id {path.stem!r} ({videos[path.stem]}, {path})")
        videos[path.stem] = path
    if not videos:
        raise HiermovieError(f"{data}: no videos found")
    return sorted(videos.items())


def event_windows(duration: Fraction, stride_sec: Fraction) -> list[EventWindow]:
    """VidSitu's 5 events for a 10-second clip, else consecutive windows of `stride_sec`."""
    if VIDSITU_CLIP_SEC[0] <= duration <= VIDSITU_CLIP_SEC[1]:
        return vidsitu_windows()
    return fixed_stride_windows(duration, stride_sec)


class VideoWindows(Dataset):
    """Item i: every event clip of video i, decoded in one call: {"shard", "video_id", "frames":
    (W, T, S, S, 3) uint8, "start"/"end": W seconds}, or {"shard", "video_id", "path", "failure"}."""

    def __init__(self, videos: list[tuple[int, str, Path]], backbone: BackboneConfig, stride: Fraction):
        self.videos, self.backbone, self.stride = videos, backbone, stride

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict:
        shard, video_id, path = self.videos[i]
        c = self.backbone

        def clip_frames(info: VideoInfo) -> np.ndarray:
            windows = event_windows(info.duration, self.stride)
            if not windows:
                raise VideoDecodeError(
                    path, f"too short: {float(info.duration):.2f} s, less than one {self.stride} s window"
                )
            return event_clips_frame_indices(windows, info.fps, c.num_frames, c.sampling_rate, info.num_frames)

        try:
            info, frames = read_selected(path, clip_frames, size=c.crop_size)  # (W * T, S, S, 3)
            windows = event_windows(info.duration, self.stride)
        except VideoDecodeError as error:  # returned, not raised: DataLoader workers cannot re-raise it as is
            return {"shard": shard, "video_id": video_id, "path": str(path), "failure": error.problem}
        return {
            "shard": shard,
            "video_id": video_id,
            "frames": torch.from_numpy(frames.reshape(len(windows), c.num_frames, *frames.shape[1:])),
            "start": [float(w.start_sec) for w in windows],  # lists: the DataLoader would turn arrays into tensors
            "end": [float(w.end_sec) for w in windows],
        }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(
    checkpoint: Path, data: Path, out: Path, config: ExtractConfig, options: ExtractOptions = ExtractOptions()
) -> dict:
    """Extract the event features of every video of `data` into the cache `out`; returns the manifest."""
    dist = init_distributed(options.device)
    try:
        with decoding_share(dist.device, options.workers), worker_faults():  # on CPU, torch beside the decoders
            return _extract(Path(checkpoint), Path(data), Path(out), config, options, dist)
    finally:
        shutdown()


def _extract(checkpoint, data, out, config, options, dist) -> dict:
    if config.dtype not in ("float16", "float32"):
        raise HiermovieError(f"--dtype must be float16 or float32, got {config.dtype!r}")
    stride = Fraction(str(config.stride_sec))
    if stride <= 0:
        raise HiermovieError(f"--stride must be positive, got {config.stride_sec}")
    backbone_config, backbone = load_backbone(BackboneConfig(), checkpoint)
    videos = discover_videos(data)
    instances_dir = options.instances or (data / "lvu" / "instances" if (data / "synth.json").is_file() else None)
    attrs = {
        "videos_sha256": hashlib.sha256("\n".join(f"{i} {p}" for i, p in videos).encode()).hexdigest(),
        "backbone_config": config_dict(backbone_config),
        "checkpoint_sha256": sha256_of(checkpoint),
        "extract_config": config_dict(config),
        "window": {
            "stride_sec": str(stride),
            "vidsitu_clip_sec": 10,
            "vidsitu_event_sec": 2,
            "num_frames": backbone_config.num_frames,
            "sampling_rate": backbone_config.sampling_rate,
            "crop_size": backbone_config.crop_size,
        },
    }
    _claim(out, attrs, dist.is_main)
    barrier()
    backbone = to_device_model(backbone, dist.device).eval()
    per_shard = config.videos_per_shard
    shards = [videos[k : k + per_shard] for k in range(0, len(videos), per_shard)]
    done = finished_shards(out)
    mine = [k for k in range(len(shards)) if k % dist.world_size == dist.rank and k not in done]
    work = [(k, *video) for k in mine for video in shards[k]]  # (shard, video id, path)
    loader = worker_loader(VideoWindows(work, backbone_config, stride), options.workers, batch_size=None)
    bar = progress_bar(total=len(work), desc="extract", unit="video", enabled=options.progress)
    started, events = time.perf_counter(), 0
    items = _featurize(backbone, loader, config.batch_size, dist.device, instances_dir)
    for k, shard_items in itertools.groupby(items, key=lambda item: item["shard"]):
        with ShardWriter(out, k, attrs, backbone.feature_dim, config.dtype, config.compression) as writer:
            failures = []
            for item in shard_items:
                bar.update(1)
                if "failure" in item:
                    if options.strict:
                        raise VideoDecodeError(Path(item["path"]), item["failure"])
                    failures.append({key: item[key] for key in ("video_id", "path", "failure")})
                    continue
                writer.add(item["tokens"], item["instances"])
                events += len(item["tokens"].features)
                elapsed = time.perf_counter() - started
                bar.set_postfix(videos_s=f"{bar.n / elapsed:.1f}", events_s=f"{events / elapsed:.1f}")
            writer.close(failures)
    bar.close()
    barrier()
    if dist.is_main:
        write_manifest(out, attrs)
    barrier()
    return json.loads((out / "manifest.json").read_text())


def _claim(out: Path, attrs: dict, is_main: bool) -> None:
    """Record what this cache is extracted with; a cache extracted otherwise is refused, not mixed."""
    path = out / ATTRS_FILE
    if path.is_file():
        existing = json.loads(path.read_text())
        if existing != json.loads(json.dumps(attrs)):
            changed = sorted(k for k in attrs if existing.get(k) != json.loads(json.dumps(attrs[k])))
            raise HiermovieError(f"{out}: a cache extracted with another {', '.join(changed)}; use a new --out")
        return
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{ATTRS_FILE}.partial-{os.getpid()}"
        tmp.write_text(json.dumps(attrs, indent=1))
        os.replace(tmp, path)


@torch.inference_mode()
def _featurize(backbone, loader, batch_size: int, device: torch.device, instances_dir: Path | None):
    """Yield, in video order, {"tokens", "instances"} per video (or its failure), running the backbone
    on batches of `batch_size` event clips gathered across consecutive videos."""
    pending: deque[dict] = deque()  # videos whose windows are not all computed yet, in order
    queue: list[tuple[dict, int]] = []  # (video, window index) waiting for the backbone

    def run(count: int) -> None:
        chunk, queue[:] = queue[:count], queue[count:]
        clips = torch.stack([video["frames"][w] for video, w in chunk])  # (B, T, S, S, 3) uint8
        clips = to_device_clips(normalize(to_float_clips(clips.to(device))), device)  # (B, 3, T, S, S)
        with autocast(device):
            maps = backbone.forward_features(clips).float()  # (B, D, T', h, w)
        maps = maps.mean(dim=2)  # (B, D, h, w): time pooled
        for (video, w), feature_map in zip(chunk, maps, strict=True):
            video["maps"][w] = feature_map.cpu()

    shard = None
    for item in loader:
        if item["shard"] != shard:  # batches never span two shards: the cache is the same for any rank count
            while queue:
                run(min(batch_size, len(queue)))
            yield from _ready(pending, instances_dir)
            shard = item["shard"]
        if "failure" not in item:
            item["maps"] = [None] * len(item["frames"])
            queue.extend((item, w) for w in range(len(item["frames"])))
        pending.append(item)
        while len(queue) >= batch_size:
            run(batch_size)
        yield from _ready(pending, instances_dir)
    while queue:
        run(min(batch_size, len(queue)))
    yield from _ready(pending, instances_dir)


def _ready(pending: deque, instances_dir: Path | None):
    """Pop the finished videos at the head of `pending` as cache records."""
    while pending and ("failure" in pending[0] or all(m is not None for m in pending[0]["maps"])):
        video = pending.popleft()
        if "failure" in video:
            yield video
            continue
        maps = torch.stack(video["maps"])  # (W, D, h, w)
        start, end = np.asarray(video["start"], np.float64), np.asarray(video["end"], np.float64)  # (W,)
        tokens = VideoTokens(video["video_id"], maps.mean(dim=(2, 3)).numpy(), start, end)
        instances = _instances(video["video_id"], start, end, maps, instances_dir)
        yield {"shard": video["shard"], "tokens": tokens, "instances": instances}


def _instances(
    video_id: str, start: np.ndarray, end: np.ndarray, maps: torch.Tensor, instances_dir: Path | None
) -> VideoInstances | None:
    """The video's instance boxes pooled from the res5 map of the window holding their second."""
    path = instances_dir / f"{video_id}.json" if instances_dir else None
    if path is None or not path.is_file():
        return None
    tracks = read_instances(path)
    window = window_of_second(tracks["sec"].astype(np.float64), start, end)  # (M,)
    keep = window >= 0
    features = roi_average(maps, torch.from_numpy(window[keep]), torch.from_numpy(tracks["box"][keep]))  # (M, D)
    return VideoInstances(
        features.numpy(), tracks["sec"][keep], tracks["track_id"][keep], tracks["shot_id"][keep], tracks["box"][keep]
    )


def summary_line(manifest: dict, out: Path) -> str:
    """The final line of `hiermovie extract`."""
    failed = len(manifest["failures"])
    where = f' (listed under "failures" in {out / "manifest.json"})' if failed else ""
    return (
        f"{out}: {manifest['videos']} videos, {manifest['tokens']} event tokens, {manifest['instances']} instances "
        f"in {len(manifest['shards'])} shards; {failed} videos failed{where}"
    )
