"""A window's float32 values, read from a series' model inputs: the one definition that
NumPy (``windows.Windows``, materialising them when asked) and JAX (a global model's
program, ``training.StreamedData``, reading them a batch at a time) share, so both give
the same bits. Pure array arithmetic, any array namespace with NumPy's indexing."""

from __future__ import annotations

from typing import Any

import numpy as np


def window_rows(seq: Any, first: Any, count: int, loc: Any = None, inv: Any = None) -> Any:
    """Rows ``seq[first[i] .. first[i] + count - 1]`` (float32): the windows' values as the
    models see them, read from ``seq``, a series' model inputs.

    For the per-window scalers, ``seq`` ``(P, 2)`` holds each value less the series'
    anchor as a float32 pair (high part, rest), ``loc`` ``(n, 2)`` each window's location
    likewise and ``inv`` ``(n,)`` the float32 reciprocal of its scale: a row is
    ``((hi - loc_hi) + (lo - loc_lo)) * inv``, within two float32 roundings of the float64
    ``(y - loc) / scale`` however large the series' level against the window's spread (a
    product, not a quotient: XLA turns a division by a broadcast into that product, so
    NumPy's quotient would differ from the program's by a rounding). ``loc`` and ``inv``
    are None for the other scalers, whose ``seq`` ``(P,)`` is scaled already."""
    at = first[:, None] + np.arange(count)
    if loc is None:
        return seq[at]
    return ((seq[:, 0][at] - loc[:, 0][:, None]) + (seq[:, 1][at] - loc[:, 1][:, None])
            ) * inv[:, None]


def float32_pairs(x: Any) -> np.ndarray:
    """``x`` (float64) as float32 pairs ``(..., 2)``: its nearest float32 and the rest."""
    x = np.asarray(x, np.float64)
    hi = x.astype(np.float32)
    return np.stack([hi, (x - hi).astype(np.float32)], axis=-1)
