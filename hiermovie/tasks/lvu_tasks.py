"""LVU tasks with Object Transformer++ (paper sec. 5, Fig. 3, Table 5), from the cache.

Rows of Table 5 (each trained per task and seed, LVU's span protocol, `lvu_data.py`):

- `instance`   the instance pathway alone: LVU's Object Transformer over the span's cached instance
               features, pretrained once by masked-instance prediction, then fine-tuned;
- `scene_sup`  the scene pathway from the backbone alone: the span's backbone tokens mean-pooled ("Sup");
- `scene_ours` the scene pathway from our TxE: the span's contextualized tokens mean-pooled;
- `ot_pp`      Object Transformer++: both pathways, the pooled OT output and the scene vector concatenated
               before the head.

::

    span instances (B, M, D) --> ObjectTransformer --> pooled (B, H) --.
                                                                       |-- concat --> dropout --> Linear --> (B, C | 1)
    span tokens (B, k, E) --> mean --> LayerNorm --> scene (B, E) -----'
"""

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hiermovie.datasets.lvu import LVU_TASKS
from hiermovie.schedules import linear_schedule
from hiermovie.tasks.config import TaskConfig
from hiermovie.tasks.lvu_data import (
    Movie,
    aggregate_classification,
    aggregate_regression,
    eval_span_starts,
    lvu_metric,
    span_instances,
    span_tokens,
    train_span_start,
)
from hiermovie.tasks.object_transformer import InstanceBatch, ObjectTransformer, collate_instances

LVU_ROWS = ("instance", "scene_sup", "scene_ours", "ot_pp")
USES_INSTANCES = {"instance": True, "scene_sup": False, "scene_ours": False, "ot_pp": True}
SCENE_TOKENS = {"instance": None, "scene_sup": "raw", "scene_ours": "context", "ot_pp": "context"}


class LVUModel(nn.Module):
    """A head over the pathways a row uses: the pooled Object Transformer output and / or a scene vector."""

    def __init__(self, *, ot: ObjectTransformer | None, scene_norm: nn.Module | None, head: nn.Module):
        super().__init__()
        self.ot, self.scene_norm, self.head = ot, scene_norm, head

    def forward(self, instances: InstanceBatch | None, scene: Tensor | None) -> Tensor:
        parts = []
        if self.ot is not None:
            parts.append(self.ot(instances)[0])  # (B, H)
        if self.scene_norm is not None:
            parts.append(self.scene_norm(scene))  # (B, E)
        return self.head(torch.cat(parts, dim=-1))  # (B, C)


def create_lvu_model(task: str, row: str, ot: ObjectTransformer | None, scene_dim: int, dropout: float) -> LVUModel:
    """The row's model: LVU's head, Dropout(0.1) -> Linear(width, classes, or 1 for regression)."""
    outputs = LVU_TASKS[task] or 1
    scene_norm = nn.LayerNorm(scene_dim) if SCENE_TOKENS[row] else None
    width = (ot.hidden_dim if USES_INSTANCES[row] else 0) + (scene_dim if scene_norm is not None else 0)
    head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, outputs))
    return LVUModel(ot=ot if USES_INSTANCES[row] else None, scene_norm=scene_norm, head=head)


@dataclass(frozen=True)
class Spans:
    """Spans of several movies: movie index and start second of each, and the inputs each row needs."""

    video: np.ndarray  # (S,) int64
    start: np.ndarray  # (S,) float64
    scene: dict[str, np.ndarray]  # "raw" (S, D), "context" (S, H): mean-pooled span tokens
    instances: list[dict[str, np.ndarray]]  # per span, `span_instances`


def make_spans(movies: list[Movie], starts: list[np.ndarray], span_sec: float) -> Spans:
    """The inputs of the given spans (starts[i] are movie i's span starts)."""
    video = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(starts)])  # (S,)
    start = np.concatenate(starts).astype(np.float64)  # (S,)
    scene: dict[str, list[np.ndarray]] = {"raw": [], "context": []}
    instances = []
    for i, s in zip(video.tolist(), start.tolist(), strict=True):
        movie = movies[i]
        rows = span_tokens(movie, s, span_sec)  # (k,)
        if len(rows) == 0:  # a span shorter than a token: the nearest token
            rows = np.array([int(np.argmin(np.abs(movie.centre_sec - s)))])
        scene["raw"].append(movie.raw[rows].mean(0))  # (D,)
        if movie.context is not None:
            scene["context"].append(movie.context[rows].mean(0))  # (H,)
        instances.append(span_instances(movie, s, span_sec))
    pooled = {key: np.stack(values).astype(np.float32) for key, values in scene.items() if values}
    return Spans(video, start, pooled, instances)


def evaluation_spans(movies: list[Movie], span_sec: float) -> Spans:
    """LVU's evaluation spans of every movie (one ending at every second)."""
    return make_spans(movies, [eval_span_starts(m.duration, span_sec) for m in movies], span_sec)


def batch_inputs(row: str, spans: Spans, rows: np.ndarray, config: TaskConfig, device, generator=None):
    """(instances or None, scene (B, E) or None) of the spans `rows`, as the row's model reads them."""
    instances = None
    if USES_INSTANCES[row]:
        examples = [spans.instances[i] for i in rows.tolist()]
        instances = collate_instances(examples, config.ot_max_instances, generator).to(device)
    key = SCENE_TOKENS[row]
    scene = torch.from_numpy(spans.scene[key][rows]).to(device) if key else None  # (B, E)
    return instances, scene


def evaluation_inputs(row: str, spans: Spans, config: TaskConfig, device) -> list[tuple[np.ndarray, tuple]]:
    """(span rows, model inputs) of every evaluation span in batches of 64, collated once for all epochs.
    Spans are batched in order of their instance count: less padding for the Object Transformer, the same
    outputs (an OT evaluation pass on the demo benchmark: 173 ms in span order, 127 ms sorted)."""
    counts = np.array([len(instances["sec"]) for instances in spans.instances])  # (S,)
    order = np.argsort(counts, kind="stable")  # (S,)
    chunks = np.array_split(order, max(1, len(order) // 64))
    return [(rows, batch_inputs(row, spans, rows, config, device)) for rows in chunks]


def predict_spans(model: LVUModel, inputs: list[tuple[np.ndarray, tuple]], device: torch.device) -> np.ndarray:
    """The outputs for every span of `evaluation_inputs`, in span order, in eval mode. Shape (S, C), C = 1 for
    regression."""
    model.eval()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # torch's fused inference path for transformer layers is ~1.1-1.5x slower on our padded CPU batches
    torch.backends.mha.set_fastpath_enabled(device.type == "cuda")
    try:
        with torch.no_grad():
            batches = [model(*batch).float().cpu().numpy() for _, batch in inputs]  # [(B, C)]
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    outputs = np.empty((sum(len(rows) for rows, _ in inputs), batches[0].shape[1]), np.float32)  # (S, C)
    outputs[np.concatenate([rows for rows, _ in inputs])] = np.concatenate(batches)
    return outputs


def score_spans(task: str, outputs: np.ndarray, spans: Spans, movies: list[Movie]) -> float:
    """LVU's metric of a split from its span outputs: per-video aggregation, then top-1 or MSE."""
    labels = np.array([movie.label for movie in movies])  # (V,)
    if LVU_TASKS[task] == 0:
        return lvu_metric(task, aggregate_regression(outputs[:, 0], spans.video, len(movies)), labels)
    probabilities = torch.from_numpy(outputs).softmax(-1).numpy()  # (S, C)
    return lvu_metric(task, aggregate_classification(probabilities, spans.video, len(movies)), labels.astype(int))


def better(task: str, value: float, best: float) -> bool:
    """Model selection on val: higher accuracy, or lower MSE for the regression tasks."""
    return value < best if LVU_TASKS[task] == 0 else value > best


def parameter_groups(model: LVUModel, config: TaskConfig) -> list[dict]:
    """AdamW groups: the Object Transformer at `lvu_lr`, the head and the scene LayerNorm at `lvu_head_lr`."""
    head = [p for name, p in model.named_parameters() if not name.startswith("ot.")]
    groups = [{"params": head, "peak_lr": config.lvu_head_lr, "lr": config.lvu_head_lr}]
    if model.ot is not None:
        groups.append({"params": list(model.ot.parameters()), "peak_lr": config.lvu_lr, "lr": config.lvu_lr})
    return groups


def train_lvu_run(
    task: str,
    row: str,
    seed: int,
    splits: dict[str, tuple[list[Movie], Spans | None]],
    config: TaskConfig,
    make_ot,
    device: torch.device,
) -> dict:
    """Train one (task, row, seed) on random train spans; {"val", "test", "best_epoch"} at the best val epoch.

    `splits` maps train / val / test to (movies, evaluation spans; None for train); `make_ot()` builds the
    (pretrained) Object Transformer.
    """
    torch.manual_seed(seed)
    train, span_sec = splits["train"][0], config.lvu_span_sec
    scene_key = SCENE_TOKENS[row]
    scene_dim = splits["val"][1].scene[scene_key].shape[1] if scene_key else 0
    model = create_lvu_model(task, row, make_ot() if USES_INSTANCES[row] else None, scene_dim, config.dropout)
    model = model.to(device)
    steps_per_epoch = max(1, -(-len(train) // config.lvu_batch_size))
    total = steps_per_epoch * config.lvu_epochs
    schedule = linear_schedule(1.0, total, warmup_steps=total // 10)  # LVU: 10% warmup, linear decay (x peak lr)
    optimizer = torch.optim.AdamW(parameter_groups(model, config), weight_decay=0.01)
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    labels = torch.tensor([movie.label for movie in train], device=device)  # (V,)
    evaluation = {split: evaluation_inputs(row, splits[split][1], config, device) for split in ("val", "test")}
    best: dict | None = None  # {"val", "best_epoch", "state"}: test is scored once, with the best val epoch's weights
    for epoch in range(config.lvu_epochs):
        spans = make_spans(train, [np.array([train_span_start(m.duration, span_sec, rng)]) for m in train], span_sec)
        model.train()
        for step, rows in enumerate(np.array_split(rng.permutation(len(train)), steps_per_epoch)):
            for group in optimizer.param_groups:
                group["lr"] = group["peak_lr"] * float(schedule[epoch * steps_per_epoch + step])
            outputs = model(*batch_inputs(row, spans, rows, config, device, generator)).float()  # (B, C)
            target = labels[torch.from_numpy(rows).to(device)]
            if LVU_TASKS[task] == 0:
                loss = F.mse_loss(outputs[:, 0], target.float())
            else:
                loss = F.cross_entropy(outputs, target.long())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        value = _score_split(task, model, splits["val"], evaluation["val"], device)
        if best is None or better(task, value, best["val"]):
            best = {"val": value, "best_epoch": epoch + 1, "state": copy.deepcopy(model.state_dict())}
    model.load_state_dict(best.pop("state"))
    return {**best, "test": _score_split(task, model, splits["test"], evaluation["test"], device)}


def _score_split(task: str, model: LVUModel, split: tuple[list[Movie], Spans], inputs: list[tuple], device) -> float:
    movies, spans = split
    return score_spans(task, predict_spans(model, inputs, device), spans, movies)
