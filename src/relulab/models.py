"""The forecasting models, pure JAX: an LSTM with Keras 3 semantics and an MLP.

Parameters are plain pytrees (nested dicts and tuples of arrays) named as Keras names its
weights, so ``layer.set_weights([kernel, recurrent_kernel, bias])`` reproduces a model
exactly. Every function here is pure and vmappable over any leading batch of models.

LSTM (Keras ``LSTM(units, activation=A, recurrent_activation=r)``), per timestep, with
:math:`z = x W + h U + b` split into the blocks i, f, c, o in that order:

.. math::

    i = r(z_i),\\; f = r(z_f),\\; g = A(z_c),\\; o = r(z_o),\\qquad
    c' = f c + i g,\\qquad h' = o\\, A(c')

Inputs are shaped ``(batch, timesteps, features)``; a 2-D ``(batch, lookback)`` input is
read as Keras' ``input_shape=(1, lookback)``: one timestep carrying ``lookback`` features.
Stacked layers pass their whole sequence on (``return_sequences=True`` between layers);
the last layer's final ``h`` feeds ``Dense(1)``.

MLP: ``Dense(units, A)`` x ``layers`` then ``Dense(1)`` on the flattened window.

Learnable activation parameters (PReLU's ``weight``) live in the pytree beside the layer
that uses them, one shared scalar per layer, under ``"activation"`` /
``"recurrent_activation"``; they are passed to ``Activation.apply`` and trained with the
rest.
"""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from relulab.config import StudyConfig

Params = dict[str, Any]


class ActivationLike(Protocol):
    """What the models need of a ``relulab.activations.Activation``."""

    learnable: tuple[str, ...]
    params: dict[str, Any]

    def apply(self, x: jax.Array, **params: Any) -> jax.Array: ...


def resolve(activation: str | ActivationLike) -> ActivationLike:
    """An activation object from a name of ``relulab.activations`` (or the object itself)."""
    if isinstance(activation, str):
        from relulab import activations

        return activations.get(activation)
    return activation


# --- Keras initialisers -------------------------------------------------------------------


# The initialisers read raw 32-bit random words rather than a key: a study draws every
# model's words in one call (``init_weights``), since each separate ``jax.random`` call
# compiles its own copy of the Threefry hash (~0.3 s each on a 2-core CPU). The
# word-to-float maps are jax.random's own.


def uniform_from_bits(bits: jax.Array, low: float, high: float) -> jax.Array:
    """U[low, high) floats from uint32 words, as ``jax.random.uniform`` maps them."""
    mantissa = (bits >> jnp.uint32(32 - 23)) | jnp.uint32(0x3F800000)
    unit = jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0  # [0, 1)
    return jnp.maximum(jnp.float32(low), unit * (jnp.float32(high) - low) + low)


def normal_from_bits(bits: jax.Array) -> jax.Array:
    """Standard normal floats from uint32 words, as ``jax.random.normal`` maps them."""
    low = jnp.nextafter(jnp.float32(-1.0), jnp.float32(0.0))
    return jnp.float32(2.0 ** 0.5) * jax.lax.erf_inv(uniform_from_bits(bits, low, 1.0))


def glorot_uniform(bits: jax.Array) -> jax.Array:
    """Keras' ``GlorotUniform`` of shape ``bits.shape``: U(-l, l),
    :math:`l = \\sqrt{6 / (fan_{in} + fan_{out})}`."""
    limit = (6.0 / (bits.shape[0] + bits.shape[1])) ** 0.5
    return uniform_from_bits(bits, -limit, limit)


def orthogonal(bits: jax.Array) -> jax.Array:
    """Keras' ``Orthogonal`` initialiser (gain 1) of shape ``bits.shape``.

    Keras draws a normal matrix of shape (max, min), takes Q of its QR decomposition with
    the signs of R's diagonal folded in (so Q is Haar-distributed), and transposes when
    rows < cols. For an LSTM's (units, 4*units) recurrent kernel the result has
    orthonormal *rows*: :math:`U U^T = I_{units}` (the blocks themselves are not
    orthogonal).
    """
    rows, cols = bits.shape
    a = normal_from_bits(bits.reshape(max(rows, cols), min(rows, cols)))
    q, r = jnp.linalg.qr(a)
    q = q * jnp.sign(jnp.diag(r))
    return q.T if rows < cols else q


def _activation_params(act: ActivationLike) -> dict[str, jax.Array]:
    # One shared scalar per learnable parameter and layer, started at the activation's
    # default (0.25 for PReLU, as PyTorch and the PReLU paper start it).
    return {name: jnp.asarray(act.params[name], jnp.float32) for name in act.learnable}


def _act(act: ActivationLike, x: jax.Array, learned: dict[str, jax.Array]) -> jax.Array:
    return act.apply(x, **learned) if learned else act.apply(x)


def _matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    # The layers are tiny (a handful of inputs and units): a broadcast multiply and a sum
    # fuse with their neighbours on CPU, where a dot is a library call per batch entry,
    # and the sum's order does not depend on how many models are batched, so a model's
    # bits do not depend on the batch it trains in.
    return jnp.sum(x[..., :, None] * w, axis=-2)


# --- init --------------------------------------------------------------------------------


def _weight_shapes(config: StudyConfig, n_features: int) -> list[tuple[int, int]]:
    if config.model == "mlp":
        widths = [n_features] + [config.units] * config.layers
        return [(a, b) for a, b in itertools.pairwise(widths)] + [(widths[-1], 1)]
    u = config.units
    shapes = []
    for k in range(config.layers):
        shapes += [(n_features if k == 0 else u, 4 * u), (u, 4 * u)]
    return [*shapes, (u, 1)]


def weight_bits(config: StudyConfig, n_features: int) -> int:
    """How many random uint32 words :func:`weights_from_bits` reads."""
    return sum(a * b for a, b in _weight_shapes(config, n_features))


def init_weights(key: jax.Array, config: StudyConfig, n_features: int) -> Params:
    """Keras-initialised weights of ``config.model`` for inputs of ``n_features``.

    Activation parameters are left empty (see :func:`init_activation_params`): the random
    part of the initialisation does not depend on the activation, so all activations of a
    study share it (and one compiled initialiser).
    """
    bits = jax.random.bits(key, (weight_bits(config, n_features),), jnp.uint32)
    return weights_from_bits(bits, config, n_features)


def weights_from_bits(bits: jax.Array, config: StudyConfig, n_features: int) -> Params:
    """:func:`init_weights` from ``weight_bits(config, n_features)`` random words."""
    draws = []
    offset = 0
    for shape in _weight_shapes(config, n_features):
        draws.append(bits[offset:offset + shape[0] * shape[1]].reshape(shape))
        offset += shape[0] * shape[1]
    dense = {"kernel": glorot_uniform(draws[-1]), "bias": jnp.zeros((1,))}
    if config.model == "mlp":
        hidden = tuple({"kernel": glorot_uniform(w), "bias": jnp.zeros((w.shape[1],)),
                        "activation": {}} for w in draws[:-1])
        return {"hidden": hidden, "dense": dense}

    u = config.units
    # unit_forget_bias=True: the forget block of the bias starts at 1.
    bias = jnp.zeros((4 * u,)).at[u:2 * u].set(1.0)
    layers = tuple({"kernel": glorot_uniform(w), "recurrent_kernel": orthogonal(r),
                    "bias": bias, "activation": {}, "recurrent_activation": {}}
                   for w, r in zip(draws[0:-1:2], draws[1:-1:2], strict=True))
    return {"lstm": layers, "dense": dense}


def init_activation_params(
    params: Params,
    config: StudyConfig,
    activation: str | ActivationLike,
    recurrent_activation: str | ActivationLike | None = None,
) -> Params:
    """``params`` with each layer's learnable activation parameters at their start values."""
    act = resolve(activation)
    if config.model == "mlp":
        return {**params, "hidden": tuple({**layer, "activation": _activation_params(act)}
                                          for layer in params["hidden"])}
    rec = resolve(recurrent_activation or config.recurrent_activation)
    return {**params, "lstm": tuple(
        {**layer, "activation": _activation_params(act),
         "recurrent_activation": _activation_params(rec)}
        for layer in params["lstm"])}


def init_params(
    key: jax.Array,
    config: StudyConfig,
    n_features: int,
    activation: str | ActivationLike,
    recurrent_activation: str | ActivationLike | None = None,
) -> Params:
    """Keras-initialised parameters of ``config.model`` for inputs of ``n_features``,
    learnable activation parameters included.

    ``recurrent_activation`` defaults to ``config.recurrent_activation`` (LSTM only).
    """
    return init_activation_params(init_weights(key, config, n_features), config,
                                  activation, recurrent_activation)


# --- forward -----------------------------------------------------------------------------


def _lstm_layer(
    layer: Params, xs: jax.Array, act: ActivationLike, rec: ActivationLike
) -> jax.Array:
    """One LSTM layer over ``xs (batch, T, F)`` from a zero state; returns ``h (batch, T, u)``."""
    W, U, b = layer["kernel"], layer["recurrent_kernel"], layer["bias"]
    la, lr = layer["activation"], layer["recurrent_activation"]
    u = U.shape[0]

    def gates(z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        return (_act(rec, z[..., :u], lr), _act(rec, z[..., u:2 * u], lr),
                _act(act, z[..., 2 * u:3 * u], la), _act(rec, z[..., 3 * u:], lr))

    # The first step starts from h = c = 0, so h·U and f*c vanish exactly; skipping them
    # gives the same numbers and saves the work (the seed preset has a single timestep).
    i, _, g, o = gates(_matmul(xs[:, 0], W) + b)
    c = i * g
    h = o * _act(act, c, la)
    if xs.shape[1] == 1:
        return h[:, None]

    def step(carry: tuple[jax.Array, jax.Array], x: jax.Array):
        h, c = carry
        i, f, g, o = gates(_matmul(x, W) + _matmul(h, U) + b)
        c = f * c + i * g
        h = o * _act(act, c, la)
        return (h, c), h

    _, hs = jax.lax.scan(step, (h, c), jnp.swapaxes(xs[:, 1:], 0, 1))
    return jnp.concatenate([h[:, None], jnp.swapaxes(hs, 0, 1)], axis=1)


def hidden_outputs(
    params: Params,
    X: jax.Array,
    config: StudyConfig,
    activation: str | ActivationLike,
    recurrent_activation: str | ActivationLike | None = None,
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """``(features, hiddens)``: the input of the final ``Dense(1)`` and every hidden layer's
    output at the last timestep, each ``(batch, units)`` (where dead units show as zeros).
    """
    act = resolve(activation)
    if config.model == "mlp":
        a = X.reshape(X.shape[0], -1)
        hiddens = []
        for layer in params["hidden"]:
            a = _act(act, _matmul(a, layer["kernel"]) + layer["bias"], layer["activation"])
            hiddens.append(a)
        return a, tuple(hiddens)

    rec = resolve(recurrent_activation or config.recurrent_activation)
    xs = X[:, None, :] if X.ndim == 2 else X
    hiddens = []
    for layer in params["lstm"]:
        xs = _lstm_layer(layer, xs, act, rec)
        hiddens.append(xs[:, -1])
    return xs[:, -1], tuple(hiddens)


def apply(
    params: Params,
    X: jax.Array,
    config: StudyConfig,
    activation: str | ActivationLike,
    recurrent_activation: str | ActivationLike | None = None,
) -> jax.Array:
    """One-step forecasts ``(batch,)`` for windows ``X`` ``(batch, lookback)`` (or
    ``(batch, timesteps, features)`` for the LSTM)."""
    features, _ = hidden_outputs(params, X, config, activation, recurrent_activation)
    return dense_output(params, features)


def dense_output(params: Params, features: jax.Array) -> jax.Array:
    """The final ``Dense(1)`` on ``features (batch, units)``: forecasts ``(batch,)``."""
    dense = params["dense"]
    return (_matmul(features, dense["kernel"]) + dense["bias"])[:, 0]
