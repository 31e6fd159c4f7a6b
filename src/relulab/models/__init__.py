"""The forecasting models, pure JAX: one module per model family, a registry, and the
:class:`Model` triple of pure functions every family provides.

>>> spec = ModelSpec(family="lstm", units=4, layers=1, recurrent_activation="sigmoid")
>>> model = get(spec, "relu")                    # Model(init, apply, hidden)
>>> params = model.init(jax.random.key(0), 5)    # Keras-initialised, for 5 input features
>>> model.apply(params, X)                       # forecasts (batch,) of windows X (batch, 5)
>>> forecasts, hiddens = model.hidden(params, X) # and each hidden layer's output

Parameters are plain pytrees (nested dicts and tuples of arrays) named as Keras names its
weights; every function is pure and vmappable over any leading batch of models.

Families (``FAMILIES``): ``lstm`` (:mod:`relulab.models.lstm`, Keras 3 semantics) and
``mlp`` (:mod:`relulab.models.mlp`). A new family is a module ``relulab.models.NAME`` with
the four functions of :class:`Family`, and its name in :data:`relulab.specs.MODELS` (the
list the config checks without importing JAX); nothing else names a family.

Learnable activation parameters (PReLU's ``weight``) live in the pytree beside the layer
that uses them, one shared scalar per layer, under ``"activation"`` /
``"recurrent_activation"``; they are passed to ``Activation.apply`` and trained with the
rest. Initialisation has two parts so that all activations of a study share the random
one (and its compiled program): :func:`weights_from_bits` draws the weights with empty
activation slots, :func:`init_activation_params` fills the slots for one activation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from relulab.models.layers import ActivationLike, Params, Switched, resolve
from relulab.specs import DEFAULT_INIT, MODELS, ModelSpec


class Family(Protocol):
    """What a model family's module provides (see :mod:`relulab.models.lstm`)."""

    def weight_shapes(self, spec: ModelSpec, n_features: int) -> list[tuple[int, int]]:
        """The shapes of the random draws :func:`init_weights` reads, in draw order."""

    def init_weights(self, spec: ModelSpec, draws: list[jax.Array]) -> Params:
        """Keras-initialised weights from uint32 words, activation slots empty."""

    def init_activation_params(self, spec: ModelSpec, params: Params,
                               act: ActivationLike) -> Params:
        """``params`` with every activation slot at its start values."""

    def forward(self, spec: ModelSpec, params: Params, X: jax.Array,
                act: ActivationLike, record: bool = False) -> Any:
        """``(forecasts (batch,), hiddens)``, each hidden ``(batch, units)``; with
        ``record`` a third element, ``{site: output}`` at every place the activation is
        applied, each ``(batch, units)`` or ``(batch, timesteps, units)``."""


# The registry: family name -> module, the module relulab.models.NAME of each name.
FAMILIES: dict[str, Family] = {name: importlib.import_module(f"{__name__}.{name}")
                               for name in MODELS}


class Model(NamedTuple):
    """A model of one family, spec and activation: three pure functions of its parameters.

    ``init(key, n_features) -> params``: Keras-initialised parameters for inputs of
    ``n_features``, learnable activation parameters included.
    ``apply(params, X) -> forecasts``: one-step forecasts ``(batch,)`` for windows ``X``
    ``(batch, lookback)`` (or ``(batch, timesteps, features)`` for the LSTM).
    ``hidden(params, X) -> (forecasts, hiddens)``: ``apply``'s forecasts and every hidden
    layer's output at the last timestep, each ``(batch, units)``; dead units show as zeros.
    ``sites(params, X) -> (forecasts, hiddens, {site: output})``: the same, and the output
    at every place the activation is applied (an LSTM applies it twice per layer and step),
    each ``(batch, units)`` or ``(batch, timesteps, units)``, keyed by a stable name.
    ``learned(params) -> {name: value}``: the learnable activation parameters (PReLU's
    slope per layer), keyed by where they sit.
    """

    init: Callable[[jax.Array, int], Params]
    apply: Callable[[Params, jax.Array], jax.Array]
    hidden: Callable[[Params, jax.Array], tuple[jax.Array, tuple[jax.Array, ...]]]
    sites: Callable[[Params, jax.Array], tuple[jax.Array, tuple[jax.Array, ...],
                                                dict[str, jax.Array]]]
    learned: Callable[[Params], dict[str, jax.Array]]


def family(spec: ModelSpec) -> Family:
    """The module of ``spec.family``."""
    return FAMILIES[spec.family]


def get(spec: ModelSpec, activation: str | ActivationLike) -> Model:
    """The :class:`Model` of ``spec`` with ``activation`` (a name of
    ``relulab.activations`` or an ``Activation``)."""
    fam = family(spec)
    act = resolve(activation)

    def init(key: jax.Array, n_features: int) -> Params:
        return fam.init_activation_params(spec, init_weights(key, spec, n_features), act)

    def hidden(params: Params, X: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        return fam.forward(spec, params, X, act)

    def apply(params: Params, X: jax.Array) -> jax.Array:
        return hidden(params, X)[0]

    def sites(params: Params, X: jax.Array) -> Any:
        return fam.forward(spec, params, X, act, record=True)

    return Model(init=init, apply=apply, hidden=hidden, sites=sites, learned=learned)


_SLOTS = ("activation", "recurrent_activation")


def learned(params: Params) -> dict[str, jax.Array]:
    """Every learnable activation parameter in ``params``, named by its place:
    ``{"lstm1.activation.weight": slope, ...}`` (layers 1-based), whatever the family."""
    out = {}
    for group, layers in params.items():
        if not isinstance(layers, tuple):
            continue
        for k, layer in enumerate(layers, start=1):
            for slot in _SLOTS:
                for name, value in layer.get(slot, {}).items():
                    out[f"{group}{k}.{slot}.{name}"] = value
    return out


# --- the two parts of init -----------------------------------------------------------------


def weight_bits(spec: ModelSpec, n_features: int) -> int:
    """How many random uint32 words :func:`weights_from_bits` reads."""
    return sum(a * b for a, b in family(spec).weight_shapes(spec, n_features))


def weights_from_bits(bits: jax.Array, spec: ModelSpec, n_features: int) -> Params:
    """Keras-initialised weights of ``spec`` for inputs of ``n_features`` from
    ``weight_bits(spec, n_features)`` random words; activation slots empty.

    The random part of the initialisation does not depend on the activation, so all
    activations of a study share it (and one compiled initialiser).
    """
    fam = family(spec)
    draws = []
    offset = 0
    for shape in fam.weight_shapes(spec, n_features):
        draws.append(bits[offset:offset + shape[0] * shape[1]].reshape(shape))
        offset += shape[0] * shape[1]
    return fam.init_weights(spec, draws)


def init_weights(key: jax.Array, spec: ModelSpec, n_features: int) -> Params:
    """:func:`weights_from_bits` from one key."""
    bits = jax.random.bits(key, (weight_bits(spec, n_features),), jnp.uint32)
    return weights_from_bits(bits, spec, n_features)


def init_activation_params(params: Params, spec: ModelSpec,
                           activation: str | ActivationLike) -> Params:
    """``params`` with each layer's learnable activation parameters at their start values."""
    return family(spec).init_activation_params(spec, params, resolve(activation))


__all__ = [
    "DEFAULT_INIT",
    "FAMILIES",
    "ActivationLike",
    "Family",
    "Model",
    "ModelSpec",
    "Params",
    "Switched",
    "family",
    "get",
    "init_activation_params",
    "init_weights",
    "learned",
    "resolve",
    "weight_bits",
    "weights_from_bits",
]
