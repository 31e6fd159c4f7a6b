"""Replace the activation modules of a PyTorch model by another activation of the family."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from relulab.torch.modules import is_activation, module

__all__ = ["swap_activations"]


def swap_activations(model: nn.Module, name: str | nn.Module, **params: Any) -> nn.Module:
    """Replace every activation module of ``model`` by relulab's module for ``name``, or
    by the module ``name`` itself (any activation module, a user's own included: it
    replaces the first activation found, and a deep copy of it each other one).

    The replacement is :func:`relulab.torch.module` ``(name, **params)``, relulab's own
    ``nn.Module`` (``LeakyReLU(negative_slope=...)``, ``ELU(alpha=...)``, ...), with
    PyTorch's parameter names. An activation module is any ``torch.nn`` elementwise
    activation (``ReLU``, ``GELU``, ``Tanh``, ...) or relulab module
    (:func:`relulab.torch.is_activation`), at any depth, ``model`` itself included.

    ``model`` is changed in place (as ``model.to`` changes it) and returned; when ``model``
    is itself an activation the new module is returned instead, so always use the result::

        model = swap_activations(model, "leaky_relu", negative_slope=0.1)

    A module instance used at several places (``self.act`` called twice in ``forward``,
    or registered under two names) gets one replacement, shared in the same way. Each
    original instance gets its own: with ``"prelu"`` every former activation module gets
    its own learnable slopes (one each unless ``num_parameters`` says otherwise, and then
    every site must have that many channels). Parameters of a new module are put on the
    device and dtype of ``model``'s first floating-point parameter; the new module takes
    the ``training`` flag of the one it replaces.

    Activations called as functions inside a ``forward`` (``F.relu(x)``, ``torch.tanh(x)``,
    ``x.relu()``) are code, not modules, and cannot be swapped: edit the ``forward``.
    :class:`relulab.torch.DeadUnitMonitor` lists them with ``kind == "functional"``.

    Raises:
        RelulabError: for an unknown ``name`` (the message lists the known names) or
            parameters the module does not take.
    """
    if isinstance(name, nn.Module):
        given: list[nn.Module] = [name]

        def make() -> nn.Module:
            return given.pop() if given else copy.deepcopy(name)
    else:
        module(name, **params)  # check the name and the parameters before touching the model

        def make() -> nn.Module:
            return module(name, **params)
    reference = _first_float_parameter(model)
    replacements: dict[int, nn.Module] = {}

    def replacement(old: nn.Module) -> nn.Module:
        if id(old) not in replacements:
            new = make()
            if reference is not None and any(True for _ in new.parameters()):
                new = new.to(device=reference.device, dtype=reference.dtype)
            replacements[id(old)] = new.train(old.training)
        return replacements[id(old)]

    if is_activation(model):
        return replacement(model)
    for parent in list(model.modules()):
        for child_name, child in list(parent._modules.items()):
            if child is not None and is_activation(child):
                setattr(parent, child_name, replacement(child))
    return model


def _first_float_parameter(model: nn.Module) -> Any:
    return next((p for p in model.parameters() if p.is_floating_point()), None)
