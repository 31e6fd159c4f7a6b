r"""Temporal convolution network (Bai, Kolter & Koltun 2018, "An Empirical Evaluation of
Generic Convolutional and Recurrent Networks for Sequence Modeling"): ``layers`` residual
blocks of ``units`` channels, then ``Dense(1)`` on the last timestep.

Block ``k`` (1-based), dilation :math:`d = 2^{k-1}`, kernel size 2, input ``x``:

.. math::

    a = A(\mathrm{conv}_d(x)),\qquad b = A(\mathrm{conv}_d(a)),\qquad
    \mathrm{out} = A(b + \mathrm{res}(x))

where :math:`\mathrm{conv}_d(x)_t = x_{t-d} W_0 + x_t W_1 + c` is Keras'
``Conv1D(units, 2, padding="causal", dilation_rate=d)`` (left zero padding: the output at
``t`` sees only inputs up to ``t``, and has the input's length), and :math:`\mathrm{res}`
is the identity, or a 1x1 convolution where the channels change (the first block). The
activation under study is applied at all three places, as the paper's block applies its
ReLU (after each convolution, and after the residual sum); weight normalisation and
dropout, which the paper adds, are left out, as the protocol's other models have neither.

Inputs: a window ``(batch, lookback)`` is ``lookback`` timesteps of one value (unlike the
LSTM, which reads it as Keras' one timestep of ``lookback`` features); ``(batch, T, 1)``
is the same. So ``n_features`` (the lookback) sets no weight's shape. The receptive field
is :math:`1 + 2 (2^{layers} - 1)` timesteps: 3 with one block, 7 with two, 15 with three;
a lookback beyond it reaches inputs the forecast cannot see (``--layers 2`` covers the seed
preset's lookback of 5).

Parameters: ``{"tcn": (block, ...), "dense": {"kernel", "bias"}}``, each block
``{"conv1": {"kernel" (2, C_in, u), "bias" (u,)}, "conv2": {...}, "residual": {"kernel"
(1, C_in, u), "bias"} (first block only, when C_in != u), "activation": {...}}`` as Keras
names a ``Conv1D``'s weights, so ``conv.set_weights([kernel, bias])`` reproduces a model.
Keras' initialisation: Glorot-uniform kernels (fans ``2 C_in`` and ``2 u``), zero biases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from relulab.models.initializers import uniform_from_bits
from relulab.models.layers import (
    ActivationLike,
    Params,
    activate,
    activation_params,
    dense,
    dense_weights,
    matmul,
)

if TYPE_CHECKING:
    from relulab.models import ModelSpec

KERNEL = 2  # the convolutions' kernel size
CHANNELS_IN = 1  # a window is a sequence of one value per timestep


def receptive_field(layers: int) -> int:
    """Timesteps the last output sees: two convolutions of kernel 2 per block, dilations
    1, 2, 4, ..."""
    return 1 + 2 * (KERNEL - 1) * (2 ** layers - 1)


def weight_shapes(spec: ModelSpec, n_features: int) -> list[tuple[int, int]]:
    """Per block the two convolutions' kernels as ``(2 C_in, u)`` words (and the first
    block's 1x1 residual ``(C_in, u)`` when ``C_in != u``), then the head's."""
    u = spec.units
    shapes: list[tuple[int, int]] = []
    for k in range(spec.layers):
        c_in = CHANNELS_IN if k == 0 else u
        shapes += [(KERNEL * c_in, u), (KERNEL * u, u)]
        if c_in != u:
            shapes.append((c_in, u))
    return [*shapes, (u, spec.outputs)]


def _conv(bits: jax.Array, kernel: int) -> Params:
    """Keras' ``Conv1D`` init from ``(kernel * C_in, C_out)`` words: Glorot-uniform with
    fans ``kernel * C_in`` and ``kernel * C_out``, zero bias."""
    rows, out = bits.shape
    limit = (6.0 / (rows + kernel * out)) ** 0.5
    w = uniform_from_bits(bits, -limit, limit).reshape(kernel, rows // kernel, out)
    return {"kernel": w, "bias": jnp.zeros((out,))}


def init_weights(spec: ModelSpec, draws: list[jax.Array]) -> Params:
    """Keras' initialisation from random words shaped by :func:`weight_shapes`;
    activation slots empty."""
    u = spec.units
    blocks, i = [], 0
    for k in range(spec.layers):
        c_in = CHANNELS_IN if k == 0 else u
        block = {"conv1": _conv(draws[i], KERNEL), "conv2": _conv(draws[i + 1], KERNEL),
                 "activation": {}}
        i += 2
        if c_in != u:
            block["residual"] = _conv(draws[i], 1)
            i += 1
        blocks.append(block)
    return {"tcn": tuple(blocks), "dense": dense_weights(draws[-1])}


def init_activation_params(spec: ModelSpec, params: Params, act: ActivationLike) -> Params:
    """``params`` with each block's learnable parameters of ``act`` (one set per block,
    shared by its three sites) at their start values."""
    return {**params, "tcn": tuple({**block, "activation": activation_params(act)}
                                   for block in params["tcn"])}


def _causal(conv: Params, x: jax.Array, dilation: int) -> jax.Array:
    """Keras' causal ``Conv1D`` of kernel 1 or 2 over ``x (batch, T, C)``."""
    w, b = conv["kernel"], conv["bias"]
    out = matmul(x, w[-1]) + b
    if w.shape[0] == 2:
        shifted = jnp.pad(x, ((0, 0), (dilation, 0), (0, 0)))[:, : x.shape[1]]
        out = out + matmul(shifted, w[0])
    return out


def forward(
    spec: ModelSpec, params: Params, X: jax.Array, act: ActivationLike, record: bool = False
) -> Any:
    """``(forecasts (batch,), hiddens)``: every block's output at the last timestep
    ``(batch, units)``; with ``record`` also ``sites``: ``{"tcnK.conv1", "tcnK.conv2",
    "tcnK.out"}`` per block ``K`` (1-based), each ``(batch, T, units)``, every place the
    activation is applied."""
    x = X[..., None] if X.ndim == 2 else X
    hiddens, sites = [], {}
    for k, block in enumerate(params["tcn"], start=1):
        d = 2 ** (k - 1)
        la = block["activation"]
        a = activate(act, _causal(block["conv1"], x, d), la)
        b = activate(act, _causal(block["conv2"], a, d), la)
        res = _causal(block["residual"], x, 1) if "residual" in block else x
        x = activate(act, b + res, la)
        hiddens.append(x[:, -1])
        if record:
            sites.update({f"tcn{k}.conv1": a, f"tcn{k}.conv2": b, f"tcn{k}.out": x})
    out = dense(params["dense"], x[:, -1]), tuple(hiddens)
    return (*out, sites) if record else out
