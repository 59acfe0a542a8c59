"""Per-step schedules, precomputed as arrays (DINO's `cosine_scheduler`): the loop just indexes them."""

import numpy as np


def cosine_schedule(base: float, total_steps: int, warmup_steps: int = 0, final: float = 0.0) -> np.ndarray:
    """Linear warmup from 0 to `base`, then cosine decay to `final`. Shape: (total_steps,)."""
    if total_steps <= 0 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"need 0 <= warmup_steps <= total_steps > 0, got {warmup_steps}, {total_steps}")
    warmup = np.linspace(0.0, base, warmup_steps, endpoint=False)
    progress = np.arange(total_steps - warmup_steps) / max(1, total_steps - warmup_steps)
    decay = final + 0.5 * (base - final) * (1 + np.cos(np.pi * progress))
    return np.concatenate([warmup, decay])


def linear_schedule(base: float, total_steps: int, warmup_steps: int = 0) -> np.ndarray:
    """Linear warmup from 0 to `base`, then linear decay to 0 (LVU's `get_linear_schedule_with_warmup`).

    Shape: (total_steps,).
    """
    if total_steps <= 0 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"need 0 <= warmup_steps <= total_steps > 0, got {warmup_steps}, {total_steps}")
    warmup = base * np.arange(warmup_steps) / max(1, warmup_steps)
    decay = base * (total_steps - np.arange(warmup_steps, total_steps)) / max(1, total_steps - warmup_steps)
    return np.concatenate([warmup, decay])
