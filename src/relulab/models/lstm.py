r"""LSTM with Keras 3 semantics: ``LSTM(units, activation=A, recurrent_activation=r)``
x ``layers``, then ``Dense(1)``.

Per timestep, with :math:`z = x W + h U + b` split into the blocks i, f, c, o in that order:

.. math::

    i = r(z_i),\; f = r(z_f),\; g = A(z_c),\; o = r(z_o),\qquad
    c' = f c + i g,\qquad h' = o\, A(c')

Inputs are shaped ``(batch, timesteps, features)``; a 2-D ``(batch, lookback)`` input is
read as Keras' ``input_shape=(1, lookback)``: one timestep carrying ``lookback`` features.
Stacked layers pass their whole sequence on (``return_sequences=True`` between layers);
the last layer's final ``h`` feeds ``Dense(1)``.

Parameters: ``{"lstm": (layer, ...), "dense": {"kernel", "bias"}}``, each layer
``{"kernel" (F, 4u), "recurrent_kernel" (u, 4u), "bias" (4u,), "activation": {...},
"recurrent_activation": {...}}`` as Keras names them, so
``layer.set_weights([kernel, recurrent_kernel, bias])`` reproduces a model exactly.
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
        shapes += [(n_features if k == 0 else u, 4 * u), (u, 4 * u)]
    return [*shapes, (u, spec.outputs)]


def init_weights(spec: ModelSpec, draws: list[jax.Array]) -> Params:
    """Keras' initialisation from random words shaped by :func:`weight_shapes`: Glorot
    kernels, orthogonal recurrent kernels, ``unit_forget_bias=True``; activation slots empty."""
    dense_params = dense_weights(draws[-1])
    u = spec.units
    # unit_forget_bias=True: the forget block of the bias starts at 1.
    bias = jnp.zeros((4 * u,)).at[u:2 * u].set(1.0)
    layers = tuple({"kernel": glorot_uniform(w), "recurrent_kernel": orthogonal(r),
                    "bias": bias, "activation": {}, "recurrent_activation": {}}
                   for w, r in zip(draws[0:-1:2], draws[1:-1:2], strict=True))
    return {"lstm": layers, "dense": dense_params}


def init_activation_params(spec: ModelSpec, params: Params, act: ActivationLike) -> Params:
    """``params`` with each layer's learnable parameters of ``act`` and of the spec's
    recurrent activation at their start values."""
    rec = resolve(spec.recurrent_activation)
    return {**params, "lstm": tuple(
        {**layer, "activation": activation_params(act),
         "recurrent_activation": activation_params(rec)}
        for layer in params["lstm"])}


def _layer(layer: Params, xs: jax.Array, act: ActivationLike, rec: ActivationLike,
           record: bool = False) -> Any:
    """One LSTM layer over ``xs (batch, T, F)`` from a zero state; returns ``h (batch, T, u)``,
    and with ``record`` also the activation's two sites over every timestep: the candidate
    ``g = A(z_c)`` and the cell output ``A(c')``, each ``(batch, T, u)``."""
    W, U, b = layer["kernel"], layer["recurrent_kernel"], layer["bias"]
    la, lr = layer["activation"], layer["recurrent_activation"]
    u = U.shape[0]

    def gates(z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        return (activate(rec, z[..., :u], lr), activate(rec, z[..., u:2 * u], lr),
                activate(act, z[..., 2 * u:3 * u], la), activate(rec, z[..., 3 * u:], lr))

    # The first step starts from h = c = 0, so h·U and f*c vanish exactly; skipping them
    # gives the same numbers and saves the work (the seed preset has a single timestep).
    i, _, g, o = gates(matmul(xs[:, 0], W) + b)
    c = i * g
    ac = activate(act, c, la)
    h = o * ac
    if xs.shape[1] == 1:
        return (h[:, None], g[:, None], ac[:, None]) if record else h[:, None]

    def step(carry: tuple[jax.Array, jax.Array], x: jax.Array):
        h, c = carry
        i, f, g, o = gates(matmul(x, W) + matmul(h, U) + b)
        c = f * c + i * g
        ac = activate(act, c, la)
        h = o * ac
        return (h, c), ((h, g, ac) if record else h)

    _, out = jax.lax.scan(step, (h, c), jnp.swapaxes(xs[:, 1:], 0, 1))

    def joined(first: jax.Array, rest: jax.Array) -> jax.Array:
        return jnp.concatenate([first[:, None], jnp.swapaxes(rest, 0, 1)], axis=1)

    if not record:
        return joined(h, out)
    return joined(h, out[0]), joined(g, out[1]), joined(ac, out[2])


def forward(
    spec: ModelSpec, params: Params, X: jax.Array, act: ActivationLike, record: bool = False
) -> Any:
    """``(forecasts (batch,), hiddens)``: every layer's ``h`` at the last timestep; with
    ``record`` also ``sites``: ``{"lstmK.candidate": g, "lstmK.cell": A(c')}`` per layer
    ``K`` (1-based), each ``(batch, T, units)``, every place the activation is applied."""
    rec = resolve(spec.recurrent_activation)
    xs = X[:, None, :] if X.ndim == 2 else X
    hiddens = []
    sites = {}
    for k, layer in enumerate(params["lstm"], start=1):
        if record:
            xs, g, ac = _layer(layer, xs, act, rec, record=True)
            sites[f"lstm{k}.candidate"], sites[f"lstm{k}.cell"] = g, ac
        else:
            xs = _layer(layer, xs, act, rec)
        hiddens.append(xs[:, -1])
    out = dense(params["dense"], xs[:, -1]), tuple(hiddens)
    return (*out, sites) if record else out
