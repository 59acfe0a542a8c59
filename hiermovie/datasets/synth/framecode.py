"""A binary frame-index code drawn into the bottom strip of every synthetic frame.

Decoding tests read it back to check that the decoder returned exactly the frames asked for.
Cells are black (0) or white (1), most significant bit first, wide enough to survive H.264.
"""

import numpy as np

CODE_BITS = 14  # up to 16,384 frames: a 9-minute movie at 30 fps


def code_strip_height(frame_height: int) -> int:
    """Height in pixels of the code strip at the bottom of a frame."""
    return max(4, frame_height // 14)


def draw_frame_code(frame: np.ndarray, index: int) -> None:
    """Write `index` into the bottom strip of `frame` (H, W, 3 uint8), in place."""
    height, width = frame.shape[:2]
    if not 0 <= index < 2**CODE_BITS:
        raise ValueError(f"frame index {index} does not fit in {CODE_BITS} bits")
    cell = width // CODE_BITS
    strip = frame[height - code_strip_height(height) :]  # (h, W, 3)
    strip[:] = 0
    for bit in range(CODE_BITS):
        if (index >> (CODE_BITS - 1 - bit)) & 1:
            strip[:, bit * cell : (bit + 1) * cell] = 255


def read_frame_code(frame: np.ndarray) -> int:
    """Read back the index drawn by `draw_frame_code` from a decoded frame (H, W, 3)."""
    height, width = frame.shape[:2]
    cell = width // CODE_BITS
    strip_h = code_strip_height(height)
    rows = frame[height - strip_h + strip_h // 4 : height - strip_h // 4].astype(np.float32)  # (h', W, 3)
    index = 0
    for bit in range(CODE_BITS):
        left = bit * cell + cell // 4
        centre = rows[:, left : left + max(1, cell // 2)]  # middle of the cell, away from edges
        index = (index << 1) | int(centre.mean() > 127.5)
    return index
