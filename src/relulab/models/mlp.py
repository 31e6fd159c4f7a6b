"""MLP: ``Dense(units, A)`` x ``layers``, then ``Dense(1)``, on the flattened window.

Parameters: ``{"hidden": (layer, ...), "dense": {"kernel", "bias"}}``, each layer
``{"kernel" (F, units), "bias" (units,), "activation": {...}}`` as Keras names them.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import jax

from relulab.models import initializers
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
    """The words each hidden layer's initialiser reads (its kernel's shape, plus the rows
    ``spec.init`` draws beyond it: none for Keras' initialisers), then the head's kernel."""
    widths = [n_features] + [spec.units] * spec.layers
    return ([initializers.draw_shape(spec.init, a, b) for a, b in itertools.pairwise(widths)]
            + [(widths[-1], spec.outputs)])


def init_weights(spec: ModelSpec, draws: list[jax.Array]) -> Params:
    """The initialisation from random words shaped by :func:`weight_shapes`: hidden layers
    by ``spec.init`` (Keras' default: Glorot-uniform kernels, zero biases), the ``Dense(1)``
    head as Keras initialises it whatever ``spec.init``; activation slots empty."""
    dense_params = dense_weights(draws[-1])
    init = initializers.get(spec.init)
    hidden = tuple({"kernel": kernel, "bias": bias, "activation": {}}
                   for kernel, bias in (init.draw(w) for w in draws[:-1]))
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
