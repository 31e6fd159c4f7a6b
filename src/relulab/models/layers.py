"""What every model family shares: activations with learnable parameters, the product of a
layer, and the ``Dense(1)`` head that turns the last hidden layer into a forecast."""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp

from relulab.models.initializers import glorot_uniform

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


def activation_params(act: ActivationLike) -> dict[str, jax.Array]:
    """A layer's learnable parameters of ``act`` at their start values."""
    # One shared scalar per learnable parameter and layer, started at the activation's
    # default (0.25 for PReLU, as PyTorch and the PReLU paper start it).
    return {name: jnp.asarray(act.params[name], jnp.float32) for name in act.learnable}


def activate(act: ActivationLike, x: jax.Array, learned: dict[str, jax.Array]) -> jax.Array:
    """``act(x)`` with the layer's learned parameters (if it has any)."""
    return act.apply(x, **learned) if learned else act.apply(x)


def matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x @ w`` over the last axis of ``x``."""
    # A dot. The layers are tiny (a handful of inputs and units) and were once a
    # broadcast multiply and a sum, which fused with their neighbours where an older XLA
    # made a dot a library call per batch entry; on JAX 0.10's CPU backend the dot is
    # twice as fast on batches of windows (a global LSTM(4) of 32-window batches, 3 seeds:
    # 1.03-1.19 against 0.46-0.61 us a window) and no slower at batch 1, where XLA turns
    # it into that multiply and sum itself. Each model's product is its own (M, K) x
    # (K, N) whatever the number of models batched beside it, so a model's bits still do
    # not depend on its batch (tests/test_training.py, tests/test_adaptive_seeds.py).
    return jnp.matmul(x, w)


def dense_weights(bits: jax.Array) -> Params:
    """Keras' ``Dense(outputs)`` weights from ``(units, outputs)`` random words: Glorot
    kernel, zero bias."""
    return {"kernel": glorot_uniform(bits), "bias": jnp.zeros((bits.shape[1],))}


def dense(params: Params, features: jax.Array) -> jax.Array:
    """The head on ``features (batch, units)``: forecasts ``(batch,)`` from ``Dense(1)``,
    ``(batch, H)`` from a direct multi-step head ``Dense(H)``."""
    out = matmul(features, params["kernel"]) + params["bias"]
    return out[:, 0] if out.shape[-1] == 1 else out


class Switched:
    """Several activations in one compiled program: ``apply`` runs the one ``index``
    chooses, by ``lax.switch``.

    ``index`` is a traced scalar shared by every model of a batch (never batched), so the
    switch stays a real branch at run time: each call evaluates only the chosen activation.
    (A per-model index under ``vmap`` turns the switch into a select that evaluates every
    branch.) The members must have the same learnable parameters; their start values are
    chosen by ``index`` too. The chosen branch computes exactly what the activation computes
    on its own, so numbers do not depend on what else shares the program.
    """

    def __init__(self, members: tuple[ActivationLike, ...], index: Any):
        learnable = {tuple(m.learnable) for m in members}
        if len(learnable) != 1:
            raise ValueError("activations sharing a program need the same learnable "
                             f"parameters, got {sorted(learnable)}")
        self.members, self.index = tuple(members), index
        self.learnable = tuple(members[0].learnable)
        self.params = {name: jnp.stack([jnp.asarray(m.params[name], jnp.float32)
                                        for m in members])[index]
                       for name in self.learnable}

    def apply(self, x: jax.Array, **learned: Any) -> jax.Array:
        branches = [lambda x, learned, m=m: activate(m, x, learned) for m in self.members]
        return jax.lax.switch(self.index, branches, x, learned)
