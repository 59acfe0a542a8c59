from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from PIL import Image

from hiermovie.plots import (
    MAX_COLOURED_LABELS,
    PALETTE,
    event_frame,
    pca_2d,
    plot_embedding_projection,
    plot_retrieval_strips,
)
from hiermovie.video.decode import write_video

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# one solid colour per second of the test video, far apart so x264's loss cannot confuse them
COLOURS = np.array([[230, 30, 30], [30, 230, 30], [30, 30, 230], [230, 230, 30], [30, 230, 230]], np.uint8)  # (5, 3)
FPS = 10


def _reference_pca(vectors: np.ndarray) -> np.ndarray:
    """Top-2 eigenvectors of the covariance (np.linalg.eigh), signs by the largest-loading rule."""
    centred = vectors - vectors.mean(axis=0)  # (N, D)
    values, vecs = np.linalg.eigh(centred.T @ centred)  # (D,), (D, D), ascending
    top = vecs[:, np.argsort(values)[::-1][:2]]  # (D, 2)
    top *= np.sign(top[np.abs(top).argmax(axis=0), [0, 1]])  # (D, 2)
    return centred @ top  # (N, 2)


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.width > 100 and image.height > 100
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left behind


@pytest.fixture(scope="module")
def colour_video(tmp_path_factory) -> Path:
    """5 s at 10 fps, 32x48: second k is solid COLOURS[k] (frames 10k .. 10k + 9)."""
    path = tmp_path_factory.mktemp("video") / "colours.mp4"
    write_video(path, (np.full((32, 48, 3), colour, np.uint8) for colour in COLOURS for _ in range(FPS)), fps=FPS)
    return path


def _colour_index(frame: np.ndarray) -> int:
    """Which of COLOURS a decoded frame shows (asserting it is close to that colour)."""
    mean = frame.reshape(-1, 3).mean(axis=0)  # (3,)
    distances = np.abs(COLOURS.astype(float) - mean).max(axis=1)  # (5,)
    assert distances.min() < 25, f"frame colour {mean} matches none of the test colours"
    return int(distances.argmin())


def test_pca_of_points_on_a_line():
    rng = np.random.default_rng(0)
    t = rng.normal(size=50)  # (50,)
    direction = np.array([1.0, -2.0, 0.5, 3.0, -1.0])  # (5,), largest loading positive
    vectors = 7.0 + t[:, None] * direction  # (50, 5)
    projected = pca_2d(vectors)  # (50, 2)
    assert projected.shape == (50, 2)
    np.testing.assert_allclose(projected[:, 1], 0, atol=1e-9)
    np.testing.assert_allclose(projected[:, 0], (t - t.mean()) * np.linalg.norm(direction), atol=1e-9)
    assert (np.argsort(projected[:, 0]) == np.argsort(t)).all()


def test_pca_sign_follows_the_largest_loading():
    rng = np.random.default_rng(1)
    t = rng.normal(size=20)  # (20,)
    # the largest loading (-3) is negative: the component flips so that it is positive, reversing the order
    projected = pca_2d(t[:, None] * np.array([1.0, -3.0, 0.5]))  # (20, 2)
    assert (np.argsort(projected[:, 0]) == np.argsort(-t)).all()


@pytest.mark.parametrize("shape", [(40, 6), (3, 8), (200, 2)])
def test_pca_matches_the_covariance_eigenvectors(shape):
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=shape) * np.linspace(3, 0.5, shape[1])  # (N, D), distinct variances
    projected = pca_2d(vectors)
    np.testing.assert_allclose(projected, _reference_pca(vectors), atol=1e-9)
    np.testing.assert_allclose(pca_2d(vectors * -1.0), -projected, atol=1e-9)  # a mirror image: still deterministic


def test_pca_with_fewer_than_two_components():
    np.testing.assert_allclose(pca_2d(np.array([[1.0], [3.0], [2.0]])), [[-1, 0], [1, 0], [0, 0]], atol=1e-12)
    np.testing.assert_allclose(pca_2d(np.ones((1, 4))), [[0, 0]])
    with pytest.raises(ValueError, match="non-empty"):
        pca_2d(np.zeros((0, 3)))


def test_plot_embedding_projection(tmp_path):
    rng = np.random.default_rng(3)
    labels = ["walk", "run", "talk"] * 10
    path = tmp_path / "plots" / "embedding.png"
    assert plot_embedding_projection(rng.normal(size=(30, 8)), labels, path, "events") == path
    _assert_png(path)


def test_plot_embedding_projection_colours_only_the_most_frequent_labels(tmp_path, monkeypatch):
    labels = [f"verb{i:02d}" for i in range(30) for _ in range(30 - i)]  # verb00 is the most frequent
    vectors = np.random.default_rng(4).normal(size=(len(labels), 8))  # (N, 8)
    drawn = []
    scatter = Axes.scatter

    def spy(self, x, y, **kw):
        drawn.append((kw, len(x)))
        return scatter(self, x, y, **kw)

    monkeypatch.setattr(Axes, "scatter", spy)
    path = plot_embedding_projection(vectors, labels, tmp_path / "many.png", "30 verbs")
    assert len(drawn) == MAX_COLOURED_LABELS + 1
    other, *coloured = drawn
    assert other[0]["label"] == f"other ({sum(range(1, 11))})" and other[1] == sum(range(1, 11))
    assert [kw["label"] for kw, _ in coloured] == [f"verb{i:02d} ({30 - i})" for i in range(MAX_COLOURED_LABELS)]
    assert len({kw["color"] for kw, _ in coloured} | {other[0]["color"]}) == MAX_COLOURED_LABELS + 1
    assert len(set(PALETTE)) == MAX_COLOURED_LABELS
    _assert_png(path)


def test_plot_embedding_projection_with_more_than_20_labels(tmp_path):
    labels = [f"verb{i}" for i in range(45)] * 2
    path = plot_embedding_projection(np.random.default_rng(5).normal(size=(90, 4)), labels, tmp_path / "e.png", "")
    _assert_png(path)


def test_plot_embedding_projection_checks_lengths(tmp_path):
    with pytest.raises(ValueError, match="3 vectors but 2 labels"):
        plot_embedding_projection(np.zeros((3, 4)), ["a", "b"], tmp_path / "e.png", "")
    assert not list(tmp_path.iterdir())


def test_plot_retrieval_strips(tmp_path):
    frame = np.zeros((96, 96, 3), np.uint8)  # (96, 96, 3)
    rows = [
        [(frame + 40 * i, f"query {i}: a fairly long caption that has to wrap")] + [(frame, "neighbour")] * 4
        for i in range(3)
    ]
    rows[1] = rows[1][:2]  # strips may be shorter
    path = tmp_path / "strips.png"
    assert plot_retrieval_strips(rows, path, "nearest events") == path
    _assert_png(path)
    with Image.open(path) as image:
        assert image.width > image.height  # 5 columns, 3 rows


def test_plot_retrieval_strips_needs_a_query(tmp_path):
    with pytest.raises(ValueError, match="query"):
        plot_retrieval_strips([], tmp_path / "s.png", "")
    with pytest.raises(ValueError, match="query"):
        plot_retrieval_strips([[(np.zeros((8, 8, 3), np.uint8), "q")], []], tmp_path / "s.png", "")


def test_a_failed_save_leaves_no_file(tmp_path, monkeypatch):
    def fail(self, fname, **kwargs):
        Path(fname).write_bytes(PNG_SIGNATURE)  # a partial image, then a crash
        raise RuntimeError("disk full")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_embedding_projection(np.eye(3), ["a", "b", "c"], tmp_path / "e.png", "")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "start, end, colour",
    [
        (0, 1, 0),  # centre 0.5 s: frame 5
        (1, 2, 1),
        (Fraction(19, 10), Fraction(21, 10), 2),  # centre 2.0 s exactly: frame 20, the first of second 2
        (Fraction(18, 10), Fraction(20, 10), 1),  # centre 1.9 s: frame 19, the last of second 1
        (2.0, 5.0, 3),  # floats; centre 3.5 s: frame 35
        (4, 4, 4),  # a point: frame 40
    ],
)
def test_event_frame_picks_the_centre_frame(colour_video, start, end, colour):
    frame = event_frame(colour_video, start, end, size=32)
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    assert _colour_index(frame) == colour


def test_event_frame_clips_at_the_last_frame(colour_video):
    assert event_frame(colour_video, 4, 8).shape == (96, 96, 3)  # centre 6 s, beyond the 5 s video
    assert _colour_index(event_frame(colour_video, 4, 8)) == 4
    assert _colour_index(event_frame(colour_video, 10, 12)) == 4


def test_event_frame_rejects_reversed_windows(colour_video):
    with pytest.raises(ValueError, match="start_sec <= end_sec"):
        event_frame(colour_video, 3, 2)
    with pytest.raises(ValueError):
        event_frame(colour_video, -1, 2)
