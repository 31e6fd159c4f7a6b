"""The activation family: defined once, for NumPy, JAX and PyTorch arrays.

>>> import numpy as np
>>> from relulab import activations
>>> act = activations.get("leaky_relu", negative_slope=0.1)
>>> act(np.array([-2.0, 0.0, 3.0]))
array([-0.2,  0. ,  3. ])
>>> act.grad(np.array([-2.0, 0.0, 3.0]))
array([0.1, 0.1, 1. ])

See ``docs/activations.md`` for kink conventions, the integer-input policy and measured
accuracy against ``torch.nn.functional`` and ``jax.nn``.
"""

from relulab.activations.activation import Activation, get, names
from relulab.activations.functions import (
    celu,
    elu,
    gelu,
    hard_tanh,
    identity,
    leaky_relu,
    mish,
    prelu,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softplus,
    swish,
    tanh,
)

hardtanh = hard_tanh

__all__ = [
    "Activation",
    "celu",
    "elu",
    "gelu",
    "get",
    "hard_tanh",
    "hardtanh",
    "identity",
    "leaky_relu",
    "mish",
    "names",
    "prelu",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softplus",
    "swish",
    "tanh",
]
