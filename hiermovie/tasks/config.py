"""Stage-2 config: task heads trained from the cache (VidSitu verbs, roles, relations; LVU)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskConfig:
    runs: int = 10  # repeated runs with different seeds; mean and standard error (paper Tables 1-4)
    epochs: int = 10  # VidSitu: 10 epochs, best epoch on valid
    batch_size: int = 16  # VidSitu: batch 16
    lr: float = 1e-4  # VidSitu: Adam(0.9, 0.99), constant 1e-4
    decoder_layers: int = 3  # TxD: 3 layers (paper sec. 3.1)
    beam_size: int = 1  # VidSitu generates with beam 1
    max_text_len: int = 60  # VidSitu pads role sequences to 60 tokens
    lvu_runs: int = 5  # paper Table 5: average over 5 runs
    lvu_span_sec: int = 60  # LVU: 60-second spans


TASK_PROFILES = {
    "paper": TaskConfig(),
    "tiny": TaskConfig(runs=3, epochs=4, lvu_runs=2),
}
