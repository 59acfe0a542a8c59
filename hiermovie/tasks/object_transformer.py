"""LVU's Object Transformer (Wu & Krähenbühl, CVPR 2021) over a span's tokens: cached per-instance features (the
"instance pathway" of Object Transformer++, Xiao et al., CVPR 2022), cached scene tokens (its "scene pathway"),
or both in one sequence (OT++).

An example is a span of a long video. Its m object instances (one cached feature per instance per second, each
with its box, second, shot id and track id) become one token each, following LVU (`chaoyuaw/lvu`,
`src/models/modeling_roberta.py` and `src/run.py`):

    Linear(D -> H)(feature) + Linear(5 -> H)([x1, y1, x2, y2, area])
      + shot_inc[shot - min shot] + shot_dec[max shot - shot] + shot_ctr[shot - centre shot + K] + track[track id]

Its k scene tokens (one per cached event token whose centre lies in the span: backbone or TxE outputs, each
with the second of its centre relative to the span start) become Linear(E -> H)(token). With both pathways a
learned token-type embedding (0 instance, 1 scene) is added to each token. Every token then gets LVU's three
second embeddings, pos_inc[sec - min sec] + pos_dec[max sec - sec] + pos_ctr[sec - centre sec + S], with
min / max / centre sec taken over all valid tokens of the sequence, and the sequence is LayerNorm-ed, then
Dropout(0.1). Shot ids are relative to the instances' own min / max shot and centre shot (the shot of the
instance closest to the instances' centre second); S = max_seconds and K = max_shots. At training time every box
corner moves by up to +-20% of the box width / height (uniform, torch's global RNG; the area is taken after the
jitter). `collate_instances` re-numbers shots and tracks per example; given a generator it permutes the track
numbering randomly (LVU's link-id permutation), so the track embedding carries only identity equality.

The sequence is a learned start token followed by the instances, then the scene tokens; unlike LVU we put no
end token after them. A post-norm (RoBERTa-style) GELU encoder of 3 layers reads it with padding hidden from
attention; the pooled output is tanh(Linear(h[:, 0])). Linear and embedding weights start as N(0, 0.02^2)
(BERT's init), the token-type embedding at zero (below).

::

    InstanceBatch: features (B, M, D), box (B, M, 4),      SceneBatch: features (B, k, E), sec (B, k),
                   sec / shot / track (B, M), valid (B, M)             valid (B, k)
      |  masked features <- mask_token (D,)                  |
      |  InstanceEmbedding: feature_proj (D -> H)            |  scene_proj (E -> H)
      |    + box_proj (5 -> H) + 3 shot + track embeddings   |
      v                                                      v
    instance tokens (B, M, H) [+ type 0]                   scene tokens (B, k, H) [+ type 1]
      '---------------------------.--------------------------'
                                  |  concat, + 3 sec embeddings of the whole sequence
                                  v
    tokens                                                 (B, M + k, H)
      |  [start_token] + tokens, LayerNorm, Dropout
      v
    sequence                                               (B, 1 + M + k, H)   `embed` stops here
      |  encoder: L x [self-attention, FFN] (post-norm, GELU), key padding = ~valid
      v
    hidden                                                 (B, 1 + M + k, H)
      |-- pooler: tanh(Linear(hidden[:, 0]))               (B, H)              pooled
      '-- hidden[:, 1:], zero at padding                   (B, M + k, H)       token outputs

Masked-instance pretraining (LVU's, with our target) of an instance-only Object Transformer:
`hiermovie.tasks.instance_pretraining`; `load_instance_weights` starts an OT++ from it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

BOX_JITTER = 0.2  # LVU: each box corner moves by up to 20% of the box width / height at training time
_FIELDS = ("features", "box", "sec", "shot", "track", "valid")  # InstanceBatch


@dataclass(frozen=True)
class InstanceBatch:
    """Padded instances of B examples (spans); M = the most instances in any example.

    Attributes:
        features: (B, M, D) float.
        box: (B, M, 4) float, normalised x1, y1, x2, y2.
        sec: (B, M) long, second relative to the span start, 0 <= sec < max_seconds.
        shot: (B, M) long, shot index re-numbered from 0 within the example, < max_shots.
        track: (B, M) long, track index re-numbered from 0 within the example, < max_tracks.
        valid: (B, M) bool, False = padding (whose other values are ignored).
    """

    features: Tensor
    box: Tensor
    sec: Tensor
    shot: Tensor
    track: Tensor
    valid: Tensor

    def __post_init__(self):
        if self.features.dim() != 3:
            raise ValueError(f"features must be (B, M, D), got {tuple(self.features.shape)}")
        shape = tuple(self.features.shape[:2])
        if tuple(self.box.shape) != (*shape, 4):
            raise ValueError(f"box must be {(*shape, 4)}, got {tuple(self.box.shape)}")
        for name in ("sec", "shot", "track", "valid"):
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"{name} must be {shape}, got {tuple(getattr(self, name).shape)}")
        if self.valid.dtype != torch.bool:
            raise ValueError(f"valid must be bool, got {self.valid.dtype}")

    def to(self, device: torch.device | str) -> "InstanceBatch":
        """The same batch on `device`."""
        return InstanceBatch(**{name: getattr(self, name).to(device) for name in _FIELDS})


def _first_appearance_ids(values: np.ndarray) -> np.ndarray:
    """Re-number values 0..K-1 in order of first appearance: [7, 3, 7, 5] -> [0, 1, 0, 2]."""
    _, first, inverse = np.unique(values, return_index=True, return_inverse=True)  # (K,), (m,)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))  # (K,) unique value -> order of appearance
    return rank[inverse.reshape(-1)]  # (m,)


def collate_instances(
    examples: Sequence[dict[str, np.ndarray]], max_instances: int, generator: torch.Generator | None = None
) -> InstanceBatch:
    """Pad examples {"features" (m, D), "box" (m, 4), "sec" (m,), "shot" (m,), "track" (m,)} into a batch.

    Each example's instances are put in time order (stable sort by sec, which is already relative to the span
    start and kept as it is); more than `max_instances` are evenly subsampled in that order. Shots and tracks
    are re-numbered 0..K-1 in order of first appearance; with a `generator` the track numbering is then randomly
    permuted (LVU's link-id permutation). An example with zero instances is all padding.
    """
    if max_instances < 1:
        raise ValueError(f"max_instances must be at least 1, got {max_instances}")
    if not examples:
        raise ValueError("no examples to collate")
    kept = []
    for index, example in enumerate(examples):
        features = np.asarray(example["features"], dtype=np.float32)  # (m, D)
        box = np.asarray(example["box"], dtype=np.float32).reshape(-1, 4)  # (m, 4)
        sec, shot, track = (np.asarray(example[k], dtype=np.int64).reshape(-1) for k in ("sec", "shot", "track"))
        count = len(features)
        if features.ndim != 2 or not len(box) == len(sec) == len(shot) == len(track) == count:
            raise ValueError(
                f"example {index}: features must be (m, D) and box (m, 4), sec, shot, track (m,); got "
                f"{features.shape}, {box.shape}, {sec.shape}, {shot.shape}, {track.shape}"
            )
        if count and sec.min() < 0:
            raise ValueError(f"example {index}: seconds must be >= 0 (relative to the span start), got {sec.min()}")
        order = np.argsort(sec, kind="stable")  # (m,) time order
        if count > max_instances:
            order = order[np.linspace(0, count - 1, max_instances).round().astype(np.int64)]  # (max_instances,)
        track_ids = _first_appearance_ids(track[order])  # (m',)
        if generator is not None and len(track_ids):
            permutation = torch.randperm(int(track_ids.max()) + 1, generator=generator).numpy()  # (K,)
            track_ids = permutation[track_ids]
        kept.append((features[order], box[order], sec[order], _first_appearance_ids(shot[order]), track_ids))
    dims = {features.shape[1] for features, *_ in kept}
    if len(dims) != 1:
        raise ValueError(f"examples have features of different widths: {sorted(dims)}")
    batch, width, longest = len(kept), dims.pop(), max(len(features) for features, *_ in kept)
    out = {
        "features": torch.zeros(batch, longest, width),  # (B, M, D)
        "box": torch.zeros(batch, longest, 4),  # (B, M, 4)
        "sec": torch.zeros(batch, longest, dtype=torch.long),  # (B, M)
        "shot": torch.zeros(batch, longest, dtype=torch.long),  # (B, M)
        "track": torch.zeros(batch, longest, dtype=torch.long),  # (B, M)
        "valid": torch.zeros(batch, longest, dtype=torch.bool),  # (B, M)
    }
    for row, values in enumerate(kept):
        count = len(values[0])
        for name, value in zip(_FIELDS[:5], values, strict=True):
            out[name][row, :count] = torch.from_numpy(value)
        out["valid"][row, :count] = True
    return InstanceBatch(**out)


@dataclass(frozen=True)
class SceneBatch:
    """Padded scene tokens of B examples (spans); k = the most tokens in any example.

    Attributes:
        features: (B, k, E) float, backbone or TxE tokens in time order.
        sec: (B, k) long, second of each token's centre relative to the span start, 0 <= sec < max_seconds.
        valid: (B, k) bool, False = padding (whose other values are ignored).
    """

    features: Tensor
    sec: Tensor
    valid: Tensor

    def __post_init__(self):
        if self.features.dim() != 3:
            raise ValueError(f"features must be (B, k, E), got {tuple(self.features.shape)}")
        shape = tuple(self.features.shape[:2])
        for name in ("sec", "valid"):
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"{name} must be {shape}, got {tuple(getattr(self, name).shape)}")
        if self.valid.dtype != torch.bool:
            raise ValueError(f"valid must be bool, got {self.valid.dtype}")

    def to(self, device: torch.device | str) -> "SceneBatch":
        """The same batch on `device`."""
        return SceneBatch(self.features.to(device), self.sec.to(device), self.valid.to(device))


def collate_scene(examples: Sequence[dict[str, np.ndarray]]) -> SceneBatch:
    """Pad examples {"features" (k, E), "sec" (k,)}, each a span's scene tokens in time order, into a batch."""
    if not examples:
        raise ValueError("no examples to collate")
    features = [np.asarray(example["features"], dtype=np.float32) for example in examples]  # [(k, E)]
    secs = [np.asarray(example["sec"], dtype=np.int64).reshape(-1) for example in examples]  # [(k,)]
    if any(f.ndim != 2 or len(f) != len(s) for f, s in zip(features, secs, strict=True)):
        raise ValueError(
            f"features must be (k, E) and sec (k,), got {[f.shape for f in features]}, {[s.shape for s in secs]}"
        )
    widths = {f.shape[1] for f in features}
    if len(widths) != 1:
        raise ValueError(f"examples have tokens of different widths: {sorted(widths)}")
    batch, width, longest = len(features), widths.pop(), max(len(f) for f in features)
    out = SceneBatch(
        torch.zeros(batch, longest, width),  # (B, k, E)
        torch.zeros(batch, longest, dtype=torch.long),  # (B, k)
        torch.zeros(batch, longest, dtype=torch.bool),  # (B, k)
    )
    for row, (feature, sec) in enumerate(zip(features, secs, strict=True)):
        out.features[row, : len(feature)] = torch.from_numpy(feature)
        out.sec[row, : len(sec)] = torch.from_numpy(sec)
        out.valid[row, : len(sec)] = True
    return out


def jitter_boxes(box: Tensor, scale: float = BOX_JITTER) -> Tensor:
    """LVU's box augmentation: x1, x2 move by U(-1, 1) * scale * width, y1, y2 by U(-1, 1) * scale * height.

    Uses torch's global RNG. Shape: (..., 4) -> (..., 4).
    """
    size = box[..., 2:] - box[..., :2]  # (..., 2) width, height
    size = torch.cat([size, size], dim=-1)  # (..., 4) w, h, w, h
    noise = torch.rand(box.shape, device=box.device, dtype=box.dtype) * 2 - 1  # (..., 4) in [-1, 1)
    return box + scale * size * noise  # (..., 4)


def _masked_extreme(values: Tensor, valid: Tensor, largest: bool) -> Tensor:
    """Per-row max (or min) over the valid entries; 0 for rows without any. (B, M) -> (B, 1)."""
    fill = torch.iinfo(values.dtype).min if largest else torch.iinfo(values.dtype).max
    filled = values.masked_fill(~valid, fill)  # (B, M)
    extreme = filled.amax(dim=1, keepdim=True) if largest else filled.amin(dim=1, keepdim=True)  # (B, 1)
    return torch.where(valid.any(dim=1, keepdim=True), extreme, torch.zeros_like(extreme))  # (B, 1)


def _relative_ids(values: Tensor, valid: Tensor, size: int, centre: Tensor | None = None) -> list[Tensor]:
    """LVU's increasing, decreasing and centre-relative ids of seconds or shots: values - min, max - values,
    values - centre + size, with min / max over the valid entries and centre (B, 1) by default (min + max) // 2;
    0 at padding. Shape: (B, N) -> 3 x (B, N)."""
    if valid.shape[1] == 0:  # no tokens at all: nothing to reduce over
        return [values] * 3  # 3 x (B, 0)
    values = values.masked_fill(~valid, 0)  # (B, N)
    low, high = _masked_extreme(values, valid, False), _masked_extreme(values, valid, True)  # (B, 1)
    centre = (low + high) // 2 if centre is None else centre  # (B, 1)
    ids = [values - low, high - values, values - centre + size]  # 3 x (B, N)
    return [i.masked_fill(~valid, 0) for i in ids]


def _centre_shot(batch: InstanceBatch) -> Tensor:
    """The shot of the instance closest to the instances' centre second (min + max) // 2. Shape: (B, 1)."""
    valid = batch.valid  # (B, M)
    sec, shot = batch.sec.masked_fill(~valid, 0), batch.shot.masked_fill(~valid, 0)  # (B, M)
    centre = (_masked_extreme(sec, valid, False) + _masked_extreme(sec, valid, True)) // 2  # (B, 1)
    distance = (sec - centre).abs().masked_fill(~valid, torch.iinfo(sec.dtype).max)  # (B, M)
    return shot.gather(1, distance.argmin(dim=1, keepdim=True))  # (B, 1)


class InstanceEmbedding(nn.Module):
    """LVU's instance tokens before the second embeddings (see the module docstring).

    Args:
        feature_proj: `nn.Linear(D, H)`.
        box_proj: `nn.Linear(5, H)` over [x1, y1, x2, y2, area].
        shot_embeddings: 3 `nn.Embedding`s: increasing (max_shots rows), decreasing (max_shots), centre-relative
            (2 * max_shots) shot.
        track_embedding: `nn.Embedding(max_tracks, H)`.
        mask_token: `nn.Parameter` (D,), the learned feature of masked instances.

    Shape:
        forward: InstanceBatch (B, M), masked (B, M) bool or None -> instance tokens (B, M, H).
    """

    def __init__(
        self,
        *,
        feature_proj: nn.Linear,
        box_proj: nn.Linear,
        shot_embeddings: nn.ModuleList,
        track_embedding: nn.Embedding,
        mask_token: nn.Parameter,
    ):
        super().__init__()
        hidden, shots = feature_proj.out_features, shot_embeddings[0].num_embeddings
        sizes = [e.num_embeddings for e in shot_embeddings]
        if sizes != [shots, shots, 2 * shots]:
            raise ValueError(f"need 3 shot embeddings of max_shots, max_shots, 2 * max_shots rows, got {sizes}")
        widths = {box_proj.out_features, track_embedding.embedding_dim, *(e.embedding_dim for e in shot_embeddings)}
        if widths != {hidden} or tuple(mask_token.shape) != (feature_proj.in_features,) or box_proj.in_features != 5:
            raise ValueError(
                f"submodules disagree on the widths: hidden {hidden} vs {sorted(widths)}, mask token "
                f"{tuple(mask_token.shape)} vs input {feature_proj.in_features}"
            )
        self.feature_proj, self.box_proj, self.mask_token = feature_proj, box_proj, mask_token
        self.shot_embeddings, self.track_embedding = shot_embeddings, track_embedding
        self.input_dim, self.hidden_dim = feature_proj.in_features, hidden
        self.max_shots, self.max_tracks = shots, track_embedding.num_embeddings

    def _check(self, batch: InstanceBatch, masked: Tensor | None) -> None:
        if batch.features.shape[-1] != self.input_dim:
            raise ValueError(f"features must be (B, M, {self.input_dim}), got {tuple(batch.features.shape)}")
        if masked is not None and (masked.shape != batch.valid.shape or masked.dtype != torch.bool):
            raise ValueError(f"masked must be bool {tuple(batch.valid.shape)}, got {masked.dtype} {masked.shape}")
        for values, limit, name in ((batch.shot, self.max_shots, "shot"), (batch.track, self.max_tracks, "track")):
            bad = batch.valid & ((values < 0) | (values >= limit))  # (B, M)
            if bad.any():
                raise ValueError(f"{name} ids must lie in [0, {limit}), got {values[bad].tolist()[:5]}")

    def forward(self, batch: InstanceBatch, masked: Tensor | None = None) -> Tensor:
        """`masked` (B, M) bool: True = the instance's feature is replaced by the learned mask vector. Boxes are
        jittered in training mode only."""
        self._check(batch, masked)
        features = batch.features  # (B, M, D)
        if masked is not None:
            features = torch.where(masked.unsqueeze(-1), self.mask_token.to(features.dtype), features)  # (B, M, D)
        box = jitter_boxes(batch.box) if self.training else batch.box  # (B, M, 4)
        area = (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # (B, M)
        spatial = torch.cat([box, area.unsqueeze(-1)], dim=-1)  # (B, M, 5)
        tokens = self.feature_proj(features) + self.box_proj(spatial.to(features.dtype))  # (B, M, H)
        centre = _centre_shot(batch) if batch.valid.shape[1] else None  # (B, 1)
        shot_ids = _relative_ids(batch.shot, batch.valid, self.max_shots, centre)  # 3 x (B, M)
        for embedding, ids in zip(self.shot_embeddings, shot_ids, strict=True):
            tokens = tokens + embedding(ids)  # (B, M, H)
        return tokens + self.track_embedding(batch.track.masked_fill(~batch.valid, 0))  # (B, M, H)


class ObjectTransformer(nn.Module):
    """LVU's Object Transformer over one sequence: a span's instances, its scene tokens, or both (OT++); see the
    module docstring.

    Args:
        instance_embedding: `InstanceEmbedding` (D -> H), or None: no instance pathway.
        scene_proj: `nn.Linear(E, H)` of the scene tokens, or None: no scene pathway.
        type_embedding: `nn.Embedding(2, H)`, 0 = instance, 1 = scene; given exactly when both pathways are.
        sec_embeddings: 3 `nn.Embedding`s: increasing (max_seconds rows), decreasing (max_seconds), centre-relative
            (2 * max_seconds) second.
        start_token: `nn.Parameter` (H,), the start token before the LayerNorm.
        norm: `nn.LayerNorm(H)`; dropout: `nn.Dropout` of the embeddings.
        encoder: `nn.TransformerEncoder` with `batch_first=True` layers of width H.
        pooler: `nn.Linear(H, H)`, followed by tanh.

    Shape:
        forward: InstanceBatch (B, M) and / or SceneBatch (B, k) -> pooled (B, H), token outputs (B, M + k, H)
        (instances first, zero at padding).
    """

    def __init__(
        self,
        *,
        instance_embedding: InstanceEmbedding | None,
        scene_proj: nn.Linear | None,
        type_embedding: nn.Embedding | None,
        sec_embeddings: nn.ModuleList,
        start_token: nn.Parameter,
        norm: nn.LayerNorm,
        dropout: nn.Dropout,
        encoder: nn.TransformerEncoder,
        pooler: nn.Linear,
    ):
        super().__init__()
        if instance_embedding is None and scene_proj is None:
            raise ValueError("an Object Transformer needs an instance pathway, a scene pathway or both")
        both = instance_embedding is not None and scene_proj is not None
        if both != (type_embedding is not None) or (both and type_embedding.num_embeddings != 2):
            raise ValueError("a token-type embedding of 2 rows is needed exactly when both pathways are there")
        hidden, seconds = pooler.in_features, sec_embeddings[0].num_embeddings
        sizes = [e.num_embeddings for e in sec_embeddings]
        if sizes != [seconds, seconds, 2 * seconds]:
            raise ValueError(f"need 3 sec embeddings of max_seconds, max_seconds, 2 * max_seconds rows, got {sizes}")
        widths = {start_token.shape[-1], *(e.embedding_dim for e in sec_embeddings)}
        widths |= set() if instance_embedding is None else {instance_embedding.hidden_dim}
        widths |= set() if scene_proj is None else {scene_proj.out_features}
        widths |= set() if type_embedding is None else {type_embedding.embedding_dim}
        if widths != {hidden}:
            raise ValueError(f"submodules disagree on the width: pooler {hidden} vs {sorted(widths)}")
        self.instance_embedding, self.scene_proj, self.type_embedding = instance_embedding, scene_proj, type_embedding
        self.sec_embeddings, self.start_token = sec_embeddings, start_token
        self.norm, self.dropout, self.encoder, self.pooler = norm, dropout, encoder, pooler
        self.input_dim = None if instance_embedding is None else instance_embedding.input_dim
        self.scene_dim = None if scene_proj is None else scene_proj.in_features
        self.hidden_dim, self.max_seconds = hidden, seconds

    def _tokens(self, instances: InstanceBatch | None, scene: SceneBatch | None, masked: Tensor | None):
        """(tokens (B, M + k, H) before the second embeddings, sec (B, M + k), valid (B, M + k))."""
        wanted = (self.instance_embedding is not None, self.scene_proj is not None)
        if (instances is not None, scene is not None) != wanted:
            raise ValueError(f"this Object Transformer reads (instances, scene) = {wanted}, got {instances, scene}")
        if masked is not None and instances is None:
            raise ValueError("masked marks instances: there are none")
        parts = []  # (tokens (B, n, H), sec (B, n), valid (B, n)) per pathway, instances first
        if instances is not None:
            parts.append((self.instance_embedding(instances, masked), instances.sec, instances.valid))  # (B, M, H)
        if scene is not None:
            if scene.features.shape[-1] != self.scene_dim:
                raise ValueError(f"scene features must be (B, k, {self.scene_dim}), got {tuple(scene.features.shape)}")
            parts.append((self.scene_proj(scene.features), scene.sec, scene.valid))  # (B, k, H)
        if len({len(valid) for _, _, valid in parts}) != 1:
            raise ValueError(f"instances and scene tokens of different batch sizes: {[len(v) for _, _, v in parts]}")
        if self.type_embedding is not None:
            parts = [(tokens + self.type_embedding.weight[kind], *rest) for kind, (tokens, *rest) in enumerate(parts)]
        tokens, sec, valid = (torch.cat(values, dim=1) for values in zip(*parts, strict=True))
        return tokens, sec, valid

    def embed(
        self, instances: InstanceBatch | None = None, scene: SceneBatch | None = None, masked: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """(the input sequence [start] + instances + scene tokens after LayerNorm and dropout (B, 1 + M + k, H),
        valid (B, M + k)).

        `masked` (B, M) bool: True = the instance's feature is replaced by the learned mask vector.
        """
        tokens, sec, valid = self._tokens(instances, scene, masked)  # (B, N, H), (B, N), (B, N)
        bad = valid & ((sec < 0) | (sec >= self.max_seconds))  # (B, N)
        if bad.any():
            raise ValueError(f"sec ids must lie in [0, {self.max_seconds}), got {sec[bad].tolist()[:5]}")
        for embedding, ids in zip(self.sec_embeddings, _relative_ids(sec, valid, self.max_seconds), strict=True):
            tokens = tokens + embedding(ids)  # (B, N, H)
        start = self.start_token.to(tokens.dtype).expand(len(tokens), 1, -1)  # (B, 1, H)
        return self.dropout(self.norm(torch.cat([start, tokens], dim=1))), valid  # (B, 1 + N, H), (B, N)

    def forward(
        self, instances: InstanceBatch | None = None, scene: SceneBatch | None = None, masked: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """(pooled (B, H), token outputs (B, M + k, H)); padding is hidden from attention, the start token never."""
        sequence, valid = self.embed(instances, scene, masked)  # (B, 1 + N, H), (B, N)
        start = valid.new_zeros(len(valid), 1)  # (B, 1) False: the start token always attends
        padding = torch.cat([start, ~valid], dim=1)  # (B, 1 + N), True = hidden
        hidden = self.encoder(sequence, src_key_padding_mask=padding)  # (B, 1 + N, H)
        pooled = torch.tanh(self.pooler(hidden[:, 0]))  # (B, H)
        outputs = hidden[:, 1:] * valid.unsqueeze(-1).to(hidden.dtype)  # (B, N, H), zero at padding
        return pooled, outputs

    def extra_repr(self) -> str:
        return (
            f"input_dim={self.input_dim}, scene_dim={self.scene_dim}, hidden_dim={self.hidden_dim}, "
            f"max_seconds={self.max_seconds}"
        )


def bert_init(module: nn.Module) -> None:
    """BERT's init: Linear / Embedding / attention input weights N(0, 0.02^2), biases 0, LayerNorm 1 and 0."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.MultiheadAttention) and module.in_proj_weight is not None:
        nn.init.normal_(module.in_proj_weight, std=0.02)
        nn.init.zeros_(module.in_proj_bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def create_object_transformer(
    input_dim: int | None,
    hidden_dim: int = 768,
    num_layers: int = 3,
    num_heads: int = 12,
    ffn_dim: int = 3072,
    dropout: float = 0.1,
    max_seconds: int = 60,
    max_shots: int = 64,
    max_tracks: int = 256,
    scene_dim: int | None = None,
) -> ObjectTransformer:
    """LVU's Object Transformer: RoBERTa-base width (768, 12 heads, FFN 3072), 3 post-norm GELU layers, over
    `input_dim`-d instance features and / or `scene_dim`-d scene tokens (None: no such pathway; both: OT++)."""
    dims = [d for d in (input_dim, scene_dim) if d is not None]
    if not dims:
        raise ValueError("give input_dim (instance pathway), scene_dim (scene pathway) or both")
    if min(*dims, hidden_dim, num_layers, num_heads, ffn_dim, max_seconds, max_shots, max_tracks) < 1:
        raise ValueError("dimensions, layer / head counts and the max_* table sizes must all be positive")
    if hidden_dim % num_heads:
        raise ValueError(f"hidden_dim {hidden_dim} is not divisible by num_heads {num_heads}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    layer = nn.TransformerEncoderLayer(
        d_model=hidden_dim,
        nhead=num_heads,
        dim_feedforward=ffn_dim,
        dropout=dropout,
        activation="gelu",
        batch_first=True,
        norm_first=False,  # post-norm, as RoBERTa
    )
    instance_embedding = None
    if input_dim is not None:
        instance_embedding = InstanceEmbedding(
            feature_proj=nn.Linear(input_dim, hidden_dim),
            box_proj=nn.Linear(5, hidden_dim),
            shot_embeddings=nn.ModuleList(nn.Embedding(n, hidden_dim) for n in (max_shots, max_shots, 2 * max_shots)),
            track_embedding=nn.Embedding(max_tracks, hidden_dim),
            mask_token=nn.Parameter(torch.zeros(input_dim)),
        )
    both = input_dim is not None and scene_dim is not None
    model = ObjectTransformer(
        instance_embedding=instance_embedding,
        scene_proj=None if scene_dim is None else nn.Linear(scene_dim, hidden_dim),
        type_embedding=nn.Embedding(2, hidden_dim) if both else None,
        sec_embeddings=nn.ModuleList(nn.Embedding(n, hidden_dim) for n in (max_seconds, max_seconds, 2 * max_seconds)),
        start_token=nn.Parameter(torch.zeros(hidden_dim)),
        norm=nn.LayerNorm(hidden_dim),
        dropout=nn.Dropout(dropout),
        encoder=nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False),
        pooler=nn.Linear(hidden_dim, hidden_dim),
    )
    model.apply(bert_init)  # scene_proj too: N(0, 0.02^2), bias 0, as every fresh Linear here
    with torch.no_grad():
        model.start_token.normal_(std=0.02)
        if instance_embedding is not None:
            instance_embedding.mask_token.normal_(std=0.02)
        if both:
            # zero: at the start of fine-tuning OT++'s instance tokens embed exactly as in the masked-instance
            # pretraining (scene tokens differ by their own projection); each row learns from the first step
            model.type_embedding.weight.zero_()
    return model


OT_PP_NEW = ("scene_proj.", "type_embedding.")  # OT++'s parameters that an instance-only OT does not have


def load_instance_weights(model: ObjectTransformer, weights: dict[str, Tensor]) -> None:
    """Load the weights of an instance-only Object Transformer (the masked-instance pretrained one) into `model`,
    which has the same instance pathway: all of them, or for OT++ all but its scene projection and token-type
    embedding, which keep their init. Anything else missing or left over is refused (ValueError)."""
    if model.instance_embedding is None:
        raise ValueError("instance weights need an Object Transformer with an instance pathway")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [key for key in missing if not key.startswith(OT_PP_NEW)]
    if missing or unexpected:
        raise ValueError(f"instance weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
