"""Video decoding with decord, PyAV as the fallback; every failure becomes one `VideoDecodeError`.

Every read opens the container with PyAV first. That header read is cheap, gives the exact rational
frame rate (decord's `get_avg_fps()` is a float) and rejects missing, empty and non-video files before
decord sees them: decord prints its own open errors to stderr, past any log level. No input we tried
(zero bytes, text, random bytes, truncated mp4 with and without faststart, holes in the data, audio only,
a PNG, a directory) crashed either library; they raise, and we translate.

An int `size` scales the short side to `size`, keeping the aspect ratio, then crops the centre `size x size`
square (as released Kinetics models are evaluated); `centre_crop=False` keeps the whole short-side-scaled
frame. A `(H, W)` tuple resizes to exactly that.
"""

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import decord
import numpy as np

from hiermovie.errors import VideoDecodeError

BACKENDS = ("auto", "decord", "pyav")

# FFmpeg's per-packet warnings inside decord ("Invalid NAL unit size ..."). PyAV logs nothing by default.
decord.logging.set_level(decord.logging.QUIET)


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds: exact frame count and rational frame rate."""

    path: Path
    num_frames: int
    fps: Fraction  # exact, e.g. Fraction(30000, 1001)
    width: int
    height: int

    @property
    def duration(self) -> Fraction:
        """Length in seconds, num_frames / fps."""
        return self.num_frames / self.fps


def probe_video(path: str | Path, backend: str = "auto") -> VideoInfo:
    """Frame count, frame rate and size of a video, without decoding any frame."""
    return _load(path, lambda info: [], None, backend, threads=1, centre_crop=False)[0]


def short_side_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H, W) of a height x width frame scaled so its short side is `short_side`; the long side is rounded."""
    if height <= width:
        return short_side, round(width * short_side / height)
    return round(height * short_side / width), short_side


def centre_offset(height: int, width: int) -> int:
    """Offset along the long side of the centred min(height, width) square."""
    return abs(width - height) // 2


def square_crop(frames: np.ndarray, offset: int) -> np.ndarray:
    """The min(H, W) square of (..., H, W, C) frames starting `offset` pixels along the long side."""
    height, width = frames.shape[-3:-1]
    side = min(height, width)
    if not 0 <= offset <= max(height, width) - side:
        raise ValueError(f"square offset {offset} outside a {height}x{width} frame")
    if height > width:
        return frames[..., offset : offset + side, :, :]  # (..., side, side, C)
    return frames[..., offset : offset + side, :]  # (..., side, side, C)


def read_frames(
    path: str | Path,
    indices: Sequence[int],
    size: int | tuple[int, int] | None = None,
    backend: str = "auto",
    threads: int = 1,
    centre_crop: bool = True,
) -> np.ndarray:
    """Frames at `indices` (any order, repeats allowed), decoded in one pass, resized to `size`.

    Shape: (len(indices), H, W, 3) uint8 RGB. An int `size` scales the short side to `size` and crops the
    centre (size, size) square; with `centre_crop=False` the frames stay (size, long side) or (long side,
    size). A tuple `size` is the exact (H, W); None keeps the video's own size. `threads`: decord's decoding
    threads for this one video (0: one per core). 1 by default: callers decode several videos in parallel
    (DataLoader workers, thread pools), and on 2 cores two 1-thread decoders read 1.9x the 64 px clips of two
    auto-threaded ones (`make bench`, docs/performance.md).
    """
    return _load(path, lambda info: indices, size, backend, threads, centre_crop)[1]


def read_selected(
    path: str | Path,
    select: Callable[[VideoInfo], Sequence[int]],
    size: int | tuple[int, int] | None = None,
    backend: str = "auto",
    threads: int = 1,
    centre_crop: bool = True,
) -> tuple[VideoInfo, np.ndarray]:
    """The frames `select(info)` picks from the video's `VideoInfo`, with that info: one open of the file
    where `probe_video` then `read_frames` would open it twice. `select` may raise `VideoDecodeError`.
    `size` and `centre_crop` as in `read_frames`."""
    return _load(path, select, size, backend, threads, centre_crop)


def read_video(
    path: str | Path,
    size: int | tuple[int, int] | None = None,
    backend: str = "auto",
    threads: int = 1,
    centre_crop: bool = True,
) -> tuple[VideoInfo, np.ndarray]:
    """Every frame of a video with its `VideoInfo`. Shape: (num_frames, H, W, 3) uint8 RGB; `size` and
    `centre_crop` as in `read_frames`."""
    return _load(path, lambda info: None, size, backend, threads, centre_crop)


def write_video(
    path: str | Path, frames: Iterable[np.ndarray], fps: int | Fraction = 30, crf: int = 23, gop: int = 30
) -> None:
    """Encode (H, W, 3) uint8 RGB frames of one even size as H.264 mp4; the file appears only when whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        with av.open(tmp, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps))
            stream.pix_fmt = "yuv420p"
            stream.options = {
                "crf": str(crf),
                "preset": "veryfast",
                "g": str(gop),
                # mbtree made 1 in 100 encodes of identical frames differ; without it, 200 of 200 matched
                "x264-params": "threads=1:no-mbtree=1",
            }
            stream.thread_count = 1  # deterministic output, and parallel writers do not fight for cores
            shape = None
            for index, frame in enumerate(frames):
                if shape is None:
                    shape = _check_frame_shape(frame)
                    stream.height, stream.width = shape[:2]
                if frame.shape != shape or frame.dtype != np.uint8:
                    raise ValueError(f"frame {frame.shape} {frame.dtype} differs from the first: {shape} uint8")
                video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
                video_frame.pts = index
                container.mux(stream.encode(video_frame))
            if shape is None:
                raise ValueError("no frames to write")
            container.mux(stream.encode())  # flush the encoder
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _check_frame_shape(frame: np.ndarray) -> tuple[int, ...]:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] % 2 or frame.shape[1] % 2:
        raise ValueError(f"frames must be (H, W, 3) with even H and W for yuv420p, got {frame.shape}")
    return frame.shape


def _load(
    path: str | Path,
    select: Callable[[VideoInfo], Sequence[int] | None],
    size: int | tuple[int, int] | None,
    backend: str,
    threads: int,
    centre_crop: bool,
) -> tuple[VideoInfo, np.ndarray]:
    """The one decode path: check the file, read the header, then decord (or PyAV on failure); the frames
    `select(info)` names (None: all), resized as `read_frames` says."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    path = Path(path)
    if not path.exists():
        raise VideoDecodeError(path, "file not found")
    if not path.is_file():
        raise VideoDecodeError(path, "not a file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    if backend != "pyav":
        header = _pyav_info(path, count_frames=False)
        hw = _decoded_shape(header, size)
        height, width = hw or (-1, -1)  # -1: decord keeps the native size
        try:
            reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=threads)
            info = replace(header, num_frames=len(reader))
            frames = _gather(info, select(info), hw, lambda unique: reader.get_batch(unique).asnumpy())
            return info, _crop(frames, size, centre_crop)
        except (decord.DECORDError, RuntimeError) as err:  # decord raises RuntimeError when it cannot open
            if backend == "decord":
                reason = re.sub(r"(\[[\d:]+\] \S+:\d+: )+", "", str(err))[:160]  # drop log-line prefixes
                raise VideoDecodeError(path, f"truncated or corrupt: decord: {reason}") from err
    info = _pyav_info(path, count_frames=True)
    hw = _decoded_shape(info, size)
    frames = _gather(info, select(info), hw, lambda unique: _pyav_decode(path, unique, hw))
    return info, _crop(frames, size, centre_crop)


def _decoded_shape(info: VideoInfo, size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """(H, W) the decoder resizes to: the short side scaled to an int `size`, a tuple as is, None: native."""
    return short_side_shape(info.height, info.width, size) if isinstance(size, int) else size


def _crop(frames: np.ndarray, size: int | tuple[int, int] | None, centre_crop: bool) -> np.ndarray:
    """The centre square of (N, H, W, 3) frames decoded for an int `size`; other frames as they are."""
    if not (centre_crop and isinstance(size, int)):
        return frames
    return np.ascontiguousarray(square_crop(frames, centre_offset(*frames.shape[1:3])))  # (N, size, size, 3)


def _gather(
    info: VideoInfo,
    indices: Sequence[int] | None,
    hw: tuple[int, int] | None,
    decode: Callable[[list[int]], np.ndarray],
) -> np.ndarray:
    """Check `indices`, decode the unique sorted ones in one call and return them in the order asked."""
    wanted = np.arange(info.num_frames) if indices is None else np.asarray(indices, dtype=np.int64)  # (N,)
    outside = wanted[(wanted < 0) | (wanted >= info.num_frames)]
    if outside.size:
        raise VideoDecodeError(info.path, f"asked for frame {outside[0]} but the video has {info.num_frames} frames")
    if wanted.size == 0:
        return np.zeros((0, *(hw or (info.height, info.width)), 3), np.uint8)
    unique, inverse = np.unique(wanted, return_inverse=True)
    return decode(unique.tolist())[inverse]  # (N, H, W, 3) uint8


def _pyav_info(path: Path, count_frames: bool) -> VideoInfo:
    """Header of the first video stream; with `count_frames`, the exact count from demuxing packets.

    Without it `num_frames` is the container's own index (`stream.frames`), 0 for some formats (mkv).
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(path, "not a video file (no video stream)")
            stream = container.streams.video[0]
            fps = stream.average_rate or stream.guessed_rate
            if not fps:
                raise VideoDecodeError(path, "not a video file (no frame rate)")
            info = VideoInfo(path, stream.frames, Fraction(fps), stream.width, stream.height)
            if not count_frames:
                return info
            count = sum(1 for packet in container.demux(stream) if packet.size)  # the last is an empty flush
    except av.error.FFmpegError as err:
        raise VideoDecodeError(path, f"not a video, or truncated: {err.strerror}") from err
    if count == 0 or count < info.num_frames:  # a truncated faststart mp4 keeps its full index
        raise VideoDecodeError(path, f"truncated or corrupt: {count} of {info.num_frames} frames present")
    return replace(info, num_frames=count)


def _pyav_decode(path: Path, unique: list[int], hw: tuple[int, int] | None) -> np.ndarray:
    """Decode sequentially up to the last of the sorted `unique` indices, keeping only those frames."""
    height, width = hw or (None, None)
    wanted, frames = set(unique), []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    frames.append(frame.reformat(width, height, "rgb24").to_ndarray())  # (H, W, 3) uint8
                if index == unique[-1]:
                    break
    except av.error.FFmpegError as err:
        raise VideoDecodeError(path, f"truncated or corrupt: {err.strerror}") from err
    if len(frames) < len(unique):
        raise VideoDecodeError(path, f"truncated or corrupt: decoding stopped before frame {unique[-1]}")
    return np.stack(frames)  # (U, H, W, 3) uint8
