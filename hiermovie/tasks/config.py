"""Stage-2 config: task heads trained from the cache (VidSitu verbs, roles, relations; LVU)."""

from dataclasses import dataclass


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
    # LVU (issue 7)
    lvu_runs: int = 5  # paper Table 5: average over 5 runs
    lvu_span_sec: int = 60  # LVU: 60-second spans


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
        lvu_runs=2,
    ),
}
