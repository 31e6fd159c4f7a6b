"""``relulab.keras.seed_program``: every seed of one activation trained as one JAX program,
for :class:`relulab.keras.KerasEngine` on Keras' JAX backend.

Keras' JAX trainer is stateless underneath: ``model.train_step(state, batch)`` maps the
model's variables, the optimiser's and the loss tracker's to their values after one
batch, and ``model.fit`` is a loop over it. :class:`SeedProgram` runs that same step
under ``jax.vmap`` over a stack of states, one per seed (each seed's own initial weights
and the optimiser's initial state, which is the same for all), and ``lax.scan`` over an
epoch's full batches (then one step for the last, smaller batch). Each seed reads its
own batch order: the batches are index arrays into the training data, which stays on
the device once. Nothing of Keras' update is rewritten here, so losses, regularisation
penalties, loss scaling, dropout's seed generators and batch norm's moving statistics
behave as in ``model.fit``, seed by seed, up to float32 rounding.

The validation loss is ``model.test_step`` over the validation batches (the loss
tracker's mean weighted by batch size, as ``evaluate`` computes it); predictions and the
activity of the sites are ``stateless_call`` in inference mode.

What the engine does between epochs (early stopping, divergence, dead units) stays in
:mod:`relulab.keras.engine_keras`, which falls back to one ``model.fit`` per seed when a
model cannot be run this way (:class:`CannotStack`, or an error while tracing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from relulab.keras.callback import unit_abs_sum

__all__ = ["CannotStack", "SeedProgram", "State"]

# A stacked state: (trainable, non-trainable, optimiser, metrics) variable values, each a
# list of arrays with the seeds on the first axis.
State = tuple[list[Any], list[Any], list[Any], list[Any]]


class CannotStack(Exception):
    """The seeds' models cannot share one program (they differ in their variables)."""


def _values(variables: Sequence[Any]) -> list[Any]:
    return [jnp.asarray(v.value) for v in variables]


def _stack(per_seed: Sequence[Sequence[Any]]) -> list[Any]:
    return [jnp.stack(parts) for parts in zip(*per_seed, strict=True)]


def _pick(mask: Any, new: Any, old: Any) -> Any:
    """``new`` where ``mask`` (one bool per seed) holds, else ``old``; leaf by leaf."""
    def one(a: Any, b: Any) -> Any:
        return jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
    return jax.tree.map(one, new, old)


class SeedProgram:
    """One activation's seeds as one program.

    Args:
        template: the first seed's model, compiled with the optimiser and loss of the
            study and built (its optimiser's and loss tracker's variables exist); its
            structure runs every seed.
        models: every seed's model (the template among them), built by the same
            ``build``: the same variables in the same order and shapes.
        probe: a model whose outputs are the sites' activity, made of ``template``'s
            layers (its variables a subset of the template's), or None.
    """

    def __init__(self, template: Any, models: Sequence[Any], probe: Any = None) -> None:
        self.model = template
        shapes = [tuple(v.shape) for v in template.variables]
        for model in models:
            if [tuple(v.shape) for v in model.variables] != shapes:
                raise CannotStack("the seeds' models differ in their variables' shapes")
        self.seeds = len(models)
        self._tv = _stack([_values(m.trainable_variables) for m in models])
        self._ntv = _stack([_values(m.non_trainable_variables) for m in models])
        self._ov = [jnp.broadcast_to(v, (self.seeds, *v.shape))
                    for v in _values(template.optimizer.variables)]
        self._mv0 = [jnp.broadcast_to(v, (self.seeds, *v.shape))
                     for v in _values(template.metrics_variables)]
        self._probe = None
        if probe is not None:
            where = {id(v): i for i, v in enumerate(template.trainable_variables)}
            where_nt = {id(v): i for i, v in enumerate(template.non_trainable_variables)}
            try:
                self._probe = (probe, [where[id(v)] for v in probe.trainable_variables],
                               [where_nt[id(v)] for v in probe.non_trainable_variables])
            except KeyError as missing:
                raise CannotStack("the probe's variables are not the model's") from missing
        self._epoch = jax.jit(self._epoch_fn)
        self._test = jax.jit(self._test_fn)
        self._call = jax.jit(self._call_fn)
        self._sites = jax.jit(self._sites_fn)
        self._pick = jax.jit(_pick)

    # -- state --

    def initial(self) -> State:
        """Every seed's state before training."""
        return self._tv, self._ntv, self._ov, self._mv0

    def weights(self, state: State) -> tuple[list[Any], list[Any]]:
        """The model variables of ``state``: (trainable, non-trainable), which is what
        :meth:`loss`, :meth:`predict` and :meth:`abs_sums` need (a whole state does as
        well)."""
        return state[0], state[1]

    def write(self, state: Any, models: Sequence[Any]) -> None:
        """Assign each seed's weights in ``state`` to its model, so that a model holds
        what it was trained to, as after ``model.fit``."""
        tv, ntv = state[0], state[1]
        for k, model in enumerate(models):
            for variable, value in zip(model.trainable_variables, tv, strict=True):
                variable.assign(value[k])
            for variable, value in zip(model.non_trainable_variables, ntv, strict=True):
                variable.assign(value[k])

    def pick(self, mask: np.ndarray, new: Any, old: Any) -> Any:
        """``new`` for the seeds where ``mask`` holds, ``old`` for the others."""
        return self._pick(jnp.asarray(mask), new, old)

    # -- training --

    def _epoch_fn(self, state: State, x: Any, y: Any, full: Any, rest: Any) -> tuple[State, Any]:
        model = self.model

        def one(st: State, idx: Any) -> tuple[State, Any]:
            logs, st = model.train_step(st, (x[idx], y[idx]))
            return st, logs["loss"]

        step = jax.vmap(one)
        tv, ntv, ov, _ = state
        state = (tv, ntv, ov, self._mv0)  # fit resets the loss tracker every epoch
        loss = jnp.full((self.seeds,), jnp.nan)
        if full.shape[1]:
            state, losses = jax.lax.scan(step, state, jnp.swapaxes(full, 0, 1))
            loss = losses[-1]
        if rest.shape[1]:
            state, loss = step(state, rest)
        return state, loss

    def epoch(self, state: State, x: Any, y: Any, orders: np.ndarray,
              batch_size: int) -> tuple[State, np.ndarray]:
        """One epoch of every seed: seed ``k`` visits ``x[orders[k]]`` in batches of
        ``batch_size`` (the last may be smaller). The state after it, and each seed's
        epoch loss (Keras' mean over the epoch's examples)."""
        seeds, n = orders.shape
        cut = n - n % batch_size
        full = orders[:, :cut].reshape(seeds, cut // batch_size, batch_size)
        rest = orders[:, cut:]
        state, loss = self._epoch(state, x, y, jnp.asarray(full, jnp.int32),
                                  jnp.asarray(rest, jnp.int32))
        return state, np.asarray(loss, np.float64)

    # -- evaluation --

    def _test_fn(self, tv: Any, ntv: Any, mv: Any, x: Any, y: Any) -> tuple[Any, Any]:
        def one(tv: Any, ntv: Any, mv: Any) -> tuple[Any, Any]:
            logs, (_, _, mv) = self.model.test_step((tv, ntv, mv), (x, y))
            return mv, logs["loss"]
        return jax.vmap(one)(tv, ntv, mv)

    def loss(self, state: Any, x: Any, y: Any, rows: int) -> np.ndarray:
        """Each seed's loss on ``(x, y)`` in batches of ``rows``, as ``evaluate``."""
        tv, ntv = state[0], state[1]
        mv, loss = self._mv0, None
        for i in range(0, len(x), rows):
            mv, loss = self._test(tv, ntv, mv, x[i:i + rows], y[i:i + rows])
        return np.asarray(loss, np.float64)

    def _call_fn(self, tv: Any, ntv: Any, x: Any) -> Any:
        def one(tv: Any, ntv: Any) -> Any:
            out, _ = self.model.stateless_call(tv, ntv, x, training=False)
            return out
        return jax.vmap(one)(tv, ntv)

    def predict(self, state: Any, x: np.ndarray, rows: int) -> np.ndarray:
        """Each seed's outputs on ``x`` in inference mode, ``(seeds, n, ...)``, float64."""
        tv, ntv = state[0], state[1]
        return np.concatenate([np.asarray(self._call(tv, ntv, x[i:i + rows]), np.float64)
                               for i in range(0, len(x), rows)], axis=1)

    def _sites_fn(self, tv: Any, ntv: Any, x: Any) -> Any:
        probe, picked, picked_nt = self._probe

        def one(tv: Any, ntv: Any) -> Any:
            out, _ = probe.stateless_call([tv[i] for i in picked], [ntv[i] for i in picked_nt],
                                          x, training=False)
            return list(out) if isinstance(out, (list, tuple)) else [out]
        return jax.vmap(one)(tv, ntv)

    def abs_sums(self, state: Any, x: np.ndarray, rows: int) -> list[np.ndarray]:
        """Each site's per-unit sum of ``|a|`` over ``x`` (float64), ``(seeds, units)``
        per site, as :func:`relulab.keras.callback.abs_sums` sums one model's."""
        tv, ntv = state[0], state[1]
        sums: list[np.ndarray] | None = None
        for i in range(0, len(x), rows):
            outs = self._sites(tv, ntv, x[i:i + rows])
            parts = [np.stack([unit_abs_sum(a) for a in np.asarray(out)]) for out in outs]
            sums = parts if sums is None else [s + p for s, p in zip(sums, parts, strict=True)]
        return sums or []
