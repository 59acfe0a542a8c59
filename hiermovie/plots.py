"""Figures for the demo report: a 2-D PCA of event embeddings, retrieval strips, and the frame of an event.

pyplot-free (`matplotlib.figure.Figure`), like `demo.py` and `runlog.py`; every PNG is written atomically.
"""

import os
import textwrap
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from hiermovie.video.decode import probe_video, read_frames
from hiermovie.video.windows import EventWindow, center_frame

MAX_COLOURED_LABELS = 20
OTHER_COLOUR = "#b0b0b0"
# tab20 without its two greys (they would read as "other"), topped up with two colours of tab20b
_TAB20, _TAB20B = matplotlib.colormaps["tab20"].colors, matplotlib.colormaps["tab20b"].colors
PALETTE = tuple(c for i, c in enumerate(_TAB20) if i not in (14, 15)) + (_TAB20B[0], _TAB20B[12])


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2): projection on the first two principal components of the centred vectors.

    Each component's sign is fixed so that its largest-magnitude loading is positive; with fewer than
    two components (N or D below 2) the missing columns are zero.
    """
    vectors = np.asarray(vectors, dtype=np.float64)  # (N, D)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError(f"pca_2d needs a non-empty (N, D) array, got shape {vectors.shape}")
    centred = vectors - vectors.mean(axis=0)  # (N, D)
    components = np.linalg.svd(centred, full_matrices=False)[2][:2]  # (K, D), K = min(2, N, D)
    largest = np.abs(components).argmax(axis=1)  # (K,)
    components *= np.sign(components[np.arange(len(components)), largest])[:, None]  # (K, D)
    projection = centred @ components.T  # (N, K)
    return np.pad(projection, ((0, 0), (0, 2 - projection.shape[1])))  # (N, 2)


def plot_embedding_projection(vectors: np.ndarray, labels: Sequence[str], path: Path, title: str) -> Path:
    """2-D PCA scatter of event embeddings coloured by label (e.g. verb), legend outside the axes.

    The 20 most frequent labels get colours (ties broken by name); the rest are grey, as "other".
    Returns `path`.
    """
    vectors = np.asarray(vectors, dtype=np.float64)  # (N, D)
    labels = [str(label) for label in labels]
    if len(labels) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors but {len(labels)} labels")
    points = pca_2d(vectors)  # (N, 2)
    total = vectors.var(axis=0).sum()
    shares = points.var(axis=0) / total if total > 0 else np.zeros(2)  # (2,) explained variance
    counts = sorted(Counter(labels).items(), key=lambda item: (-item[1], item[0]))
    coloured = [label for label, _ in counts[:MAX_COLOURED_LABELS]]
    names = np.asarray(labels)  # (N,)
    figure = Figure(figsize=(7, 5))
    axis = figure.subplots()
    other = ~np.isin(names, coloured)  # (N,)
    if other.any():
        axis.scatter(*points[other].T, s=10, color=OTHER_COLOUR, label=f"other ({other.sum()})", zorder=1)
    for label, colour in zip(coloured, PALETTE, strict=False):
        mine = names == label  # (N,)
        axis.scatter(*points[mine].T, s=14, color=colour, label=f"{label} ({mine.sum()})", zorder=2)
    axis.set_xlabel(f"PC 1 ({shares[0]:.0%} of variance)")
    axis.set_ylabel(f"PC 2 ({shares[1]:.0%} of variance)")
    axis.set_title(title, fontsize=10)
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7, frameon=False, borderaxespad=0)
    figure.tight_layout()
    return _save_png(figure, path)


def plot_retrieval_strips(rows: Sequence[Sequence[tuple[np.ndarray, str]]], path: Path, title: str) -> Path:
    """One strip per query: rows[i] = [(query frame (H, W, 3) uint8, caption), (neighbour 1, caption), ...].

    A grid of images with the columns headed "query", "1", "2", ... and each caption under its image;
    rows may differ in length. Returns `path`.
    """
    if not rows or not all(rows):
        raise ValueError("every retrieval strip needs at least its query")
    num_columns = max(len(row) for row in rows)
    figure = Figure(figsize=(1.7 * num_columns, 1.9 * len(rows) + 0.4), layout="constrained")
    axes = figure.subplots(len(rows), num_columns, squeeze=False)  # (rows, columns) of Axes
    for column, axis in enumerate(axes[0]):
        axis.set_title(str(column) if column else "query", fontsize=9, fontweight="normal" if column else "bold")
    for row, row_axes in zip(rows, axes, strict=True):
        for column, axis in enumerate(row_axes):
            axis.set_xticks([])
            axis.set_yticks([])
            if column >= len(row):
                axis.set_axis_off()
                continue
            frame, caption = row[column]
            axis.imshow(frame)  # (H, W, 3) uint8
            axis.set_xlabel(textwrap.fill(caption, width=24), fontsize=6)
            if column == 0:
                for spine in axis.spines.values():
                    spine.set(color="#c03030", linewidth=2)
    figure.suptitle(title, fontsize=10)
    return _save_png(figure, path)


def event_frame(video_path: Path, start_sec: float | Fraction, end_sec: float | Fraction, size: int = 96) -> np.ndarray:
    """The frame at the centre of [start_sec, end_sec) of a video, short side scaled to `size`, centre
    square: (size, size, 3) uint8.

    The index is int(centre * fps) with the video's exact frame rate (as `center_frame`), clipped to the
    last frame. Times are taken exactly: pass `Fraction`s where a float's binary value would round down.
    """
    start_sec, end_sec = Fraction(start_sec), Fraction(end_sec)
    if not 0 <= start_sec <= end_sec:
        raise ValueError(f"need 0 <= start_sec <= end_sec, got [{start_sec}, {end_sec})")
    info = probe_video(video_path)
    index = min(center_frame(EventWindow(0, start_sec, end_sec), info.fps), info.num_frames - 1)
    return read_frames(video_path, [index], size=size)[0]  # (size, size, 3) uint8


def _save_png(figure: Figure, path: Path) -> Path:
    """Save as PNG under a temporary sibling name, then rename: `path` never holds a partial image."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
