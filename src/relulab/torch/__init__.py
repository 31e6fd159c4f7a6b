"""``relulab.torch``: the activation family as PyTorch ``nn.Module`` s, and tools for the
activations of any PyTorch model.

- :mod:`relulab.torch.modules`: one ``nn.Module`` per activation (``ReLU``, ``LeakyReLU``,
  ``PReLU``, ...), named and parametrised like its ``torch.nn`` twin; ``module(name)``.

Needs PyTorch: ``pip install 'relulab[torch]'``.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a test that hides torch
    raise ImportError(
        "relulab.torch needs PyTorch, which is not installed; "
        "install it with: pip install 'relulab[torch]'"
    ) from exc

from relulab.torch.modules import (
    CELU,
    ELU,
    GELU,
    SELU,
    Hardtanh,
    Identity,
    LeakyReLU,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
    is_activation,
    module,
)

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "Mish",
    "PReLU",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "is_activation",
    "module",
]
