"""LVU tasks with Object Transformer++ (paper sec. 5, Fig. 3, Table 5), from the cache.

Every row of Table 5 embeds a span's clips with its encoders and feeds them to one Object Transformer
(`object_transformer.py`), fine-tuned per task and seed (LVU's span protocol, `lvu_data.py`), with LVU's head
Dropout -> Linear on the pooled output:

- `instance`   the instance pathway alone: the span's cached instance features, the OT pretrained once by
               masked-instance prediction, then fine-tuned;
- `scene_sup`  the scene pathway from the backbone alone ("Sup"): the span's backbone tokens, one per cached
               event token, each with its second in the span;
- `scene_ours` the scene pathway from our TxE alone ("Ours"): the span's TxE-contextualized tokens;
- `ot_pp`      Object Transformer++: the instances and the TxE tokens in one sequence through one OT, told
               apart by a token-type embedding; the instance part starts from the masked-instance pretraining,
               the scene projection and the type embedding are new (`create_object_transformer`).

The scene rows' OT starts from BERT's init: the masked-instance pretraining reads instances, which they do not
use (and a cache without instances can still run them).

::

    span instances: InstanceBatch (B, M) --> InstanceEmbedding [+ type 0] --> (B, M, H) --.
                                                                                          |-- concat (B, M + k, H)
    span tokens:    SceneBatch (B, k, E) --> Linear(E -> H)    [+ type 1] --> (B, k, H) --'
      |  + 3 second embeddings, [start] + tokens, LayerNorm, Dropout         (B, 1 + M + k, H)
      |  encoder (post-norm), pooler tanh(Linear(h[:, 0]))                   (B, H)
      v
    head: Dropout -> Linear                                                  (B, C | 1)

`instance` has the top line only, the scene rows the bottom one only (neither has a type embedding).
Fine-tuning is the same for every row (`parameter_groups`).
"""

import copy
from dataclasses import dataclass
from pathlib import Path

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
    span_scene,
    train_span_start,
)
from hiermovie.tasks.object_transformer import (
    InstanceBatch,
    ObjectTransformer,
    SceneBatch,
    collate_instances,
    collate_scene,
    create_object_transformer,
    load_instance_weights,
)
from hiermovie.tensorboard_log import EventLog

LVU_ROWS = ("instance", "scene_sup", "scene_ours", "ot_pp")
USES_INSTANCES = {"instance": True, "scene_sup": False, "scene_ours": False, "ot_pp": True}
SCENE_TOKENS = {"instance": None, "scene_sup": "raw", "scene_ours": "context", "ot_pp": "context"}
WEIGHT_DECAY = 0.01  # LVU run.sh: AdamW weight decay, none on biases and LayerNorms


class LVUModel(nn.Module):
    """LVU's head over the pooled output of the row's Object Transformer.

    Shape: forward: InstanceBatch (B, M) and / or SceneBatch (B, k), as the OT reads them -> (B, C), C = 1 for
    regression.
    """

    def __init__(self, *, ot: ObjectTransformer, head: nn.Module):
        super().__init__()
        self.ot, self.head = ot, head

    def forward(self, instances: InstanceBatch | None, scene: SceneBatch | None) -> Tensor:
        pooled, _ = self.ot(instances, scene)  # (B, H)
        return self.head(pooled)  # (B, C)


def lvu_object_transformer(config: TaskConfig, instance_dim: int | None, scene_dim: int | None) -> ObjectTransformer:
    """The Object Transformer of `config` over `instance_dim`-d instances and / or `scene_dim`-d scene tokens
    (None: no such pathway) of lvu_span_sec spans."""
    return create_object_transformer(
        instance_dim,
        hidden_dim=config.ot_dim,
        num_layers=config.ot_layers,
        num_heads=config.ot_heads,
        ffn_dim=config.ot_ffn,
        dropout=config.dropout,
        max_seconds=config.lvu_span_sec,
        scene_dim=scene_dim,
    )


def create_lvu_model(
    task: str,
    row: str,
    config: TaskConfig,
    instance_dim: int | None,
    scene_dim: int | None,
    pretrained: dict | None = None,
) -> LVUModel:
    """The row's model: its Object Transformer (the pathways of the row; the instance part loaded from the
    `pretrained` instance-only OT's weights, None: BERT's init) and LVU's head, Dropout -> Linear(H, classes, or
    1 for regression)."""
    uses_instances, uses_scene = USES_INSTANCES[row], SCENE_TOKENS[row] is not None
    ot = lvu_object_transformer(config, instance_dim if uses_instances else None, scene_dim if uses_scene else None)
    if uses_instances and pretrained is not None:
        load_instance_weights(ot, pretrained)
    head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(ot.hidden_dim, LVU_TASKS[task] or 1))
    return LVUModel(ot=ot, head=head)


@dataclass(frozen=True)
class Spans:
    """Spans of several movies: movie index and start second of each, and the inputs each row needs."""

    video: np.ndarray  # (S,) int64
    start: np.ndarray  # (S,) float64
    scene: dict[str, list[dict[str, np.ndarray]]]  # "raw" / "context": per span, `span_scene`
    instances: list[dict[str, np.ndarray]]  # per span, `span_instances`


def make_spans(movies: list[Movie], starts: list[np.ndarray], span_sec: float) -> Spans:
    """The inputs of the given spans (starts[i] are movie i's span starts)."""
    video = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(starts)])  # (S,)
    start = np.concatenate(starts).astype(np.float64)  # (S,)
    kinds = ("raw", "context") if all(movie.context is not None for movie in movies) else ("raw",)
    scene: dict[str, list[dict[str, np.ndarray]]] = {kind: [] for kind in kinds}
    instances = []
    for i, s in zip(video.tolist(), start.tolist(), strict=True):
        for kind in kinds:
            scene[kind].append(span_scene(movies[i], s, span_sec, kind))
        instances.append(span_instances(movies[i], s, span_sec))
    return Spans(video, start, scene, instances)


def evaluation_spans(movies: list[Movie], span_sec: float) -> Spans:
    """LVU's evaluation spans of every movie (one ending at every second)."""
    return make_spans(movies, [eval_span_starts(m.duration, span_sec) for m in movies], span_sec)


def batch_inputs(row: str, spans: Spans, rows: np.ndarray, config: TaskConfig, device, generator=None):
    """(InstanceBatch or None, SceneBatch or None) of the spans `rows`, as the row's model reads them."""
    instances = scene = None
    if USES_INSTANCES[row]:
        examples = [spans.instances[i] for i in rows.tolist()]
        instances = collate_instances(examples, config.ot_max_instances, generator).to(device)
    if SCENE_TOKENS[row] is not None:
        scene = collate_scene([spans.scene[SCENE_TOKENS[row]][i] for i in rows.tolist()]).to(device)
    return instances, scene


def _token_counts(row: str, spans: Spans) -> np.ndarray:
    """The length of each span's sequence in the row's Object Transformer. Shape (S,)."""
    counts = np.zeros(len(spans.video), np.int64)  # (S,)
    if USES_INSTANCES[row]:
        counts += [len(instances["sec"]) for instances in spans.instances]
    if SCENE_TOKENS[row] is not None:
        counts += [len(tokens["sec"]) for tokens in spans.scene[SCENE_TOKENS[row]]]
    return counts


def evaluation_inputs(row: str, spans: Spans, config: TaskConfig, device) -> list[tuple[np.ndarray, tuple]]:
    """(span rows, model inputs) of every evaluation span in batches of 64, collated once for all epochs.
    Spans are batched in order of their sequence length: less padding for the Object Transformer, the same
    outputs (an OT evaluation pass on the demo benchmark: 173 ms in span order, 127 ms sorted)."""
    order = np.argsort(_token_counts(row, spans), kind="stable")  # (S,)
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


def parameter_groups(model: nn.Module, config: TaskConfig) -> list[dict]:
    """AdamW groups, one policy for every row (LVU run.sh): every parameter at `lvu_lr` (times LVU's schedule),
    weight decay WEIGHT_DECAY except on biases and LayerNorm weights (LVU's no_decay = bias, LayerNorm.weight)."""
    norms = {id(p) for module in model.modules() if isinstance(module, nn.LayerNorm) for p in module.parameters()}
    exempt = {id(p) for name, p in model.named_parameters() if name.endswith("bias")} | norms
    decay = [p for p in model.parameters() if id(p) not in exempt]
    rest = [p for p in model.parameters() if id(p) in exempt]
    return [
        {"params": params, "weight_decay": weight_decay, "peak_lr": config.lvu_lr, "lr": config.lvu_lr}
        for params, weight_decay in ((decay, WEIGHT_DECAY), (rest, 0.0))
    ]


def train_lvu_run(
    task: str,
    row: str,
    seed: int,
    splits: dict[str, tuple[list[Movie], Spans | None]],
    config: TaskConfig,
    pretrained: dict | None,
    device: torch.device,
    events: Path | None = None,
) -> dict:
    """Train one (task, row, seed) on random train spans; {"val", "test", "best_epoch"} at the best val epoch.

    `splits` maps train / val / test to (movies, evaluation spans; None for train); `pretrained` holds the
    masked-instance pretrained Object Transformer's weights for the instance rows (None: BERT's init);
    `events`: a folder for the run's TensorBoard scalars (loss and lr every step, the val metric every epoch).
    """
    torch.manual_seed(seed)
    train, span_sec = splits["train"][0], config.lvu_span_sec
    scene = SCENE_TOKENS[row]
    scene_dim = (train[0].raw if scene == "raw" else train[0].context).shape[1] if scene else None
    instance_dim = train[0].instance_features.shape[1]
    model = create_lvu_model(task, row, config, instance_dim, scene_dim, pretrained).to(device)
    steps_per_epoch = max(1, -(-len(train) // config.lvu_batch_size))
    total = steps_per_epoch * config.lvu_epochs
    schedule = linear_schedule(1.0, total, warmup_steps=total // 10)  # LVU: 10% warmup, linear decay (x peak lr)
    optimizer = torch.optim.AdamW(parameter_groups(model, config))
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    labels = torch.tensor([movie.label for movie in train], device=device)  # (V,)
    evaluation = {split: evaluation_inputs(row, splits[split][1], config, device) for split in ("val", "test")}
    best: dict | None = None  # {"val", "best_epoch", "state"}: test is scored once, with the best val epoch's weights
    metric = "val_mse" if LVU_TASKS[task] == 0 else "val_accuracy"
    with EventLog(events, purge_step=1) as log:
        for epoch in range(config.lvu_epochs):
            starts = [np.array([train_span_start(m.duration, span_sec, rng)]) for m in train]
            spans = make_spans(train, starts, span_sec)
            model.train()
            for step, rows in enumerate(np.array_split(rng.permutation(len(train)), steps_per_epoch)):
                index = epoch * steps_per_epoch + step
                for group in optimizer.param_groups:
                    group["lr"] = group["peak_lr"] * float(schedule[index])
                outputs = model(*batch_inputs(row, spans, rows, config, device, generator)).float()  # (B, C)
                target = labels[torch.from_numpy(rows).to(device)]
                if LVU_TASKS[task] == 0:
                    loss = F.mse_loss(outputs[:, 0], target.float())
                else:
                    loss = F.cross_entropy(outputs, target.long())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                log.scalars(index + 1, {"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]})
            value = _score_split(task, model, splits["val"], evaluation["val"], device)
            log.scalars((epoch + 1) * steps_per_epoch, {"epoch": epoch + 1, metric: value})
            if best is None or better(task, value, best["val"]):
                best = {"val": value, "best_epoch": epoch + 1, "state": copy.deepcopy(model.state_dict())}
    model.load_state_dict(best.pop("state"))
    return {**best, "test": _score_split(task, model, splits["test"], evaluation["test"], device)}


def _score_split(task: str, model: LVUModel, split: tuple[list[Movie], Spans], inputs: list[tuple], device) -> float:
    movies, spans = split
    return score_spans(task, predict_spans(model, inputs, device), spans, movies)
