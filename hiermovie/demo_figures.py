"""The demo report's figures of the event embeddings: 2-D projections coloured by verb, and retrieval
examples as frame strips (query event, then its nearest events from other clips)."""

from pathlib import Path

import numpy as np

from hiermovie.contextualize.export import read_embeddings
from hiermovie.datasets.vidsitu import EVENTS, load_vidsitu
from hiermovie.plots import event_frame, plot_embedding_projection, plot_retrieval_strips

QUERIES = 4  # retrieval strips
NEIGHBOURS = 4


def embedding_figures(export: Path, vidsitu: Path, out: Path) -> dict[str, Path]:
    """PNGs from an export of the cache: VidSitu valid events projected (raw and TxE), retrieval strips."""
    embeddings = read_embeddings(export)
    splits = {split: load_vidsitu(vidsitu, split).clips for split in ("train", "valid")}
    clips = {clip.clip_id: clip for split in splits.values() for clip in split}
    valid_ids = {clip.clip_id for clip in splits["valid"]}
    rows = [r for r, video in enumerate(embeddings.video_id) if video in clips]  # VidSitu events only
    verb = {r: clips[embeddings.video_id[r]].annotations[0].events[EVENTS[embeddings.index[r]]].verb for r in rows}
    valid_rows = [r for r in rows if embeddings.video_id[r] in valid_ids]
    labels = [verb[r] for r in valid_rows]
    figures = {
        "raw": plot_embedding_projection(
            embeddings.raw[valid_rows], labels, out / "embeddings_raw.png", "VidSitu valid events: backbone tokens"
        ),
        "contextual": plot_embedding_projection(
            embeddings.contextual[valid_rows], labels, out / "embeddings_txe.png", "VidSitu valid events: TxE outputs"
        ),
    }
    vectors = embeddings.contextual[rows] / np.linalg.norm(embeddings.contextual[rows], axis=1, keepdims=True)  # (E, H)
    videos = np.array([embeddings.video_id[r] for r in rows])
    strips = []
    for query in np.linspace(0, len(valid_rows) - 1, QUERIES).astype(int):
        q = rows.index(valid_rows[query])
        scores = vectors @ vectors[q]  # (E,) cosine similarity
        scores[videos == videos[q]] = -np.inf  # neighbours from other clips
        strip = [q, *np.argsort(-scores)[:NEIGHBOURS].tolist()]
        strips.append([_frame_and_caption(embeddings, rows[k], verb[rows[k]], vidsitu) for k in strip])
    title = "Nearest events by TxE embedding (first column: the query, valid split)"
    figures["retrieval"] = plot_retrieval_strips(strips, out / "retrieval.png", title)
    return figures


def _frame_and_caption(embeddings, row: int, verb: str, vidsitu: Path) -> tuple[np.ndarray, str]:
    video = embeddings.video_id[row]
    path = vidsitu / "vsitu_video_trimmed_dir" / f"{video}.mp4"
    frame = event_frame(path, embeddings.start_sec[row], embeddings.end_sec[row])
    return frame, f"{video[2:13]} Ev{embeddings.index[row] + 1}: {verb}"
