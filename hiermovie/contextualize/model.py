"""The transformer contextualizer TxE (paper sec. 3.1): a post-norm transformer encoder over N event tokens.

`create_txe` holds the hyperparameters; `TxE` only takes finished submodules (PyTorchVideo style). The
learned position embedding replaces VidSitu's sinusoidal one, which the paper found to work worse.

::

    event features                                        (B, N, D)   from the stage-1 cache
      |
      v
    input_proj: Linear D -> H                             (B, N, H)   `project` stops here (targets)
      |
      v
    masked positions <- mask_token  (mask (B, N) bool)    (B, N, H)
      |
      v
    + position embedding (learned, N x H)                 (B, N, H)
      |
      v
    encoder: L x [self-attention, FFN] (post-norm)        (B, N, H)   `encode` stops here (task heads)
      |
      v
    L2 normalise                                          (B, N, H)   forward
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hiermovie.checkpoint import load_checkpoint
from hiermovie.contextualize.config import TxEConfig
from hiermovie.errors import HiermovieError

CHECKPOINT_KIND = "txe"


class TxE(nn.Module):
    """Event-token contextualizer with a learned [MASK] token and learned positions.

    Args:
        input_proj: `nn.Linear(input_dim, hidden_dim)`.
        position: `nn.Embedding(seq_len, hidden_dim)`, learned.
        mask_token: `nn.Parameter` of shape (hidden_dim,), the [MASK] token.
        encoder: `nn.TransformerEncoder` with `batch_first=True` layers of width hidden_dim.

    Shape:
        features: (B, N, input_dim) with N <= seq_len; mask: (B, N) bool, True = replaced by [MASK].
        project, encode: (B, N, hidden_dim); forward: (B, N, hidden_dim), every row of unit L2 norm.
    """

    def __init__(self, *, input_proj: nn.Linear, position: nn.Embedding, mask_token: nn.Parameter, encoder: nn.Module):
        super().__init__()
        hidden = input_proj.out_features
        if position.embedding_dim != hidden or tuple(mask_token.shape) != (hidden,):
            raise ValueError(
                f"input_proj gives width {hidden}, but the position embedding has {position.embedding_dim} "
                f"and the mask token has shape {tuple(mask_token.shape)}"
            )
        self.input_proj, self.position, self.mask_token, self.encoder = input_proj, position, mask_token, encoder
        self.input_dim, self.hidden_dim, self.seq_len = input_proj.in_features, hidden, position.num_embeddings

    def project(self, features: Tensor) -> Tensor:
        """The input projection alone, unnormalised: what the targets of Eq. 1 are made from."""
        if features.dim() != 3 or features.shape[-1] != self.input_dim:
            raise ValueError(f"features must be (B, N, {self.input_dim}), got {tuple(features.shape)}")
        return self.input_proj(features)  # (B, N, H)

    def forward(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        """Contextualised, L2-normalised outputs (paper Eq. 1); masked tokens never see their own input."""
        return F.normalize(self.encode(features, mask), dim=-1)  # (B, N, H), unit rows

    def encode(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        """Contextualised outputs before the L2 normalisation: what task heads read (`hiermovie.tasks`)."""
        tokens = self.project(features)  # (B, N, H)
        count = tokens.shape[1]
        if count > self.seq_len:
            raise ValueError(f"{count} tokens per window, but the position embedding has only {self.seq_len}")
        if mask is not None:
            if mask.shape != tokens.shape[:2] or mask.dtype != torch.bool:
                raise ValueError(f"mask must be bool {tuple(tokens.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}")
            mask_token = self.mask_token.to(tokens.dtype)  # (H,)
            tokens = torch.where(mask.unsqueeze(-1), mask_token, tokens)  # (B, N, H)
        positions = self.position.weight[:count].to(tokens.dtype)  # (N, H)
        return self.encoder(tokens + positions)  # (B, N, H)

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, seq_len={self.seq_len}"


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block with `model` in eval mode (no dropout), then restore the mode it had."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def create_txe(config: TxEConfig) -> TxE:
    """Build TxE from `config` (input_dim, hidden_dim, num_layers, num_heads, ffn_dim, dropout, seq_len).

    Position embedding and [MASK] token start as N(0, 0.02^2), as in BERT, so they do not swamp the
    projected features at initialisation.
    """
    if config.seq_len < 2:
        raise ValueError(f"seq_len must be at least 2 (a masked token needs context), got {config.seq_len}")
    if min(config.input_dim, config.hidden_dim, config.num_layers, config.num_heads, config.ffn_dim) < 1:
        raise ValueError(f"input_dim, hidden_dim, num_layers, num_heads and ffn_dim must be positive: {config}")
    if config.hidden_dim % config.num_heads != 0:
        raise ValueError(f"hidden_dim {config.hidden_dim} is not divisible by num_heads {config.num_heads}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
    layer = nn.TransformerEncoderLayer(
        d_model=config.hidden_dim,
        nhead=config.num_heads,
        dim_feedforward=config.ffn_dim,
        dropout=config.dropout,
        activation="relu",
        batch_first=True,
        norm_first=False,
    )
    position = nn.Embedding(config.seq_len, config.hidden_dim)
    nn.init.normal_(position.weight, std=0.02)
    return TxE(
        input_proj=nn.Linear(config.input_dim, config.hidden_dim),
        position=position,
        mask_token=nn.Parameter(0.02 * torch.randn(config.hidden_dim)),
        encoder=nn.TransformerEncoder(layer, num_layers=config.num_layers, enable_nested_tensor=False),
    )


# fields older versions stored that no longer mean anything; dropped silently so their checkpoints load.
# faiss_refresh: steps between FAISS index rebuilds; the index now follows the queue (contextualize/queue.py)
RETIRED = frozenset({"faiss_refresh"})


def _config_from_dict(path: Path, stored: dict) -> TxEConfig:
    """TxEConfig from a checkpoint's JSON-ready dict: lists back to tuples, retired fields dropped, unknown refused."""
    stored = {k: v for k, v in stored.items() if k not in RETIRED}
    known = {field.name for field in fields(TxEConfig)}
    unknown = sorted(set(stored) - known)
    if unknown:
        raise HiermovieError(f"{path}: TxE config has fields this version does not know: {', '.join(unknown)}")
    return TxEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()})


def load_txe(path: Path) -> tuple[TxEConfig, TxE]:
    """(config, TxE in eval mode) from a "txe" checkpoint, rebuilt from the config stored in it."""
    payload = load_checkpoint(path, CHECKPOINT_KIND)
    config = _config_from_dict(Path(path), payload["config"])
    model = create_txe(config)
    model.load_state_dict(payload["txe"])
    return config, model.eval()


def load_target_projection(path: Path) -> nn.Linear:
    """The projection a "txe" checkpoint's TxE was trained to hit (Eq. 1's targets): the EMA copy of the input
    projection (`target=ema`), or the input projection itself (`target=live`). Masked-event retrieval ranks
    against it, as pretraining's own validation does; the live projection is not what the outputs point at."""
    payload = load_checkpoint(path, CHECKPOINT_KIND)
    config = _config_from_dict(Path(path), payload["config"])
    prefix = "target_projection."  # inside the training module's state: checkpoints written before it was saved
    state = payload.get("target_projection") or {
        name[len(prefix) :]: value for name, value in payload["model"].items() if name.startswith(prefix)
    }
    if not state:
        if config.target == "ema":
            raise HiermovieError(f"{path}: an EMA-target TxE checkpoint without its target projection")
        state = {name[len("input_proj.") :]: v for name, v in payload["txe"].items() if name.startswith("input_proj.")}
    projection = nn.Linear(config.input_dim, config.hidden_dim)
    projection.load_state_dict(state)
    return projection.eval()
