"""MLP: ``Dense(units, A)`` x ``layers``, then ``Dense(1)``, on the flattened window.

Parameters: ``{"hidden": (layer, ...), "dense": {"kernel", "bias"}}``, each layer
``{"kernel" (F, units), "bias" (units,), "activation": {...}}`` as Keras names them.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from relulab.models.initializers import glorot_uniform
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


def weight_shapes(spec: ModelSpec, n_features: int) -> list[tuple[int, int]]:
    """Each hidden layer's kernel shape, then the head's."""
    widths = [n_features] + [spec.units] * spec.layers
    return [(a, b) for a, b in itertools.pairwise(widths)] + [(widths[-1], 1)]


def init_weights(spec: ModelSpec, draws: list[jax.Array]) -> Params:
    """Keras' initialisation from random words shaped by :func:`weight_shapes`: Glorot
    kernels, zero biases; activation slots empty."""
    dense_params = dense_weights(draws[-1])
    hidden = tuple({"kernel": glorot_uniform(w), "bias": jnp.zeros((w.shape[1],)),
                    "activation": {}} for w in draws[:-1])
    return {"hidden": hidden, "dense": dense_params}


def init_activation_params(spec: ModelSpec, params: Params, act: ActivationLike) -> Params:
    """``params`` with each layer's learnable parameters of ``act`` at their start values."""
    return {**params, "hidden": tuple({**layer, "activation": activation_params(act)}
                                      for layer in params["hidden"])}


def forward(
    spec: ModelSpec, params: Params, X: jax.Array, act: ActivationLike, record: bool = False
) -> Any:
    """``(forecasts (batch,), hiddens)``: every hidden layer's output ``(batch, units)``;
    with ``record`` also ``sites``: ``{"hiddenK": output}`` per hidden layer ``K`` (1-based),
    the places the activation is applied."""
    a = X.reshape(X.shape[0], -1)
    hiddens = []
    for layer in params["hidden"]:
        a = activate(act, matmul(a, layer["kernel"]) + layer["bias"], layer["activation"])
        hiddens.append(a)
    out = dense(params["dense"], a), tuple(hiddens)
    if not record:
        return out
    return (*out, {f"hidden{k}": h for k, h in enumerate(hiddens, start=1)})
