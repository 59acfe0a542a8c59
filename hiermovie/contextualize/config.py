"""Stage-2 config: the transformer contextualizer (TxE) and its event-mask-prediction pretraining."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TxEConfig:
    # architecture (paper sec. 3.1)
    input_dim: int = 2048  # width of the cached event features (must match the cache)
    hidden_dim: int = 1024  # paper: hidden dimension 1024
    num_layers: int = 3  # paper: 3 layers
    num_heads: int = 16  # paper: 16 heads
    ffn_dim: int = 2048  # feed-forward width (VidSitu's TxE uses 2048)
    dropout: float = 0.1
    seq_len: int = 5  # N tokens per window (paper sec. 4: N = 5)
    stride_sec: float = 2.0  # token stride: a whole multiple of the cache's extraction stride (Table 2: 1, 2, 3 s)
    # event mask prediction (paper sec. 3.3, Eq. 1)
    mask_alpha: float = 0.6  # mask sizes {1, ..., floor(alpha * N)} unless mask_sizes is given
    mask_sizes: tuple[int, ...] = ()  # explicit mask-size set, e.g. (1, 2) (Table 2, top); () = from alpha
    mask_sampling: str = "uniform"  # uniform | max_discrepancy (Table 2, bottom)
    loss: str = "contrastive"  # contrastive (Eq. 1) | l2 (Table 2, bottom)
    temperature: float = 0.1  # tau of Eq. 1
    queue_size: int = 65536  # K distractors in the FIFO queue
    target: str = "ema"  # stop-gradient targets: "ema" (EMA copy of the input projection) | "live"
    ema_momentum: float = 0.999  # of the EMA target projection
    exclude_same_video: bool = True  # no distractors from the query's own video (near-duplicates)
    hard_negatives: int = 0  # > 0: only the top-k most similar queue entries (FAISS index of the current queue)
    batch_size: int = 256  # windows per step, over all ranks
    epochs: int = 100  # paper: 100 epochs on VidSitu, 1000 on LVU
    lr: float = 1e-4


TXE_PROFILES = {
    "paper": TxEConfig(),
    "tiny": TxEConfig(
        input_dim=512, hidden_dim=128, num_heads=4, ffn_dim=256, queue_size=4096, batch_size=64, epochs=20, lr=5e-4
    ),
}
