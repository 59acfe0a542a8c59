from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from hiermovie.datasets.synth.framecode import read_frame_code
from hiermovie.errors import VideoDecodeError
from hiermovie.video.decode import (
    BACKENDS,
    centre_offset,
    probe_video,
    read_frames,
    read_selected,
    read_video,
    short_side_shape,
    square_crop,
    write_video,
)

ASKED = [0, 5, 5, 89, 30, 1]  # out of order, with a repeat


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("video, size", [("coded_video", 64), ("coded_video_112", 112)])
def test_read_frames_returns_the_frames_asked_for(request, video, size, backend):
    frames = read_frames(request.getfixturevalue(video), ASKED, backend=backend)
    assert frames.shape == (len(ASKED), size, size, 3) and frames.dtype == np.uint8
    assert [read_frame_code(frame) for frame in frames] == ASKED


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size, shape", [(56, (56, 56)), ((48, 80), (48, 80))])
def test_read_frames_resizes(coded_video_112, backend, size, shape):
    frames = read_frames(coded_video_112, [3, 1, 3], size=size, backend=backend)
    assert frames.shape == (3, *shape, 3) and frames.dtype == np.uint8


def _square_size(frame: np.ndarray) -> tuple[int, int]:
    """Height and width in pixels of the bright object on a dark (H, W, 3) frame."""
    bright = frame.mean(axis=-1) > 127  # (H, W)
    return int(bright.any(axis=1).sum()), int(bright.any(axis=0).sum())


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_int_size_scales_the_short_side_and_crops_the_centre(widescreen_video, backend):
    frames = read_frames(widescreen_video, [0, 11], size=64, backend=backend)
    assert frames.shape == (2, 64, 64, 3)
    height, width = _square_size(frames[0])  # 90 px of the 180 px short side: 32 px
    assert abs(height - 32) <= 1 and abs(width - 32) <= 1, (height, width)


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_the_centre_crop_the_whole_width_stays(widescreen_video, backend):
    info, frames = read_video(widescreen_video, size=64, backend=backend, centre_crop=False)
    assert frames.shape == (12, 64, 114, 3)  # 320 * 64 / 180 = 113.8
    height, width = _square_size(frames[0])
    assert abs(height - 32) <= 1 and abs(width - 32) <= 1, (height, width)
    np.testing.assert_array_equal(read_video(widescreen_video, size=64, backend=backend)[1], frames[:, :, 25:89])


@pytest.mark.parametrize(
    "height, width, short_side, shape",
    [
        (180, 320, 64, (64, 114)),  # landscape 16:9
        (320, 180, 64, (114, 64)),  # portrait
        (112, 112, 64, (64, 64)),  # square
        (64, 64, 64, (64, 64)),  # already the size
        (181, 321, 63, (63, 112)),  # odd: 321 * 63 / 181 = 111.7
        (240, 320, 112, (112, 149)),  # 4:3, 149.3
        (90, 30, 10, (30, 10)),  # upscaled long side
    ],
)
def test_short_side_shape(height, width, short_side, shape):
    assert short_side_shape(height, width, short_side) == shape


def test_square_crop_moves_along_the_long_side():
    landscape = np.arange(4 * 7).reshape(1, 4, 7, 1)  # (N, H, W, C)
    assert square_crop(landscape, 3).shape == (1, 4, 4, 1)
    np.testing.assert_array_equal(square_crop(landscape, 3), landscape[:, :, 3:7])
    portrait = landscape.transpose(0, 2, 1, 3)  # (1, 7, 4, 1)
    np.testing.assert_array_equal(square_crop(portrait, 1), portrait[:, 1:5])
    assert centre_offset(4, 7) == centre_offset(7, 4) == 1 and centre_offset(5, 5) == 0
    with pytest.raises(ValueError, match="offset 4 outside a 4x7 frame"):
        square_crop(landscape, 4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_frames_with_no_indices(coded_video, backend):
    assert read_frames(coded_video, [], backend=backend).shape == (0, 64, 64, 3)
    assert read_frames(coded_video, [], size=(32, 48), backend=backend).shape == (0, 32, 48, 3)


def test_backends_decode_the_same_pixels(coded_video):
    decord_frames = read_frames(coded_video, range(0, 90, 7), backend="decord")
    pyav_frames = read_frames(coded_video, range(0, 90, 7), backend="pyav")
    np.testing.assert_array_equal(decord_frames, pyav_frames)


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_decoding_threads_change_nothing_but_speed(coded_video, threads):
    np.testing.assert_array_equal(
        read_frames(coded_video, ASKED, backend="decord", threads=threads), read_frames(coded_video, ASKED)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_selected_picks_frames_from_the_videos_info(coded_video, backend):
    info, frames = read_selected(coded_video, lambda info: [info.num_frames - 1, 0], backend=backend)
    assert info == probe_video(coded_video, backend=backend)
    assert [read_frame_code(frame) for frame in frames] == [info.num_frames - 1, 0]


def test_read_selected_passes_on_the_selectors_error(coded_video):
    def too_short(info):
        raise VideoDecodeError(info.path, f"too short: {info.num_frames} frames")

    with pytest.raises(VideoDecodeError, match="too short: 90 frames"):
        read_selected(coded_video, too_short)


@pytest.mark.parametrize("backend", BACKENDS)
def test_probe_video(coded_video_112, backend):
    info = probe_video(coded_video_112, backend=backend)
    assert (info.path, info.num_frames, info.width, info.height) == (coded_video_112, 90, 112, 112)
    assert info.fps == Fraction(30) and isinstance(info.fps, Fraction)
    assert info.duration == Fraction(3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_video(coded_video, backend):
    info, frames = read_video(coded_video, backend=backend)
    assert info == probe_video(coded_video)
    assert frames.shape == (90, 64, 64, 3)
    assert [read_frame_code(frame) for frame in frames] == list(range(90))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fractional_fps_is_exact(tmp_path, write_coded_video, backend):
    path = write_coded_video(tmp_path / "ntsc.mp4", 30, 64, fps=Fraction(30000, 1001))
    info = probe_video(path, backend=backend)
    assert info.fps == Fraction(30000, 1001)
    assert info.duration == Fraction(1001, 1000)


def test_auto_falls_back_to_pyav_when_decord_fails(tmp_path):
    path = tmp_path / "still.mp4"  # a PNG: FFmpeg opens it as a one-frame video, decord cannot
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(path, format="PNG")
    with pytest.raises(VideoDecodeError, match="decord"):
        probe_video(path, backend="decord")
    assert read_frames(path, [0, 0]).shape == (2, 32, 48, 3)


def _text(path: Path, video: Path) -> None:
    path.write_text("not a video\n" * 20)


def _random_bytes(path: Path, video: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(50_000))


def _truncated(path: Path, video: Path) -> None:
    data = video.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: it is lost


def _truncated_faststart(path: Path, video: Path) -> None:
    """Half of an mp4 whose index (moov) comes first: it still lists every frame."""
    full = path.with_name("full.mp4")
    with av.open(str(video)) as inp, av.open(str(full), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    _truncated(path, full)


def _audio_only(path: Path, video: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "make, problem",
    [
        pytest.param(lambda path, video: None, "file not found", id="missing"),
        pytest.param(lambda path, video: path.touch(), "empty file (0 bytes)", id="zero-bytes"),
        pytest.param(_text, "not a video", id="text"),
        pytest.param(_random_bytes, "not a video", id="random-bytes"),
        pytest.param(_truncated, "truncated", id="truncated"),
        pytest.param(_truncated_faststart, "truncated", id="truncated-faststart"),
        pytest.param(_audio_only, "not a video file (no video stream)", id="audio-only"),
    ],
)
def test_broken_files_raise_video_decode_error(tmp_path, coded_video_112, make, problem, backend):
    path = tmp_path / "broken.mp4"
    make(path, coded_video_112)
    for call in (lambda: probe_video(path, backend), lambda: read_frames(path, [0, 1], backend=backend)):
        with pytest.raises(VideoDecodeError) as caught:
            call()
        assert str(path) in str(caught.value) and problem in str(caught.value)
        assert caught.value.path == path


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", [90, -1])
def test_index_outside_the_video(coded_video, backend, index):
    with pytest.raises(VideoDecodeError, match=f"asked for frame {index} but the video has 90 frames"):
        read_frames(coded_video, [0, index], backend=backend)


def test_unknown_backend(coded_video):
    with pytest.raises(ValueError, match="backend"):
        probe_video(coded_video, backend="opencv")


def test_write_video_leaves_only_the_final_file(tmp_path, write_coded_video):
    write_coded_video(tmp_path / "out.mp4", 4, 64)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


@pytest.mark.parametrize("shape", [(63, 64, 3), (64, 65, 3), (64, 64)])
def test_write_video_rejects_odd_or_non_rgb_frames(tmp_path, shape):
    with pytest.raises(ValueError, match="even H and W"):
        write_video(tmp_path / "out.mp4", [np.zeros(shape, np.uint8)])
    assert list(tmp_path.iterdir()) == []


def test_write_video_rejects_no_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "out.mp4", [])
    assert list(tmp_path.iterdir()) == []


def test_write_video_failing_midway_leaves_no_file(tmp_path):
    def frames_then_crash():
        yield from np.zeros((10, 64, 64, 3), np.uint8)
        raise RuntimeError("source died")

    (tmp_path / "old.mp4").write_bytes(b"previous version")
    with pytest.raises(RuntimeError, match="source died"):
        write_video(tmp_path / "old.mp4", frames_then_crash())
    assert [p.name for p in tmp_path.iterdir()] == ["old.mp4"]
    assert (tmp_path / "old.mp4").read_bytes() == b"previous version"
