"""Each framework's own function for an activation of the family, defined once.

:class:`~relulab.activations.Activation` dispatches torch tensors to the
``torch.nn.functional`` twin (:func:`twin` with ``"torch"``), and
:mod:`relulab.activations.bench` times ours against every framework's twin: ``jax.nn.*``
for JAX, ``torch.nn.functional.*`` for PyTorch, and for NumPy, which has no activation
library, the idiomatic NumPy/SciPy one-liner where there is one (``np.maximum(x, 0)``,
``np.tanh``, ``scipy.special.expit``, ``np.logaddexp(x, 0)``).

A twin takes our parameters as numbers (PReLU: a scalar ``weight``). The torch twins have
our semantics exactly; two JAX twins are only the closest function, the same work for
timing: ``jax.nn.softplus`` has no threshold and ``jax.nn.hard_tanh`` clips to [-1, 1].
Where a framework has nothing, :func:`twin` returns None; ``identity`` has no twin
(``Activation`` returns its input without a call).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from relulab.errors import RelulabError

# The array libraries the family serves, in the order tables list them.
FRAMEWORKS = ("numpy", "jax", "torch")


def twin(name: str, framework: str, params: Mapping[str, Any]) -> Callable | None:
    """The function of ``framework`` computing activation ``name`` (canonical) with
    ``params`` (all of them, numbers), or None where the framework has none."""
    if framework == "numpy":
        return _numpy_twin(name)
    if framework == "jax":
        return _jax_twin(name, params)
    if framework == "torch":
        return _torch_twin(name, params)
    raise RelulabError(f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}")


def _numpy_twin(name: str) -> Callable | None:
    import scipy.special

    return {
        "relu": lambda x: np.maximum(x, np.float32(0)),
        "tanh": np.tanh,
        "sigmoid": scipy.special.expit,
        "softplus": lambda x: np.logaddexp(x, np.float32(0)),
    }.get(name)


def _jax_twin(name: str, p: Mapping[str, Any]) -> Callable | None:
    import jax
    import jax.numpy as jnp

    nn = jax.nn
    return {
        "relu": nn.relu,
        "leaky_relu": lambda x: nn.leaky_relu(x, p["negative_slope"]),
        "prelu": lambda x: nn.leaky_relu(x, p["weight"]),  # scalar-weight PReLU
        "elu": lambda x: nn.elu(x, p["alpha"]),
        "selu": nn.selu,
        "celu": lambda x: nn.celu(x, p["alpha"]),
        "gelu": lambda x: nn.gelu(x, approximate=p["approximate"] == "tanh"),
        "silu": nn.silu,
        "mish": nn.mish,
        "softplus": nn.softplus,  # no threshold
        "relu6": nn.relu6,
        "hard_tanh": nn.hard_tanh,  # [-1, 1] only
        "tanh": jnp.tanh,
        "sigmoid": nn.sigmoid,
    }.get(name)


def _torch_twin(name: str, p: Mapping[str, Any]) -> Callable | None:
    import torch
    import torch.nn.functional as F

    return {
        "relu": F.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, p["negative_slope"]),
        "prelu": lambda x: F.prelu(x, torch.tensor([p["weight"]], dtype=x.dtype)),
        "elu": lambda x: F.elu(x, p["alpha"]),
        "selu": F.selu,
        "celu": lambda x: F.celu(x, p["alpha"]),
        "gelu": lambda x: F.gelu(x, approximate=p["approximate"]),
        "silu": F.silu,
        "mish": F.mish,
        "softplus": lambda x: F.softplus(x, p["beta"], p["threshold"]),
        "relu6": F.relu6,
        "hard_tanh": lambda x: F.hardtanh(x, p["min_val"], p["max_val"]),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
    }.get(name)
