"""Stage-2 config: task heads trained from the cache (VidSitu verbs, roles, relations; LVU)."""

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class TaskConfig:
    # repeated runs (paper Tables 1, 3: 10 runs, mean and standard error)
    runs: int = 10  # seeds 0..runs-1
    # optimisation (VidSitu: Adam(0.9, 0.99), constant lr 1e-4, batch 16, 10 epochs, best epoch on valid)
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-4
    dropout: float = 0.1  # VidSitu TxE / TxD dropout
    # relation classifier: pairs of event vectors -> Linear(2E, head_hidden) -> ReLU -> Linear(., 4) (VidSitu 1024);
    # the verb head is VidSitu's SFBase head, Linear(E, E/2) -> ReLU -> Linear(., verbs)
    head_hidden: int = 1024
    # TxD (VidSitu transformer.yaml): 3 post-norm layers, 8 heads, width 1024, FFN 2048, sinusoidal positions
    decoder_layers: int = 3  # paper sec. 3.1: 3 layers
    decoder_dim: int = 1024
    decoder_heads: int = 8
    decoder_ffn: int = 2048
    bpe_vocab: int = 8000  # byte-level BPE trained on the training role text (VidSitu: GPT-2's 50k BPE)
    beam_size: int = 1  # VidSitu generates with beam 1; > 1 = beam search
    max_text_len: int = 60  # VidSitu pads role sequences to 60 tokens; also the generation limit
    # LVU (paper Table 5; LVU run.sh): 60 s spans, AdamW lr 2e-5, wd 0.01 (none on biases and LayerNorms), batch
    # 16, 10 epochs, linear warmup over 10% of the steps then linear decay; the best epoch on val, val and test
    # reported. The same for every row: every row is an Object Transformer with LVU's head
    lvu_runs: int = 5  # paper Table 5: average over 5 runs
    lvu_span_sec: int = 60  # LVU: 60-second spans
    lvu_epochs: int = 10
    lvu_lr: float = 2e-5  # every parameter of every row: the Object Transformer and the head (LVU: one lr)
    lvu_batch_size: int = 16
    # Object Transformer (LVU: RoBERTa-base config with 3 layers, hidden 768, 12 heads, FFN 3072, <= 254 instances)
    ot_dim: int = 768
    ot_layers: int = 3
    ot_heads: int = 12
    ot_ffn: int = 3072
    ot_max_instances: int = 254
    ot_mask_prob: float = 0.15  # masked-instance pretraining: each track masked with this probability
    ot_pretrain_epochs: int = 100
    ot_pretrain_lr: float = 1e-4  # LVU run_pretrain.sh: AdamW 1e-4, wd 0.01


TASK_PROFILES = {
    "paper": TaskConfig(),
    # small heads for the embedded benchmark on a CPU: a higher lr makes up for ~10 steps per epoch; no dropout
    # in the heads and TxD (torch's CPU dropout costs a quarter of a TxD step; the TxE keeps its own)
    "tiny": TaskConfig(
        runs=5,
        lr=5e-4,
        dropout=0.0,
        head_hidden=128,
        decoder_dim=128,
        decoder_heads=4,
        decoder_ffn=256,
        bpe_vocab=400,
        max_text_len=40,
        lvu_runs=3,
        lvu_span_sec=10,  # the benchmark's movies last 30-45 s: 10 s spans keep the span protocol meaningful
        lvu_epochs=15,
        lvu_lr=1e-3,
        # an Object Transformer from BERT's init needs ~100 steps at 1e-3 before its pooled output reads the
        # tokens: batch 4 gives the demo benchmark's 30 training movies 120 steps a run (batch 16: 30, and the
        # scene row on the demo oracle keeps its first epoch); eval-size oracle at batch 4: scene 74%, year 100%
        lvu_batch_size=4,
        ot_dim=64,
        ot_heads=4,
        ot_ffn=128,
        ot_max_instances=64,
        ot_pretrain_epochs=30,
        ot_pretrain_lr=1e-3,
    ),
}


def _is_lvu_field(name: str) -> bool:
    return name.startswith(("lvu_", "ot_"))


def vidsitu_setup(config: TaskConfig) -> dict:
    """The fields VidSitu runs depend on: all but the LVU ones and the number of runs (more seeds only add runs)."""
    return {k: v for k, v in asdict(config).items() if not _is_lvu_field(k) and k != "runs"}


def lvu_setup(config: TaskConfig) -> TaskConfig:
    """`config` with only what LVU runs depend on: the LVU fields and dropout; the rest at defaults, no run counts."""
    kept = {k: v for k, v in asdict(config).items() if _is_lvu_field(k) or k == "dropout"}
    return replace(TaskConfig(), **{**kept, "runs": 0, "lvu_runs": 0})
