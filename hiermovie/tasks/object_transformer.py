"""LVU's Object Transformer (Wu & Krähenbühl, CVPR 2021) over cached per-instance features: the "instance
pathway" of Object Transformer++ (Xiao et al., CVPR 2022).

An example is a span of a long video holding m object instances, one cached feature per instance per second,
each with its box, second, shot id and track id. Following LVU (`chaoyuaw/lvu`, `src/models/modeling_roberta.py`
and `src/run.py`), each instance becomes one token:

    LayerNorm( Linear(D -> H)(feature) + Linear(5 -> H)([x1, y1, x2, y2, area])
               + pos_inc[sec - min sec] + pos_dec[max sec - sec] + pos_ctr[sec - centre sec + S]
               + shot_inc[shot - min shot] + shot_dec[max shot - shot] + shot_ctr[shot - centre shot + K]
               + track[track id] ),  then Dropout(0.1)

with min / max / centre taken over the example's valid instances (centre sec = (min + max) // 2, centre shot =
the shot of the instance closest to it), S = max_seconds and K = max_shots. At training time every box
corner moves by up to +-20% of the box width / height (uniform, torch's global RNG; the area is taken after
the jitter). `collate_instances` re-numbers shots and tracks per example; given a generator it permutes the
track numbering randomly (LVU's link-id permutation), so the track embedding carries only identity equality.

The sequence is a learned start token followed by the instances; unlike LVU we put no end token after them.
A post-norm (RoBERTa-style) GELU encoder of 3 layers reads it with padding hidden from attention; the pooled
output is tanh(Linear(h[:, 0])). Linear and embedding weights start as N(0, 0.02^2) (BERT's init).

::

    InstanceBatch: features (B, M, D), box (B, M, 4), sec / shot / track (B, M), valid (B, M)
      |  masked instances' features <- mask_token (D,)     (the 80% of masked-instance pretraining)
      |  feature_proj (D -> H) + box_proj (5 -> H) + 3 sec + 3 shot + track embeddings
      v
    instance tokens                                        (B, M, H)
      |  [start_token] + tokens, LayerNorm, Dropout
      v
    sequence                                               (B, 1 + M, H)   `embed` stops here
      |  encoder: L x [self-attention, FFN] (post-norm, GELU), key padding = ~valid
      v
    hidden                                                 (B, 1 + M, H)
      |-- pooler: tanh(Linear(hidden[:, 0]))               (B, H)          pooled
      '-- hidden[:, 1:], zero at padding                   (B, M, H)       instance outputs

Masked-instance pretraining (LVU's, with our target): `hiermovie.tasks.instance_pretraining`.
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


class ObjectTransformer(nn.Module):
    """LVU's Object Transformer over padded instances (see the module docstring).

    Args:
        feature_proj: `nn.Linear(D, H)`.
        box_proj: `nn.Linear(5, H)` over [x1, y1, x2, y2, area].
        sec_embeddings: 3 `nn.Embedding`s: increasing (max_seconds rows), decreasing (max_seconds), centre-relative
            (2 * max_seconds) second.
        shot_embeddings: the same 3 kinds over shots (max_shots, max_shots, 2 * max_shots rows).
        track_embedding: `nn.Embedding(max_tracks, H)`.
        start_token: `nn.Parameter` (H,), the start token before the LayerNorm.
        mask_token: `nn.Parameter` (D,), the learned feature of masked instances.
        norm: `nn.LayerNorm(H)`; dropout: `nn.Dropout` of the embeddings.
        encoder: `nn.TransformerEncoder` with `batch_first=True` layers of width H.
        pooler: `nn.Linear(H, H)`, followed by tanh.

    Shape:
        forward: InstanceBatch (B, M) -> pooled (B, H), instance outputs (B, M, H) (zero at padding).
    """

    def __init__(
        self,
        *,
        feature_proj: nn.Linear,
        box_proj: nn.Linear,
        sec_embeddings: nn.ModuleList,
        shot_embeddings: nn.ModuleList,
        track_embedding: nn.Embedding,
        start_token: nn.Parameter,
        mask_token: nn.Parameter,
        norm: nn.LayerNorm,
        dropout: nn.Dropout,
        encoder: nn.TransformerEncoder,
        pooler: nn.Linear,
        max_seconds: int,
        max_shots: int,
    ):
        super().__init__()
        hidden = feature_proj.out_features
        if len(sec_embeddings) != 3 or len(shot_embeddings) != 3:
            raise ValueError(f"need 3 sec and 3 shot embeddings, got {len(sec_embeddings)}, {len(shot_embeddings)}")
        sizes = [e.num_embeddings for e in sec_embeddings] + [e.num_embeddings for e in shot_embeddings]
        if sizes != [max_seconds, max_seconds, 2 * max_seconds, max_shots, max_shots, 2 * max_shots]:
            raise ValueError(f"embedding sizes {sizes} do not fit max_seconds {max_seconds}, max_shots {max_shots}")
        widths = {box_proj.out_features, track_embedding.embedding_dim, start_token.shape[-1], pooler.in_features}
        widths |= {e.embedding_dim for e in [*sec_embeddings, *shot_embeddings]}
        if widths != {hidden} or tuple(mask_token.shape) != (feature_proj.in_features,) or box_proj.in_features != 5:
            raise ValueError(
                f"submodules disagree on the widths: hidden {hidden} vs {sorted(widths)}, mask token "
                f"{tuple(mask_token.shape)} vs input {feature_proj.in_features}"
            )
        self.feature_proj, self.box_proj = feature_proj, box_proj
        self.sec_embeddings, self.shot_embeddings, self.track_embedding = (
            sec_embeddings,
            shot_embeddings,
            track_embedding,
        )
        self.start_token, self.mask_token = start_token, mask_token
        self.norm, self.dropout, self.encoder, self.pooler = norm, dropout, encoder, pooler
        self.input_dim, self.hidden_dim = feature_proj.in_features, hidden
        self.max_seconds, self.max_shots, self.max_tracks = max_seconds, max_shots, track_embedding.num_embeddings

    def _check_ids(self, batch: InstanceBatch) -> None:
        limits = ((batch.sec, self.max_seconds, "sec"), (batch.shot, self.max_shots, "shot"))
        for values, limit, name in (*limits, (batch.track, self.max_tracks, "track")):
            bad = batch.valid & ((values < 0) | (values >= limit))  # (B, M)
            if bad.any():
                raise ValueError(f"{name} ids must lie in [0, {limit}), got {values[bad].tolist()[:5]}")

    def _position_ids(self, batch: InstanceBatch) -> tuple[list[Tensor], list[Tensor]]:
        """LVU's increasing, decreasing and centre-relative ids of seconds and of shots, 0 at padding."""
        valid = batch.valid  # (B, M)
        if valid.shape[1] == 0:  # no instances at all: nothing to reduce over
            return [batch.sec] * 3, [batch.shot] * 3  # 3 x (B, 0)
        sec, shot = batch.sec.masked_fill(~valid, 0), batch.shot.masked_fill(~valid, 0)  # (B, M)
        first, last = _masked_extreme(sec, valid, False), _masked_extreme(sec, valid, True)  # (B, 1)
        centre = (first + last) // 2  # (B, 1)
        distance = (sec - centre).abs().masked_fill(~valid, torch.iinfo(sec.dtype).max)  # (B, M)
        centre_shot = shot.gather(1, distance.argmin(dim=1, keepdim=True))  # (B, 1), the shot closest to the centre
        low, high = _masked_extreme(shot, valid, False), _masked_extreme(shot, valid, True)  # (B, 1)
        sec_ids = [sec - first, last - sec, sec - centre + self.max_seconds]  # 3 x (B, M)
        shot_ids = [shot - low, high - shot, shot - centre_shot + self.max_shots]  # 3 x (B, M)
        return [i.masked_fill(~valid, 0) for i in sec_ids], [i.masked_fill(~valid, 0) for i in shot_ids]

    def embed(self, batch: InstanceBatch, masked: Tensor | None = None) -> Tensor:
        """The input sequence [start] + instances after LayerNorm and dropout: (B, 1 + M, H).

        `masked` (B, M) bool: True = the instance's feature is replaced by the learned mask vector. Boxes are
        jittered in training mode only.
        """
        self._check_ids(batch)
        features = batch.features  # (B, M, D)
        if features.shape[-1] != self.input_dim:
            raise ValueError(f"features must be (B, M, {self.input_dim}), got {tuple(features.shape)}")
        if masked is not None:
            if masked.shape != batch.valid.shape or masked.dtype != torch.bool:
                raise ValueError(f"masked must be bool {tuple(batch.valid.shape)}, got {masked.dtype} {masked.shape}")
            features = torch.where(masked.unsqueeze(-1), self.mask_token.to(features.dtype), features)  # (B, M, D)
        box = jitter_boxes(batch.box) if self.training else batch.box  # (B, M, 4)
        area = (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # (B, M)
        spatial = torch.cat([box, area.unsqueeze(-1)], dim=-1)  # (B, M, 5)
        tokens = self.feature_proj(features) + self.box_proj(spatial.to(features.dtype))  # (B, M, H)
        sec_ids, shot_ids = self._position_ids(batch)
        for embedding, ids in zip([*self.sec_embeddings, *self.shot_embeddings], sec_ids + shot_ids, strict=True):
            tokens = tokens + embedding(ids)  # (B, M, H)
        tokens = tokens + self.track_embedding(batch.track.masked_fill(~batch.valid, 0))  # (B, M, H)
        start = self.start_token.to(tokens.dtype).expand(len(tokens), 1, -1)  # (B, 1, H)
        return self.dropout(self.norm(torch.cat([start, tokens], dim=1)))  # (B, 1 + M, H)

    def forward(self, batch: InstanceBatch, masked: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(pooled (B, H), instance outputs (B, M, H)); padding is hidden from attention, the start token never."""
        sequence = self.embed(batch, masked)  # (B, 1 + M, H)
        start = batch.valid.new_zeros(len(batch.valid), 1)  # (B, 1) False: the start token always attends
        padding = torch.cat([start, ~batch.valid], dim=1)  # (B, 1 + M), True = hidden
        hidden = self.encoder(sequence, src_key_padding_mask=padding)  # (B, 1 + M, H)
        pooled = torch.tanh(self.pooler(hidden[:, 0]))  # (B, H)
        outputs = hidden[:, 1:] * batch.valid.unsqueeze(-1).to(hidden.dtype)  # (B, M, H), zero at padding
        return pooled, outputs

    def extra_repr(self) -> str:
        return (
            f"input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, max_seconds={self.max_seconds}, "
            f"max_shots={self.max_shots}, max_tracks={self.max_tracks}"
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
    input_dim: int,
    hidden_dim: int = 768,
    num_layers: int = 3,
    num_heads: int = 12,
    ffn_dim: int = 3072,
    dropout: float = 0.1,
    max_seconds: int = 60,
    max_shots: int = 64,
    max_tracks: int = 256,
) -> ObjectTransformer:
    """LVU's Object Transformer: RoBERTa-base width (768, 12 heads, FFN 3072), 3 post-norm GELU layers."""
    if min(input_dim, hidden_dim, num_layers, num_heads, ffn_dim, max_seconds, max_shots, max_tracks) < 1:
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
    model = ObjectTransformer(
        feature_proj=nn.Linear(input_dim, hidden_dim),
        box_proj=nn.Linear(5, hidden_dim),
        sec_embeddings=nn.ModuleList(nn.Embedding(n, hidden_dim) for n in (max_seconds, max_seconds, 2 * max_seconds)),
        shot_embeddings=nn.ModuleList(nn.Embedding(n, hidden_dim) for n in (max_shots, max_shots, 2 * max_shots)),
        track_embedding=nn.Embedding(max_tracks, hidden_dim),
        start_token=nn.Parameter(torch.zeros(hidden_dim)),
        mask_token=nn.Parameter(torch.zeros(input_dim)),
        norm=nn.LayerNorm(hidden_dim),
        dropout=nn.Dropout(dropout),
        encoder=nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False),
        pooler=nn.Linear(hidden_dim, hidden_dim),
        max_seconds=max_seconds,
        max_shots=max_shots,
    )
    model.apply(bert_init)
    with torch.no_grad():
        model.start_token.normal_(std=0.02)
        model.mask_token.normal_(std=0.02)
    return model
