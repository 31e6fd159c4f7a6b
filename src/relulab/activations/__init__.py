"""The activation family: defined once, for NumPy, JAX and PyTorch arrays.

>>> import numpy as np
>>> from relulab import activations
>>> act = activations.get("leaky_relu", negative_slope=0.1)
>>> act(np.array([-2.0, 0.0, 3.0]))
array([-0.2,  0. ,  3. ])
>>> act.grad(np.array([-2.0, 0.0, 3.0]))
array([0.1, 0.1, 1. ])

Your own: ``register("squared_relu", lambda x, xp: xp.maximum(x, 0.0) ** 2)`` makes it one
of the family (checked, its derivative by autodiff, its facts measured; see
:mod:`relulab.activations.custom`).

Keras 3: activations serialise as ``"relulab>Activation"``, registered with Keras as soon as
Keras is imported (before or after this package), so ``keras.models.load_model`` needs no
``custom_objects``. See ``docs/activations.md`` for kink conventions, the integer-input
policy and measured accuracy against ``torch.nn.functional`` and ``jax.nn``.
"""

from relulab.activations._keras import install as _install_keras_registration
from relulab.activations._registry import canonical_names
from relulab.activations.activation import Activation, get, names
from relulab.activations.custom import fingerprint, is_registered, measure, register
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

# Keras finds Activation in saved models without custom_objects; Keras is not imported here.
_install_keras_registration(Activation)

__all__ = [
    "Activation",
    "canonical_names",
    "celu",
    "elu",
    "fingerprint",
    "gelu",
    "get",
    "hard_tanh",
    "hardtanh",
    "identity",
    "is_registered",
    "leaky_relu",
    "measure",
    "mish",
    "names",
    "prelu",
    "register",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softplus",
    "swish",
    "tanh",
]
