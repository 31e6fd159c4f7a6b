"""``relulab.torch``: the activation family as PyTorch ``nn.Module`` s, and tools for the
activations of any PyTorch model.

- :mod:`relulab.torch.modules`: one ``nn.Module`` per activation (``ReLU``, ``LeakyReLU``,
  ``PReLU``, ...), named and parametrised like its ``torch.nn`` twin; ``module(name)``.
- :mod:`relulab.torch.monitor`: :class:`DeadUnitMonitor`, which finds dead and dormant
  units at every activation of a model while it runs.
- :mod:`relulab.torch.swap`: :func:`swap_activations`, which replaces a model's activation
  modules by another activation of the family.
- :mod:`relulab.torch.studies`: :func:`study`, which compares activations in *your* model on
  your data over seeds (vectorised with ``torch.func`` where the model allows), with the
  statistics, the store and the report of relulab's own studies.
- :mod:`relulab.torch.vectorised`: :class:`TorchEngine`, which trains every seed of a
  user's model at once for a study.

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
    Registered,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
    is_activation,
    module,
)
from relulab.torch.monitor import DeadUnitMonitor
from relulab.torch.studies import study
from relulab.torch.swap import swap_activations
from relulab.torch.vectorised import TorchEngine

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "DeadUnitMonitor",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "Mish",
    "PReLU",
    "ReLU",
    "ReLU6",
    "Registered",
    "SiLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "TorchEngine",
    "is_activation",
    "module",
    "study",
    "swap_activations",
]

