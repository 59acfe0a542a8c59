"""Task models on cached event tokens (paper Fig. 1): an event encoder (the backbone features as they
are, or TxE), then a verb head, a relation classifier over event pairs, or TxD for semantic roles.

Builders (`create_*`) hold the hyperparameters; modules take finished submodules.

::

    cached event features                     (B, 5, D)
      |  EventEncoder: identity | TxE.encode  (scratch or mask-prediction pretrained)
    event vectors                              (B, 5, E)
      |-- VerbClassifier:     MLP per event                        -> (B, 5, verbs)
      |-- RelationClassifier: MLP on [e_a, e_b] of the 4 pairs      -> (B, 4, 4)
      '-- RoleCaptioner:      each event's vector is the memory    -> TxD -> (B * 5, T, vocab)
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hiermovie.contextualize.model import TxE
from hiermovie.datasets.vidsitu import EVENTS, RELATIONS
from hiermovie.tasks.config import TaskConfig
from hiermovie.tasks.vidsitu_data import RELATION_PAIRS


class EventEncoder(nn.Module):
    """Cached features (B, 5, D) -> event vectors (B, 5, E): unchanged (E = D) or TxE's outputs (E = TxE width)."""

    def __init__(self, input_dim: int, txe: TxE | None = None):
        super().__init__()
        if txe is not None and txe.input_dim != input_dim:
            raise ValueError(f"TxE reads {txe.input_dim}-d features, but the cache holds {input_dim}-d ones")
        self.txe = txe
        self.out_dim = input_dim if txe is None else txe.hidden_dim

    def forward(self, features: Tensor) -> Tensor:
        if self.txe is None:
            return features  # (B, 5, D)
        return self.txe.encode(features)  # (B, 5, H), before TxE's L2 normalisation


def mlp(in_dim: int, hidden: int, out_dim: int, dropout: float = 0.0) -> nn.Sequential:
    """Linear -> ReLU -> (dropout) -> Linear, VidSitu's head shape."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))


class VerbClassifier(nn.Module):
    """Verb logits per event: VidSitu's SFBase head on each event vector."""

    def __init__(self, *, encoder: EventEncoder, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, features: Tensor) -> Tensor:
        return self.head(self.encoder(features))  # (B, 5, verbs)


class RelationClassifier(nn.Module):
    """Relation logits of the pairs (Ev1, Ev3), (Ev2, Ev3), (Ev3, Ev4), (Ev3, Ev5) from concatenated event vectors."""

    def __init__(self, *, encoder: EventEncoder, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.register_buffer("pairs", torch.tensor(RELATION_PAIRS), persistent=False)  # (4, 2)

    def forward(self, features: Tensor) -> Tensor:
        events = self.encoder(features)  # (B, 5, E)
        pairs = events[:, self.pairs].flatten(2)  # (B, 4, 2E)
        return self.head(pairs)  # (B, 4, relations)


def sinusoidal_positions(length: int, dim: int) -> Tensor:
    """fairseq's sinusoidal position table (sin half, cos half), as VidSitu's TxD uses. Shape (length, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half) / max(half - 1, 1))  # (dim/2,)
    angles = torch.arange(length)[:, None] * frequencies[None]  # (length, dim/2)
    table = torch.cat([angles.sin(), angles.cos()], dim=1)  # (length, 2 * (dim/2))
    return nn.functional.pad(table, (0, dim - 2 * half))  # (length, dim)


class TxD(nn.Module):
    """Transformer decoder over role text: causal self-attention on the text, cross-attention to visual memory.

    Shape: tokens (B, T) long; memory (B, M, H); returns logits (B, T, vocab).
    """

    def __init__(
        self, *, embedding: nn.Embedding, positions: Tensor, decoder: nn.TransformerDecoder, output: nn.Linear
    ):
        super().__init__()
        self.embedding, self.decoder, self.output = embedding, decoder, output
        self.register_buffer("positions", positions, persistent=False)  # (max_len, H)
        self.scale = math.sqrt(embedding.embedding_dim)  # fairseq embed_scale

    def forward(self, tokens: Tensor, memory: Tensor) -> Tensor:
        length = tokens.shape[1]
        if length > len(self.positions):
            raise ValueError(f"{length} tokens, but TxD has positions for {len(self.positions)}")
        text = self.embedding(tokens) * self.scale + self.positions[:length]  # (B, T, H)
        causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).triu(1)  # (T, T), True = hidden
        padding = tokens == self.embedding.padding_idx  # (B, T)
        hidden = self.decoder(text, memory, tgt_mask=causal, tgt_is_causal=True, tgt_key_padding_mask=padding)
        return self.output(hidden)  # (B, T, vocab)


def _split_heads(x: Tensor, heads: int) -> Tensor:
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)  # (B, T, E) -> (B, heads, T, E / heads)


def _attend(attention: nn.MultiheadAttention, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None):
    """`attention`'s output for projected (B, n, E) queries over projected (B, T, E) keys and values."""
    heads = attention.num_heads
    q, k, v = (_split_heads(x, heads) for x in (query, key, value))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, n, E / heads)
    return attention.out_proj(out.transpose(1, 2).flatten(2))  # (B, n, E)


def _projections(attention: nn.MultiheadAttention) -> list[tuple[Tensor, Tensor]]:
    """(weight, bias) of the query, key and value projections of a MultiheadAttention."""
    return list(zip(attention.in_proj_weight.chunk(3), attention.in_proj_bias.chunk(3), strict=True))


class TxDCache:
    """Greedy decoding's `step` for TxD that keeps every layer's keys and values (a KV cache): a call runs
    only the positions it has not seen, not the whole prefix again. Exact, because TxD's layers are causal,
    so a position's output never depends on later tokens; the visual memory's keys and values are projected
    once (with a single memory token, cross-attention is that token's projected value whatever the query:
    computed once); pad tokens are hidden from attention as in `TxD.forward`. Rows are the batch rows of
    `memory`; every call extends all its rows by the same positions, as `greedy_decode` does, and may drop
    rows (finished sequences), never add them back (beam search reorders hypotheses and uses the plain
    forward). Eval mode only."""

    def __init__(self, txd: TxD, memory: Tensor, max_len: int):
        if txd.training:
            raise ValueError("TxDCache decodes in eval mode (it applies no dropout)")
        self.txd, self.filled = txd, 0
        batch, width = memory.shape[0], txd.embedding.embedding_dim
        layers = txd.decoder.layers
        self.rows = torch.arange(batch, device=memory.device)  # (B_held,) the rows the cache holds, ascending
        self.keys = [memory.new_zeros(batch, max_len, width) for _ in layers]  # (B_held, max_len, H) per layer
        self.values = [memory.new_zeros(batch, max_len, width) for _ in layers]
        self.padding = torch.zeros(batch, max_len, dtype=torch.bool, device=memory.device)  # (B_held, max_len)
        self.memory = []  # per layer: the memory's (keys, values), (B_held, M, H) each; for M = 1 its attended value
        for layer in layers:
            attention = layer.multihead_attn
            (_, (wk, bk), (wv, bv)) = _projections(attention)
            values = F.linear(memory, wv, bv)  # (B, M, H)
            if memory.shape[1] == 1:  # softmax over one key is 1: the output is that key's value, projected
                self.memory.append(attention.out_proj(values))  # (B, 1, H)
            else:
                self.memory.append((F.linear(memory, wk, bk), values))

    def _hold(self, rows: Tensor) -> Tensor:
        """Positions of `rows` (a subset of the held rows, ascending) among the held rows. Rows no longer asked
        for are freed once they are a quarter of the held ones; until then they run along on pad tokens."""
        index = torch.searchsorted(self.rows, rows)  # (B'',)
        if (index >= len(self.rows)).any() or not torch.equal(self.rows[index.clamp(max=len(self.rows) - 1)], rows):
            raise ValueError("TxDCache: rows must be a subset of the rows of the previous call, in ascending order")
        if len(rows) > 0.75 * len(self.rows):
            return index
        self.rows, self.padding = rows, self.padding[index]
        self.keys, self.values = [k[index] for k in self.keys], [v[index] for v in self.values]
        self.memory = [m[index] if isinstance(m, Tensor) else (m[0][index], m[1][index]) for m in self.memory]
        return torch.arange(len(rows), device=rows.device)

    def __call__(self, tokens: Tensor, rows: Tensor) -> Tensor:
        """Logits (B', vocab) of the token after `tokens` (B', T); positions before `self.filled` are cached."""
        index = self._hold(rows)  # (B',) where the asked rows are among the held ones
        start, end = self.filled, tokens.shape[1]
        txd = self.txd
        new = tokens.new_full((len(self.rows), end - start), txd.embedding.padding_idx)  # (B_held, n)
        new[index] = tokens[:, start:]  # rows not asked for (finished) get pad, their outputs unused
        x = txd.embedding(new) * txd.scale + txd.positions[start:end]  # (B_held, n, H)
        self.padding[:, start:end] = new == txd.embedding.padding_idx  # hidden as in TxD.forward
        causal = (
            torch.arange(end, device=x.device)[None] <= torch.arange(start, end, device=x.device)[:, None]
        )  # (n, T)
        visible = (causal & ~self.padding[:, None, :end]).unsqueeze(1)  # (B_held, 1, n, T)
        for layer, keys, values, memory in zip(txd.decoder.layers, self.keys, self.values, self.memory, strict=True):
            (wq, bq), (wk, bk), (wv, bv) = _projections(layer.self_attn)
            keys[:, start:end], values[:, start:end] = F.linear(x, wk, bk), F.linear(x, wv, bv)
            attended = _attend(layer.self_attn, F.linear(x, wq, bq), keys[:, :end], values[:, :end], visible)
            x = layer.norm1(x + attended)  # post-norm, as TransformerDecoderLayer with norm_first=False
            if isinstance(memory, Tensor):  # one memory token: its attended value, the same for every query
                cross = memory  # (B_held, 1, H), broadcast over the n positions
            else:
                (wq, bq), _, _ = _projections(layer.multihead_attn)
                cross = _attend(layer.multihead_attn, F.linear(x, wq, bq), *memory, None)  # (B_held, n, H)
            x = layer.norm2(x + cross)
            x = layer.norm3(x + layer.linear2(layer.activation(layer.linear1(x))))
        self.filled = end
        return txd.output(x[index, -1])  # (B', vocab)


class RoleCaptioner(nn.Module):
    """Semantic roles per event: TxD cross-attends to that event's vector only (VidSitu `SFPreFeats_TxEncDec`:
    memory length 1); `encoder=None` is the visual-blind baseline, whose memory is a constant zero vector."""

    def __init__(self, *, encoder: EventEncoder | None, memory_proj: nn.Module, txd: TxD):
        super().__init__()
        self.encoder, self.memory_proj, self.txd = encoder, memory_proj, txd

    def memory(self, features: Tensor) -> Tensor:
        """One memory token per event: (B, 5, D) -> (B * 5, 1, H)."""
        if self.encoder is None:
            width = self.txd.embedding.embedding_dim
            return features.new_zeros(features.shape[0] * len(EVENTS), 1, width)  # (B * 5, 1, H)
        events = self.encoder(features)  # (B, 5, E)
        return self.memory_proj(events).flatten(0, 1).unsqueeze(1)  # (B * 5, 1, H)

    def forward(self, features: Tensor, tokens: Tensor) -> Tensor:
        """Teacher-forced logits; tokens (B * 5, T) are the decoder inputs of every event of every clip."""
        return self.txd(tokens, self.memory(features))  # (B * 5, T, vocab)


def create_verb_classifier(encoder: EventEncoder, num_verbs: int, config: TaskConfig) -> VerbClassifier:
    """VidSitu's SFBase head: Linear(E, E/2) -> ReLU -> Linear(E/2, verbs)."""
    width = encoder.out_dim
    return VerbClassifier(encoder=encoder, head=mlp(width, max(width // 2, 1), num_verbs, config.dropout))


def create_relation_classifier(encoder: EventEncoder, config: TaskConfig) -> RelationClassifier:
    """Pairs of event vectors -> Linear(2E, head_hidden) -> ReLU -> Linear(head_hidden, 4) (VidSitu's evrel MLP)."""
    head = mlp(2 * encoder.out_dim, config.head_hidden, len(RELATIONS), config.dropout)
    return RelationClassifier(encoder=encoder, head=head)


def create_txd(config: TaskConfig, vocab_size: int, pad_id: int) -> TxD:
    """TxD from `config` (decoder_layers, decoder_dim, decoder_heads, decoder_ffn, dropout, max_text_len)."""
    width = config.decoder_dim
    if width % config.decoder_heads:
        raise ValueError(f"decoder_dim {width} is not divisible by decoder_heads {config.decoder_heads}")
    layer = nn.TransformerDecoderLayer(
        d_model=width,
        nhead=config.decoder_heads,
        dim_feedforward=config.decoder_ffn,
        dropout=config.dropout,
        activation="relu",
        batch_first=True,
        norm_first=False,  # post-norm, as fairseq's (and VidSitu's) TxD
    )
    embedding = nn.Embedding(vocab_size, width, padding_idx=pad_id)
    nn.init.normal_(embedding.weight, std=width**-0.5)  # fairseq Embedding init
    nn.init.zeros_(embedding.weight[pad_id])
    return TxD(
        embedding=embedding,
        positions=sinusoidal_positions(config.max_text_len + 2, width),  # + bos and eos
        decoder=nn.TransformerDecoder(layer, num_layers=config.decoder_layers),
        output=nn.Linear(width, vocab_size, bias=False),
    )


def create_role_captioner(
    encoder: EventEncoder | None, vocab_size: int, pad_id: int, config: TaskConfig
) -> RoleCaptioner:
    """TxD over each event's vector, projected to the decoder width (VidSitu's vid_feat_encoder MLP)."""
    txd = create_txd(config, vocab_size, pad_id)
    memory_proj = nn.Identity() if encoder is None else mlp(encoder.out_dim, config.decoder_dim, config.decoder_dim)
    return RoleCaptioner(encoder=encoder, memory_proj=memory_proj, txd=txd)
