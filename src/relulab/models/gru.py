r"""GRU with Keras 3 semantics: ``GRU(units, activation=A, recurrent_activation=r,
reset_after=True)`` x ``layers``, then ``Dense(1)``.

Per timestep, with the input projection :math:`x W + b_{in}` and the recurrent projection
:math:`h U + b_{rec}` each split into the blocks z, r, h in that order:

.. math::

    z = r(x_z + u_z),\; \rho = r(x_r + u_r),\; \tilde h = A(x_h + \rho\, u_h),\qquad
    h' = z\, h + (1 - z)\, \tilde h

(``reset_after=True``, Keras' default: the reset gate multiplies the recurrent projection,
bias included.) Inputs are shaped as the LSTM's (:mod:`relulab.models.lstm`): a 2-D
``(batch, lookback)`` window is Keras' ``input_shape=(1, lookback)``, one timestep.
Stacked layers pass their whole sequence on; the last layer's final ``h`` feeds
``Dense(1)``. The activation under study is applied once per layer and step, to the
candidate :math:`\tilde h`.

Parameters: ``{"gru": (layer, ...), "dense": {"kernel", "bias"}}``, each layer
``{"kernel" (F, 3u), "recurrent_kernel" (u, 3u), "bias" (2, 3u), "activation": {...},
"recurrent_activation": {...}}`` as Keras names them (``bias[0]`` the input bias,
``bias[1]`` the recurrent one), so ``layer.set_weights([kernel, recurrent_kernel, bias])``
reproduces a model exactly. Keras' initialisation: Glorot-uniform kernels, orthogonal
recurrent kernels, zero biases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from relulab.models.initializers import glorot_uniform, orthogonal
from relulab.models.layers import (
    ActivationLike,
    Params,
    activate,
    activation_params,
    dense,
    dense_weights,
    matmul,
    resolve,
)

if TYPE_CHECKING:
    from relulab.models import ModelSpec


def weight_shapes(spec: ModelSpec, n_features: int) -> list[tuple[int, int]]:
    """Per layer the kernel's and the recurrent kernel's shape, then the head's."""
    u = spec.units
    shapes = []
    for k in range(spec.layers):
        shapes += [(n_features if k == 0 else u, 3 * u), (u, 3 * u)]
    return [*shapes, (u, spec.outputs)]


def init_weights(spec: ModelSpec, draws: list[jax.Array]) -> Params:
    """Keras' initialisation from random words shaped by :func:`weight_shapes`: Glorot
    kernels, orthogonal recurrent kernels, zero biases; activation slots empty."""
    dense_params = dense_weights(draws[-1])
    u = spec.units
    layers = tuple({"kernel": glorot_uniform(w), "recurrent_kernel": orthogonal(r),
                    "bias": jnp.zeros((2, 3 * u)), "activation": {},
                    "recurrent_activation": {}}
                   for w, r in zip(draws[0:-1:2], draws[1:-1:2], strict=True))
    return {"gru": layers, "dense": dense_params}


def init_activation_params(spec: ModelSpec, params: Params, act: ActivationLike) -> Params:
    """``params`` with each layer's learnable parameters of ``act`` and of the spec's
    recurrent activation at their start values."""
    rec = resolve(spec.recurrent_activation)
    return {**params, "gru": tuple(
        {**layer, "activation": activation_params(act),
         "recurrent_activation": activation_params(rec)}
        for layer in params["gru"])}


def _layer(layer: Params, xs: jax.Array, act: ActivationLike, rec: ActivationLike,
           record: bool = False) -> Any:
    """One GRU layer over ``xs (batch, T, F)`` from a zero state; returns ``h (batch, T, u)``,
    and with ``record`` also the activation's site over every timestep, the candidate
    ``A(x_h + r * u_h)``, ``(batch, T, u)``."""
    W, U, b = layer["kernel"], layer["recurrent_kernel"], layer["bias"]
    la, lr = layer["activation"], layer["recurrent_activation"]
    u = U.shape[0]

    def cell(x: jax.Array, inner: jax.Array) -> tuple[jax.Array, jax.Array]:
        proj = matmul(x, W) + b[0]
        z = activate(rec, proj[..., :u] + inner[..., :u], lr)
        r = activate(rec, proj[..., u:2 * u] + inner[..., u:2 * u], lr)
        hh = activate(act, proj[..., 2 * u:] + r * inner[..., 2 * u:], la)
        return z, hh

    # The first step starts from h = 0: h U is exactly 0, so the recurrent projection is
    # its bias, and z h vanishes (the same numbers, less work; the seed preset has a single
    # timestep).
    z, hh = cell(xs[:, 0], jnp.broadcast_to(b[1], (xs.shape[0], 3 * u)))
    h = (1 - z) * hh
    if xs.shape[1] == 1:
        return (h[:, None], hh[:, None]) if record else h[:, None]

    def step(h: jax.Array, x: jax.Array):
        z, hh = cell(x, matmul(h, U) + b[1])
        h = z * h + (1 - z) * hh
        return h, ((h, hh) if record else h)

    _, out = jax.lax.scan(step, h, jnp.swapaxes(xs[:, 1:], 0, 1))

    def joined(first: jax.Array, rest: jax.Array) -> jax.Array:
        return jnp.concatenate([first[:, None], jnp.swapaxes(rest, 0, 1)], axis=1)

    if not record:
        return joined(h, out)
    return joined(h, out[0]), joined(hh, out[1])


def forward(
    spec: ModelSpec, params: Params, X: jax.Array, act: ActivationLike, record: bool = False
) -> Any:
    """``(forecasts (batch,), hiddens)``: every layer's ``h`` at the last timestep; with
    ``record`` also ``sites``: ``{"gruK.candidate": A(...)}`` per layer ``K`` (1-based),
    each ``(batch, T, units)``, every place the activation is applied."""
    rec = resolve(spec.recurrent_activation)
    xs = X[:, None, :] if X.ndim == 2 else X
    hiddens = []
    sites = {}
    for k, layer in enumerate(params["gru"], start=1):
        if record:
            xs, hh = _layer(layer, xs, act, rec, record=True)
            sites[f"gru{k}.candidate"] = hh
        else:
            xs = _layer(layer, xs, act, rec)
        hiddens.append(xs[:, -1])
    out = dense(params["dense"], xs[:, -1]), tuple(hiddens)
    return (*out, sites) if record else out
