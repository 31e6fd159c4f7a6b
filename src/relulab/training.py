"""Training, Keras ``model.fit`` semantics, many seeds at once.

A training run is a pure function of ``(spec, activation, data, key)``, where a
:class:`TrainSpec` holds the model's :class:`~relulab.models.ModelSpec` and ``fit``'s
settings (``TrainSpec.from_config(study_config)``): :func:`train` trains one model;
:func:`train_many` is ``jit(vmap(train))`` over seeds, so every seed of one configuration
runs in one compiled program (the epoch loop is a ``lax.scan`` whose body holds the step
loop, another ``lax.scan``). The per-model function is vmappable over any
leading axes, so batching series x seeds is one more ``vmap``.

What ``model.fit(X, y, epochs, batch_size, validation_split, shuffle=True)`` does, and so
what this does:

* The validation tail is cut off *before* shuffling (``windows.py`` makes ``X_fit`` and
  ``X_val``); the fit samples are reshuffled every epoch (per seed here).
* ``ceil(n / batch_size)`` steps per epoch; the last batch may be smaller. The loss of a
  batch is its mean squared error; the epoch's loss is the batch losses' mean weighted by
  batch size (Keras' loss tracker), i.e. the mean over the epoch's samples.
* ``val_loss`` is the MSE over the validation windows with the weights at the epoch's end.
* Optax's Adam with Keras' epsilon placement (see :func:`keras_adam`).
* ``EarlyStopping(monitor="val_loss", patience=p, restore_best_weights=True)`` when
  ``spec.patience`` is set: Keras 3 restores the best epoch's weights at the end of
  training whether or not it stopped early.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from relulab import models
from relulab.specs import ModelSpec, TrainSpec

# Unrolling the step loop was measured (seed preset, 2-core CPU): unroll 2 or 4 compiles
# 1.5x slower for no faster run, full unroll (60) 10x slower. A plain loop it is.
_STEP_UNROLL = 1
# Rows per chunk of the end-of-epoch forward pass (see _fit's evaluate).
_EVAL_ROWS = 16


class TrainData(NamedTuple):
    """The windows one model trains on (float32): ``X_fit (n, L)``, ``y_fit (n,)``, and
    Keras' validation tail ``X_val (m, L)``, ``y_val (m,)`` (``m`` may be 0); a direct
    multi-step model's targets are ``(n, H)`` and ``(m, H)``."""

    X_fit: Any
    y_fit: Any
    X_val: Any
    y_val: Any

    @classmethod
    def from_arrays(cls, X_fit, y_fit, X_val=None, y_val=None) -> TrainData:
        X_fit = np.asarray(X_fit, np.float32)
        y_fit = np.asarray(y_fit, np.float32)
        # One target per window, or H of a direct multi-step forecast.
        target = y_fit.shape[1:] if y_fit.ndim == 2 and y_fit.shape[1] > 1 else ()
        if X_val is None:
            X_val = np.zeros((0, *X_fit.shape[1:]), np.float32)
            y_val = np.zeros((0, *target), np.float32)
        return cls(X_fit, y_fit.reshape(-1, *target), np.asarray(X_val, np.float32),
                   np.asarray(y_val, np.float32).reshape(-1, *target))

    @classmethod
    def from_prepared(cls, prepared: Any) -> TrainData:
        """From ``windows.prepare(...)``: ``fit`` and Keras' ``val_loss`` tail."""
        return cls.from_arrays(prepared.fit.X, prepared.fit.y,
                               prepared.val_loss.X, prepared.val_loss.y)


class StreamedData(NamedTuple):
    """The windows one model trains on, read from series inside its program: a global
    model's panel takes the room of its series, not ``lookback`` times it.

    ``seq``: every series' model inputs end to end (``windows.Windows.seq``: ``(P,)``
    float32, or ``(P, 2)`` float32 pairs for the per-window scalers); ``offsets``
    ``arange(L)`` (int32), whose length is the lookback; ``fit_first`` ``(n,)`` and
    ``val_first`` ``(m,)`` (int32): each fit and validation window's first input's place
    in ``seq``; ``y_fit``, ``y_val`` their targets, as :class:`TrainData` holds them (a
    window's ``H`` targets are ``H`` values to its ``L`` inputs); for the per-window
    scalers each window's ``loc`` ``(·, 2)`` and ``inv`` (``scaled_rows.window_rows``), None
    otherwise. Every window is the one :class:`TrainData` would hold, bit for bit: the
    targets are stored, not computed in the program, where XLA would fuse a scaled
    target's product into the loss's subtraction (one rounding fewer)."""

    seq: Any
    offsets: Any
    fit_first: Any
    val_first: Any
    y_fit: Any
    y_val: Any
    fit_loc: Any = None
    fit_inv: Any = None
    val_loc: Any = None
    val_inv: Any = None

    def inputs(self, first: jax.Array, loc: Any, inv: Any) -> jax.Array:
        """The inputs ``(k, L)`` of the windows starting at ``first``."""
        from relulab.scaled_rows import window_rows

        return window_rows(self.seq, first, self.offsets.shape[0], loc, inv)


class TrainOutput(NamedTuple):
    """What training returns; from :func:`train_many` every field has a leading seed axis.

    ``loss`` and ``val_loss`` are NaN for epochs after an early stop (and ``val_loss`` is
    NaN throughout without a validation split). ``best_epoch`` is the 0-based epoch whose
    weights ``params`` holds. ``epoch_stats`` maps a name to a per-epoch array:

    - ``dead_fraction``: the share of hidden-layer outputs (each layer's ``h``) exactly
      zero on every fit sample at the epoch's end;

    and, when the spec tracks units (``TrainSpec.track_units``), per activation site (every
    place the activation is applied: ``hiddenK`` for the MLP, ``lstmK.candidate`` and
    ``lstmK.cell`` for the LSTM; see ``models.Model.sites``):

    - ``dead_share:SITE``: the share of the site's units that are dead, their output
      exactly 0 on every fit sample (and timestep) at the epoch's end: no gradient flows
      through them;
    - ``dormant_share:SITE``: the share that are dormant (ReDo, Sokar et al. 2023): the
      unit's mean ``|a|`` over the fit samples, divided by the site's mean of that over its
      units, is at most ``TrainSpec.dormant_threshold`` (dead units are dormant; a smooth
      activation's units can be dormant without ever being exactly 0);
    - ``learned:NAME``: each learnable activation parameter (PReLU's slope) at the epoch's
      end.

    ``unit_stats`` holds per unit, never per epoch (its size does not grow with training):
    ``death_epoch:SITE`` (the first 0-based epoch at whose end the unit was dead, -1 if
    never), ``came_back:SITE`` (dead at some epoch's end, alive at a later one),
    ``dead:SITE`` and ``dormant:SITE`` (with the returned ``params``).
    """

    params: Any
    loss: Any
    val_loss: Any
    best_epoch: Any
    diverged: Any
    epoch_stats: dict[str, Any]
    unit_stats: dict[str, Any]


# --- optimiser ---------------------------------------------------------------------------


def keras_adam(
    learning_rate: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7
) -> optax.GradientTransformation:
    r"""``optax.adam`` configured to update exactly as ``keras.optimizers.Adam`` (Keras 3).

    .. math::

        \Delta_t = -\eta\,\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
                    \frac{m_t}{\sqrt{v_t} + \epsilon}
                  = -\eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon/\sqrt{1-\beta_2^t}}

    Keras' epsilon is the paper's "epsilon hat": it is added to :math:`\sqrt{v}` *before*
    bias correction, while ``optax.adam`` adds its ``eps`` to :math:`\sqrt{\hat v}`, after.
    The two agree when optax's epsilon follows the step, ``eps / sqrt(1 - b2**t)`` (at step
    1 with the defaults ~32x larger than 1e-7), so the optimiser is Optax's own Adam with
    that epsilon schedule injected; no update rule is written here.
    """

    def keras_eps(count: jax.Array) -> jax.Array:
        t = count.astype(jnp.float32) + 1  # optax counts updates from 0, Keras from 1
        return eps / jnp.sqrt(1 - jnp.power(jnp.float32(b2), t))

    return optax.inject_hyperparams(optax.adam)(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=keras_eps
    )


# --- one model ---------------------------------------------------------------------------


def steps_per_epoch(spec: TrainSpec, n: int) -> int:
    """Optimiser steps per epoch on ``n`` fit samples: ``ceil(n / batch_size)``, as Keras."""
    return -(-n // spec.batch_size)


class EpochRecord(NamedTuple):
    """What one epoch records; NaN for the epochs after an early stop.

    Attributes:
      loss: the epoch's training loss, the mean of its samples' squared errors.
      val_loss: the MSE on the validation tail at the epoch's end (NaN without one).
      dead_fraction: the share of hidden units whose output is exactly zero on every fit
        sample at the epoch's end.
      dead_share, dormant_share: per activation site, the share of its units dead and
        dormant at the epoch's end (empty when units are not tracked).
      learned: each learnable activation parameter at the epoch's end.
    """

    loss: jax.Array
    val_loss: jax.Array
    dead_fraction: jax.Array
    dead_share: dict[str, jax.Array]
    dormant_share: dict[str, jax.Array]
    learned: dict[str, jax.Array]


class EpochEnd(NamedTuple):
    """What the end of one epoch shows the trackers (and, masked, the record).

    Attributes:
      epoch: the 0-based epoch.
      ran: whether it trained: False once early stopping has stopped the run, and then the
        epoch changed nothing.
      params: the flat weights at the epoch's end.
      loss, val_loss: as in :class:`EpochRecord`.
      has_val: whether the series has validation rows, so that a NaN ``val_loss`` is a
        divergence, not a missing tail.
      dead_fraction: as in :class:`EpochRecord`.
      dead, dormant: per activation site, whether each unit is dead, and dormant
        (:func:`health_of`); empty when units are not tracked.
      learned: each learnable activation parameter.
    """

    epoch: jax.Array
    ran: jax.Array
    params: jax.Array
    loss: jax.Array
    val_loss: jax.Array
    has_val: jax.Array | bool
    dead_fraction: jax.Array
    dead: dict[str, jax.Array]
    dormant: dict[str, jax.Array]
    learned: dict[str, jax.Array]


def health_of(activity: jax.Array, threshold: float) -> tuple[jax.Array, jax.Array]:
    """``(dead, dormant)`` per unit of one site, from each unit's summed ``|a|`` over the
    fit samples (and timesteps).

    Dead: exactly 0 on every sample. Dormant (Sokar et al. 2023, "The Dormant Neuron
    Phenomenon in Deep Reinforcement Learning", eq. 1): the unit's mean ``|a|`` over the
    samples divided by the mean of that over the site's units is at most ``threshold``;
    with every unit silent (a site mean of 0) every unit is dormant.
    """
    dead = activity == 0
    # score <= threshold, as activity <= threshold * mean: no division, so no guard for
    # a site whose units are all silent (then every unit is dormant: 0 <= 0).
    dormant = activity <= threshold * jnp.mean(activity)
    return dead, dormant


def _where(flag: jax.Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


# --- the trackers the epoch loop folds ---------------------------------------------------
#
# Each tracker is a pure (init, update) pair over its own NamedTuple state, as an Optax
# transformation is over the steps (optax.contrib.reduce_on_plateau keeps its patience
# the same way): init(params) starts it, update(state, end) folds in an epoch's EpochEnd.


class Tracker(NamedTuple):
    """``init(params) -> state`` and ``update(state, end, ...) -> state``, pure."""

    init: Callable[..., Any]
    update: Callable[..., Any]


class EarlyStoppingState(NamedTuple):
    """Keras' ``EarlyStopping(monitor="val_loss", restore_best_weights=True)`` between
    epochs.

    Attributes:
      best_params: the weights of the best epoch so far, which early stopping restores.
      best_val_loss: that epoch's ``val_loss`` (inf before the first epoch).
      best_epoch: the 0-based epoch whose weights the run returns: the best one with early
        stopping, the last one run without.
      wait: epochs since ``val_loss`` last improved (Keras' ``EarlyStopping.wait``).
      active: False once early stopping has stopped the run; later epochs change nothing.
    """

    best_params: jax.Array
    best_val_loss: jax.Array
    best_epoch: jax.Array
    wait: jax.Array
    active: jax.Array


def early_stopping(patience: int | None) -> Tracker:
    """Keras' ``EarlyStopping(monitor="val_loss", patience=patience,
    restore_best_weights=True)``; with ``patience=None`` the run never stops and keeps its
    last epoch."""

    def init(params: jax.Array) -> EarlyStoppingState:
        return EarlyStoppingState(best_params=params, best_val_loss=jnp.float32(jnp.inf),
                                  best_epoch=jnp.int32(0), wait=jnp.int32(0),
                                  active=jnp.bool_(True))

    def update(state: EarlyStoppingState, end: EpochEnd) -> EarlyStoppingState:
        if patience is None:
            return state._replace(best_epoch=end.epoch)
        # Keras: the first epoch is always an improvement; patience counts epochs since
        # the last one; stop once it is used up.
        improved = end.ran & ((end.epoch == 0) | (end.val_loss < state.best_val_loss))
        wait = jnp.where(improved, 0, state.wait + 1)
        stop = end.ran & ~improved & (wait >= patience) & (end.epoch > 0)
        return EarlyStoppingState(
            best_params=_where(improved, end.params, state.best_params),
            best_val_loss=jnp.where(improved, end.val_loss, state.best_val_loss),
            best_epoch=jnp.where(improved, end.epoch, state.best_epoch),
            wait=wait, active=state.active & ~stop)

    return Tracker(init, update)


class DivergenceState(NamedTuple):
    """``diverged``: an epoch run had a non-finite loss, or ``val_loss`` on a series with
    validation rows."""

    diverged: jax.Array


def divergence() -> Tracker:
    """Whether the run diverged (:class:`DivergenceState`)."""

    def init(params: jax.Array) -> DivergenceState:
        return DivergenceState(jnp.bool_(False))

    def update(state: DivergenceState, end: EpochEnd) -> DivergenceState:
        bad = ~jnp.isfinite(end.loss) | (end.has_val & ~jnp.isfinite(end.val_loss))
        return DivergenceState(state.diverged | (end.ran & bad))

    return Tracker(init, update)


class UnitHealthState(NamedTuple):
    """Per activation site, per unit; nothing grows with the epochs.

    Attributes:
      death_epoch: each unit's first epoch found dead at its end (-1: never).
      came_back: units found dead at one epoch's end and alive at a later one.
      dead_kept, dormant_kept: each unit's state at the end of the epoch whose weights the
        run returns.
    """

    death_epoch: dict[str, jax.Array]
    came_back: dict[str, jax.Array]
    dead_kept: dict[str, jax.Array]
    dormant_kept: dict[str, jax.Array]


def unit_health(site_units: dict[str, int]) -> Tracker:
    """Dead and dormant units of each site (``{site: unit count}``) over the epochs; its
    ``update(state, end, kept)`` also takes whether ``end``'s weights are the ones the run
    returns (early stopping decides)."""

    def init(params: jax.Array) -> UnitHealthState:
        return UnitHealthState(
            death_epoch={k: jnp.full((u,), -1, jnp.int32) for k, u in site_units.items()},
            came_back={k: jnp.zeros((u,), bool) for k, u in site_units.items()},
            dead_kept={k: jnp.zeros((u,), bool) for k, u in site_units.items()},
            dormant_kept={k: jnp.zeros((u,), bool) for k, u in site_units.items()})

    def update(state: UnitHealthState, end: EpochEnd, kept: jax.Array) -> UnitHealthState:
        died = state.death_epoch
        return UnitHealthState(
            death_epoch={k: jnp.where(end.ran & dead & (died[k] < 0), end.epoch, died[k])
                         for k, dead in end.dead.items()},
            came_back={k: state.came_back[k] | (end.ran & ~dead & (died[k] >= 0))
                       for k, dead in end.dead.items()},
            dead_kept={k: jnp.where(kept, d, state.dead_kept[k]) for k, d in end.dead.items()},
            dormant_kept={k: jnp.where(kept, d, state.dormant_kept[k])
                          for k, d in end.dormant.items()})

    return Tracker(init, update)


class EpochState(NamedTuple):
    """The epoch loop's carry: one model's training between two epochs.

    Attributes:
      params: the flat parameter vector at the end of the last epoch run.
      opt_state: Adam's state for ``params``.
      stopping, divergence, units: the trackers' states (:func:`early_stopping`,
        :func:`divergence`, :func:`unit_health`).
    """

    params: jax.Array
    opt_state: optax.OptState
    stopping: EarlyStoppingState
    divergence: DivergenceState
    units: UnitHealthState


def _start(spec: TrainSpec, n_features: int, n: int, key: jax.Array,
           n_real: jax.Array | None = None) -> tuple[Any, jax.Array]:
    """Initial weights and every epoch's shuffle order ``(epochs, n)`` from one key.

    Independent of the activation, so one compiled program serves a whole study. With
    ``n_real`` (a traced count, at most ``n``) the series has only ``n_real`` fit samples,
    padded to ``n``: each epoch's first ``n_real`` entries are the order an unpadded start
    of ``n_real`` samples gives, bit for bit, and the padding rows follow them.
    """
    n_init = models.weight_bits(spec.model, n_features)
    if spec.shuffle == "streamed":
        # The same initial weights (Threefry's first words do not depend on how many are
        # drawn); in place of the orders, the key each epoch's key is folded from
        # (epoch_permutation).
        params = models.weights_from_bits(jax.random.bits(key, (n_init,), jnp.uint32),
                                          spec.model, n_features)
        return params, jax.random.key_data(jax.random.fold_in(key, 1))
    # One Threefry draw for everything (each jax.random call compiles its own copy of
    # the hash): the weights' words, then one word per sample and epoch, whose stable
    # argsort is that epoch's order, a uniform shuffle (ties, at odds ~n^2 / 2^33 an
    # epoch, fall back to sample order).
    bits = jax.random.bits(key, (n_init + spec.epochs * n,), jnp.uint32)
    params = models.weights_from_bits(bits[:n_init], spec.model, n_features)
    words = bits[n_init:].reshape(spec.epochs, n)
    if n_real is not None:
        # Threefry's words do not depend on how many are drawn (JAX's partitionable
        # Threefry hashes each word's own index), so the unpadded start's words are these
        # at epoch * n_real + sample; the padding rows get the largest word and so sort
        # after every real one (the sort is stable).
        e = jnp.arange(spec.epochs)[:, None]
        i = jnp.arange(n)[None, :]
        at = jnp.minimum(e * n_real + i, spec.epochs * n - 1)
        words = jnp.where(i < n_real, bits[n_init:][at], jnp.uint32(0xFFFFFFFF))
    orders = jnp.argsort(words, axis=-1, stable=True)
    return params, orders.astype(jnp.int32)


# A streamed shuffle's rounds (a balanced Feistel network; Luby and Rackoff's bound asks
# for 4 with a random round function, more make up for a cheap hash).
FEISTEL_ROUNDS = 6


def _mix32(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash with low bias (Wellons' "lowbias32"): exact uint32
    arithmetic, the same bits on every machine."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def epoch_permutation(key: jax.Array, positions: jax.Array, n: int) -> jax.Array:
    """A ``"streamed"`` shuffle: which of ``n`` samples sits at each of ``positions`` of the
    epoch whose key is ``key`` (``fold_in(model key, epoch)``), computed position by
    position, so no epoch's order is ever held.

    A pseudo-random permutation of ``[0, n)``: a balanced Feistel network of
    :data:`FEISTEL_ROUNDS` rounds over the smallest domain of ``4 ** k >= n`` values (each
    round ``left, right = right, left ^ (mix32(right ^ round_key) & mask)``, the round keys
    Threefry words of ``key``), walked until it lands inside ``[0, n)`` (cycle walking;
    at most 4 values of the domain per sample, so under 4 walks on average), a bijection
    of ``[0, n)`` for every key."""
    bits = max(2, int(n - 1).bit_length())
    half = (bits + 1) // 2
    mask = jnp.uint32((1 << half) - 1)
    round_keys = jax.random.bits(key, (FEISTEL_ROUNDS,), jnp.uint32)

    def network(x: jax.Array) -> jax.Array:
        left, right = x >> half, x & mask
        for r in range(FEISTEL_ROUNDS):
            left, right = right, left ^ (_mix32(right ^ round_keys[r]) & mask)
        return (left << half) | right

    def walk(y: jax.Array) -> jax.Array:
        return jnp.where(y >= n, network(y), y)

    y = network(positions.astype(jnp.uint32))
    return jax.lax.while_loop(lambda y: jnp.any(y >= n), walk, y).astype(jnp.int32)


# --- the epoch loop ----------------------------------------------------------------------


class _Batching(NamedTuple):
    """How an epoch's shuffled samples fill its ``steps`` batches of ``size`` rows: the last
    batch is topped up with ``pad`` rows from the order's start that ``mask`` (steps, size)
    keeps out of the loss, so it is Keras' smaller final batch. For a padded series,
    ``source[k]`` is the order's entry slot k takes, and ``step_on`` marks the steps that
    hold any of the series' own rows."""

    steps: int
    size: int
    pad: int
    mask: jax.Array
    source: jax.Array | None = None
    step_on: jax.Array | None = None


def _batching(spec: TrainSpec, n: int, n_real: jax.Array | None) -> _Batching:
    size = min(spec.batch_size, n)
    steps = steps_per_epoch(spec, n)
    pad = steps * size - n
    if n_real is None:
        mask = jnp.concatenate([jnp.ones(n), jnp.zeros(pad)]).reshape(steps, size)
        return _Batching(steps, size, pad, mask)
    # Position k of an epoch's batches takes the order's entry k, and the short last
    # batch is filled from the order's start (masked), as unpadded.
    k = jnp.arange(steps * size)
    real = k < n_real
    source = jnp.clip(jnp.where(real, k, k - n_real), 0, n - 1)
    step_on = jnp.arange(steps) < (n_real + size - 1) // size
    return _Batching(steps, size, pad, real.astype(jnp.float32).reshape(steps, size), source,
                     step_on)


class _Fit(NamedTuple):
    """What every epoch of one fit reads: the model, how to unflatten its weights, the
    windows (``fit_rows(idx)``: fit windows ``idx``'s inputs and targets; ``all_rows(idx)``:
    the inputs of rows ``idx`` of the fit then validation windows; ``y_val`` the
    validation targets), the fit and validation row counts ``n``, ``n_val``, the series'
    own (``n_val_rows``, padded: which validation rows are its own) and the batching."""

    spec: TrainSpec
    model: models.Model
    unravel: Callable[[jax.Array], Any]
    fit_rows: Callable[[jax.Array], tuple[jax.Array, jax.Array]]
    all_rows: Callable[[jax.Array], jax.Array]
    y_val: jax.Array
    n: int
    n_val: int
    streamed: bool
    padded: bool
    n_own: jax.Array | int
    n_val_own: jax.Array | int
    val_rows: jax.Array | None
    batching: _Batching


def _readers(data: TrainData | StreamedData) -> tuple[Any, Any, jax.Array]:
    """``fit_rows``, ``all_rows`` and ``y_val`` of :class:`_Fit` over ``data``: indexing
    the stored windows, or reading them from the series (:class:`StreamedData`)."""
    if isinstance(data, StreamedData):
        first = jnp.concatenate([data.fit_first, data.val_first])
        loc = None if data.fit_loc is None else jnp.concatenate([data.fit_loc, data.val_loc])
        inv = None if data.fit_inv is None else jnp.concatenate([data.fit_inv, data.val_inv])

        def pick(a: Any, idx: jax.Array) -> Any:
            return None if a is None else a[idx]

        def fit_rows(idx: jax.Array) -> tuple[jax.Array, jax.Array]:
            return (data.inputs(data.fit_first[idx], pick(data.fit_loc, idx),
                                pick(data.fit_inv, idx)), data.y_fit[idx])

        def all_rows(idx: jax.Array) -> jax.Array:
            return data.inputs(first[idx], pick(loc, idx), pick(inv, idx))

        return fit_rows, all_rows, data.y_val
    data = TrainData(*(jnp.asarray(a, jnp.float32) for a in data))
    X_all = jnp.concatenate([data.X_fit, data.X_val])
    return (lambda idx: (data.X_fit[idx], data.y_fit[idx]), lambda idx: X_all[idx],
            data.y_val)


def _row_counts(data: TrainData | StreamedData) -> tuple[int, int]:
    """How many fit and validation windows ``data`` holds (from shapes)."""
    if isinstance(data, StreamedData):
        return data.fit_first.shape[0], data.val_first.shape[0]
    return data.X_fit.shape[0], data.X_val.shape[0]


def _setup(spec: TrainSpec, act: models.ActivationLike, data: TrainData | StreamedData,
           unravel: Callable[[jax.Array], Any], n_real: jax.Array | None,
           n_val_real: jax.Array | None) -> _Fit:
    n, n_val = _row_counts(data)
    padded = n_real is not None
    fit_rows, all_rows, y_val = _readers(data)
    return _Fit(spec=spec, model=models.get(spec.model, act), unravel=unravel,
                fit_rows=fit_rows, all_rows=all_rows, y_val=y_val, n=n, n_val=n_val,
                streamed=isinstance(data, StreamedData), padded=padded,
                n_own=n_real if padded else n, n_val_own=n_val_real if padded else n_val,
                val_rows=(jnp.arange(n_val) < n_val_real) if padded else None,
                batching=_batching(spec, n, n_real))


def _squared(err: jax.Array) -> jax.Array:
    """Each window's squared error: ``err ** 2``, or over a multi-step target the mean of
    its steps' (Keras' mean squared error of a ``Dense(H)`` output)."""
    return err ** 2 if err.ndim == 1 else jnp.mean(err ** 2, axis=-1)


def _total(x: jax.Array) -> jax.Array:
    # A sum in one fixed order, first to last: trailing padding zeros leave it exactly
    # as it is, so a padded series sums to the same bits as unpadded. (A tree-shaped
    # reduction regroups its terms with the array's length.)
    return jax.lax.scan(lambda acc, v: (acc + v, None), jnp.zeros_like(x[0]), x)[0]


def _train_epoch(fit: _Fit, opt: optax.GradientTransformation, params: jax.Array,
                 opt_state: optax.OptState, order: jax.Array
                 ) -> tuple[tuple[jax.Array, optax.OptState], jax.Array]:
    """One epoch's optimiser steps over the fit samples in ``order``: the weights and
    Adam's state after them, and each step's summed squared error.

    A drawn shuffle's ``order`` is the epoch's; stored windows are then gathered in it up
    front (about 10% faster on a batch-1 local LSTM than one gather a step). A streamed
    shuffle's ``order`` is the epoch's key: each step computes its own batch's samples
    (:func:`epoch_permutation`) and reads their windows, so an epoch holds neither an
    order nor a shuffled copy of its windows, whatever its number of samples."""
    b = fit.batching
    if fit.spec.shuffle == "streamed":
        if fit.padded:
            raise ValueError("a streamed shuffle trains unpadded data (one pooled series)")

        def rows_of(step: jax.Array) -> tuple[jax.Array, jax.Array]:
            # The last batch is topped up from the epoch's start, as a drawn order is.
            at = step * b.size + jnp.arange(b.size)
            return fit.fit_rows(epoch_permutation(order, jnp.where(at < fit.n, at, at - fit.n),
                                                  fit.n))

        batches: tuple = (jnp.arange(b.steps), b.mask)
    else:
        if fit.padded:
            idx = order[b.source].reshape(b.steps, b.size)
        else:
            idx = jnp.concatenate([order, order[:b.pad]]).reshape(b.steps, b.size)
        rows_of = fit.fit_rows
        rows = idx if fit.streamed else fit.fit_rows(idx)
        batches = (rows, b.mask, b.step_on) if fit.padded else (rows, b.mask)
    per_step = fit.spec.shuffle == "streamed" or fit.streamed

    def batch_loss(p, x, y, m):
        err = fit.model.apply(fit.unravel(p), x) - y
        if err.ndim == 1:
            return jnp.sum(m * err * err) / jnp.sum(m)
        return jnp.sum(m * _squared(err)) / jnp.sum(m)

    grad_fn = jax.value_and_grad(batch_loss)

    def step(carry, batch):
        p, s = carry
        (x, y), m = rows_of(batch[0]) if per_step else batch[0], batch[1]
        loss, grads = grad_fn(p, x, y, m)
        updates, s_new = opt.update(grads, s, p)
        p_new = optax.apply_updates(p, updates)
        if not fit.padded:
            return (p_new, s_new), loss * jnp.sum(m)
        on = batch[2]  # a padding-only step: no update, no loss
        return ((_where(on, p_new, p), _where(on, s_new, s)),
                jnp.where(on, loss * jnp.sum(m), 0.0))

    return jax.lax.scan(step, (params, opt_state), batches, unroll=_STEP_UNROLL)


def _evaluate(fit: _Fit, q: Any) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """One forward pass with weights ``q`` over every fit and validation row: the
    forecasts, which hidden units are dead on the series' own fit rows, and each site's
    summed ``|a|`` over them.

    It runs in chunks of a fixed number of rows, each chunk reduced on its own and the
    chunks summed first to last: the shapes XLA compiles do not depend on the series'
    length, nor the sums on its padding, so every number is the unpadded run's, bit for bit.
    Each chunk reads its own rows (the last chunk's surplus repeats the last row, kept out
    of every statistic and dropped from the forecasts).
    """
    rows_all = fit.n + fit.n_val
    chunks = -(-rows_all // _EVAL_ROWS)
    at = jnp.minimum(jnp.arange(chunks * _EVAL_ROWS), rows_all - 1)
    own = jnp.arange(chunks * _EVAL_ROWS) < fit.n_own

    def chunk(args: tuple[jax.Array, jax.Array]) -> Any:
        idx, fit_row = args
        x = fit.all_rows(idx)
        if fit.spec.track_units:
            pred, hiddens, sites = fit.model.sites(q, x)
        else:
            (pred, hiddens), sites = fit.model.hidden(q, x), {}
        alive = jnp.concatenate([jnp.any((h != 0) & fit_row[:, None], axis=0)
                                 for h in hiddens])
        activity = {k: jnp.sum(jnp.where(fit_row.reshape(-1, *(1,) * (a.ndim - 1)),
                                         jnp.abs(a), 0).reshape(-1, a.shape[-1]), axis=0)
                    for k, a in sites.items()}
        return pred, alive, activity

    pred, alive, activity = jax.lax.map(
        chunk, (at.reshape(chunks, _EVAL_ROWS), own.reshape(chunks, _EVAL_ROWS)))
    return (pred.reshape(-1, *pred.shape[2:])[:rows_all], ~jnp.any(alive, axis=0),
            {k: _total(v) for k, v in activity.items()})


def _epoch_end(fit: _Fit, epoch: jax.Array, ran: jax.Array, params: jax.Array,
               losses: jax.Array) -> EpochEnd:
    """What the weights ``params`` at the end of ``epoch`` show, its steps' ``losses``
    summed into the epoch's loss."""
    n, y_val = fit.n, fit.y_val
    loss = _total(losses) / fit.n_own
    pred, dead, activity = _evaluate(fit, fit.unravel(params))
    if not y_val.shape[0]:
        val_loss, has_val = jnp.float32(jnp.nan), False
    elif fit.padded:  # 0 / 0, NaN, for a series without validation rows
        val_loss = (_total(jnp.where(fit.val_rows, _squared(pred[n:] - y_val), 0))
                    / fit.n_val_own)
        has_val = fit.n_val_own > 0
    else:
        val_loss, has_val = _total(_squared(pred[n:] - y_val)) / fit.n_val_own, True
    health = {k: health_of(v, fit.spec.dormant_threshold) for k, v in activity.items()}
    learned = fit.model.learned(fit.unravel(params)) if fit.spec.track_units else {}
    return EpochEnd(epoch=epoch, ran=ran, params=params, loss=loss, val_loss=val_loss,
                    has_val=has_val, dead_fraction=jnp.mean(dead.astype(jnp.float32)),
                    dead={k: d for k, (d, _) in health.items()},
                    dormant={k: m for k, (_, m) in health.items()}, learned=learned)


def _record(end: EpochEnd) -> EpochRecord:
    def kept(x: jax.Array) -> jax.Array:
        return jnp.where(end.ran, x, jnp.nan)

    def share(units: jax.Array) -> jax.Array:
        return kept(jnp.mean(units.astype(jnp.float32)))

    return EpochRecord(
        loss=kept(end.loss), val_loss=kept(end.val_loss), dead_fraction=kept(end.dead_fraction),
        dead_share={k: share(d) for k, d in end.dead.items()},
        dormant_share={k: share(m) for k, m in end.dormant.items()},
        learned={k: kept(v) for k, v in end.learned.items()})


def _output(fit: _Fit, state: EpochState, record: EpochRecord) -> TrainOutput:
    stopping, units = state.stopping, state.units
    final = stopping.best_params if fit.spec.patience is not None else state.params
    finite = jnp.all(jnp.isfinite(final))
    epoch_stats = {"dead_fraction": record.dead_fraction,
                   **{f"dead_share:{k}": v for k, v in record.dead_share.items()},
                   **{f"dormant_share:{k}": v for k, v in record.dormant_share.items()},
                   **{f"learned:{k}": v for k, v in record.learned.items()}}
    unit_stats = {}
    for k in units.death_epoch:
        unit_stats.update({f"death_epoch:{k}": units.death_epoch[k],
                           f"came_back:{k}": units.came_back[k],
                           f"dead:{k}": units.dead_kept[k], f"dormant:{k}": units.dormant_kept[k]})
    return TrainOutput(params=fit.unravel(final), loss=record.loss, val_loss=record.val_loss,
                       best_epoch=stopping.best_epoch,
                       diverged=state.divergence.diverged | ~finite,
                       epoch_stats=epoch_stats, unit_stats=unit_stats)


def _fit(spec: TrainSpec, act: models.ActivationLike, data: TrainData, params: Any,
         orders: jax.Array, learning_rate: jax.Array | None = None,
         n_real: jax.Array | None = None, n_val_real: jax.Array | None = None
         ) -> TrainOutput:
    """Train from ``params`` with the epochs' sample ``orders``; no randomness inside.

    ``learning_rate``, when given, replaces ``spec.learning_rate`` as a traced value, so
    one program trains models with different learning rates (:func:`fit_many`).

    ``n_real`` and ``n_val_real`` (traced counts), when given, say how many of ``data``'s
    fit and validation rows are the series' own; the rest is padding, so series of
    different lengths share one program. Padding rows are masked out of every loss and
    unit statistic, and the steps past the series' own ``ceil(n_real / batch_size)`` leave
    the weights and Adam's state untouched: the numbers are the unpadded run's, bit for
    bit (every sum only gains exact zeros).

    Each epoch trains, then folds its :class:`EpochEnd` into the trackers:
    :func:`early_stopping`, :func:`divergence` and :func:`unit_health`.
    """
    # One flat vector of parameters: Adam, the stopped-run selects and the best-weight copy
    # each become one fused loop instead of one per leaf, a smaller program that compiles
    # faster (the compile, not the run, dominates a study).
    params, unravel = ravel_pytree(models.init_activation_params(params, spec.model, act))
    fit = _setup(spec, act, data, unravel, n_real, n_val_real)
    lr = spec.learning_rate if learning_rate is None else learning_rate
    opt = keras_adam(lr, spec.beta1, spec.beta2, spec.eps)
    # The sites' unit counts, from shapes alone (no computation is traced here).
    site_units = ({k: v.shape[-1] for k, v in jax.eval_shape(
        lambda q: fit.model.sites(unravel(q), fit.fit_rows(jnp.arange(fit.n))[0])[2],
        params).items()}
        if spec.track_units else {})
    stopper, diverging, units = early_stopping(spec.patience), divergence(), unit_health(site_units)

    epochs = jnp.arange(spec.epochs, dtype=jnp.int32)
    if spec.shuffle == "streamed":  # ``orders`` is the key each epoch's key comes from
        key = jax.random.wrap_key_data(orders)
        draw = lambda e: jax.random.fold_in(key, e)  # noqa: E731
        scanned: Any = epochs
    else:
        draw, scanned = None, (orders, epochs)

    def epoch(state: EpochState, inputs: Any) -> tuple[EpochState, EpochRecord]:
        order, e = (draw(inputs), inputs) if draw is not None else inputs
        ran = state.stopping.active
        (p, s), losses = _train_epoch(fit, opt, state.params, state.opt_state, order)
        # A run stopped early keeps its weights: the epoch's work is discarded.
        p, s = _where(ran, p, state.params), _where(ran, s, state.opt_state)
        end = _epoch_end(fit, e, ran, p, losses)
        stopping = stopper.update(state.stopping, end)
        return EpochState(
            params=p, opt_state=s, stopping=stopping,
            divergence=diverging.update(state.divergence, end),
            units=units.update(state.units, end, kept=stopping.best_epoch == e)), _record(end)

    start = EpochState(params=params, opt_state=opt.init(params),
                       stopping=stopper.init(params), divergence=diverging.init(params),
                       units=units.init(params))
    state, record = jax.lax.scan(epoch, start, scanned)
    return _output(fit, state, record)


def _train(spec: TrainSpec, act: models.ActivationLike, data: TrainData,
           key: jax.Array) -> TrainOutput:
    params, orders = _start(spec, data[0].shape[-1], data[0].shape[0], key)
    return _fit(spec, act, data, params, orders)


def train(spec: TrainSpec, activation_name: str, data: TrainData,
          key: jax.Array) -> TrainOutput:
    """Train one model of ``spec`` with ``activation_name`` from ``key`` (one draw gives
    the initial weights and every epoch's shuffle).

    Pure and vmappable over leading axes of ``data`` and ``key``.
    """
    return _train(spec, models.resolve(activation_name), data, key)


# --- compiled programs: series x seeds in one batch, activations by switch ---------------
#
# Two compiled programs per batch shape: the start (initial weights and shuffle orders,
# which do not depend on the activation, so one serves every activation) and the fit, in
# which the activations of a group share one program and a call chooses one of them by an
# unbatched index (``models.Switched``). A study's parameter-free activations are one
# group, so a six-activation study compiles one fit program, not six: measured on the seed
# preset (2 cores, cold), 2.1 s instead of 6.4 s of compilation, and training no slower,
# because each call runs only its own branch. (A per-model index, every activation in one
# call, would make the switch a select that runs every branch: 3x slower training.)


def program_groups(activation_names: Iterable[str]) -> list[tuple[str, ...]]:
    """The activations of a study grouped by compiled program, in the study's order:
    activations with the same learnable parameters (none, for most) share one."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in activation_names:
        groups.setdefault(tuple(models.resolve(name).learnable), []).append(name)
    return [tuple(g) for g in groups.values()]


class Batch(NamedTuple):
    """Several series' training windows stacked for one program: every ``data`` field has a
    leading series axis, fit and validation rows zero-padded to shared counts, and ``n``,
    ``n_val`` (int32, per series) count each series' own rows."""

    data: TrainData | StreamedData
    n: np.ndarray
    n_val: np.ndarray

    @property
    def padded(self) -> bool:
        """Whether any series has padding rows (then the masked program runs)."""
        if isinstance(self.data, StreamedData):
            return False
        return bool(np.any(self.n < self.data.X_fit.shape[1])
                    or np.any(self.n_val < self.data.X_val.shape[1]))

    @property
    def shapes(self) -> tuple:
        """One series' field shapes (without the series axis): what a compiled program is
        specialised on; a :class:`StreamedData` batch's, tagged, with dtypes (None for an
        absent field)."""
        if isinstance(self.data, StreamedData):
            return streamed_layout(StreamedData(*(None if a is None else np.asarray(a)[0]
                                                  for a in self.data)))
        return tuple(tuple(np.shape(a)[1:]) for a in self.data)


def streamed_layout(data: StreamedData) -> tuple:
    """The program shapes of one series' :class:`StreamedData` ``data`` (its fields arrays
    or ``ShapeDtypeStruct``-likes): ``("streamed", (shape, dtype) or None, ...)``."""
    return ("streamed", *(None if a is None else (tuple(a.shape), str(np.dtype(a.dtype)))
                          for a in data))


def layout_bytes(layout: tuple) -> int:
    """The bytes of the data a :func:`streamed_layout` describes."""
    return sum(int(np.prod(f[0])) * np.dtype(f[1]).itemsize for f in layout[1:] if f)


def _rows_features(shapes: tuple) -> tuple[int, int]:
    """Fit rows and features (the lookback) of a program's one-series ``shapes``."""
    if shapes[0] == "streamed":
        layout = StreamedData(*shapes[1:])
        return layout.fit_first[0][0], layout.offsets[0][0]
    return shapes[0][0], shapes[0][1]


def _data_struct(shapes: tuple, n_series: int) -> TrainData | StreamedData:
    """Abstract data of ``n_series`` series shaped as ``shapes``, to compile against."""
    if shapes[0] == "streamed":
        return StreamedData(*(None if f is None else
                              jax.ShapeDtypeStruct((n_series, *f[0]), jnp.dtype(f[1]))
                              for f in shapes[1:]))
    return TrainData(*(jax.ShapeDtypeStruct((n_series, *s), jnp.float32) for s in shapes))


def make_batch(datas: Iterable[TrainData], rows: int | None = None,
               val_rows: int | None = None) -> Batch:
    """Stack ``datas`` (one :class:`TrainData` per series, same lookback) into a
    :class:`Batch`, padding fit rows to ``rows`` and validation rows to ``val_rows``
    (default: the largest). :class:`StreamedData` comes one series (a pooled panel) at a
    time, never padded."""
    datas = list(datas)
    if datas and isinstance(datas[0], StreamedData):
        if len(datas) != 1:
            raise ValueError("streamed windows come one pooled series to a batch")
        (d,) = datas
        return Batch(StreamedData(*(None if a is None else np.asarray(a)[None] for a in d)),
                     np.array([d.fit_first.shape[0]], np.int32),
                     np.array([d.val_first.shape[0]], np.int32))
    datas = [TrainData(*(np.asarray(a, np.float32) for a in d)) for d in datas]
    n = np.array([d.X_fit.shape[0] for d in datas], np.int32)
    n_val = np.array([d.X_val.shape[0] for d in datas], np.int32)
    rows = int(n.max()) if rows is None else int(rows)
    val_rows = int(n_val.max()) if val_rows is None else int(val_rows)
    if np.any(n > rows) or np.any(n_val > val_rows):
        raise ValueError(f"rows {rows}/{val_rows} cannot hold {n.max()}/{n_val.max()}")

    def padded(a: np.ndarray, size: int) -> np.ndarray:
        return np.concatenate([a, np.zeros((size - a.shape[0], *a.shape[1:]), np.float32)])

    fields = []
    for k, size in enumerate((rows, rows, val_rows, val_rows)):
        fields.append(np.stack([padded(d[k], size) for d in datas]))
    return Batch(TrainData(*fields), n, n_val)


def _start_batch(spec: TrainSpec, n_features: int, rows: int, padded: bool,
                 n: jax.Array, keys: jax.Array) -> tuple[Any, jax.Array]:
    def one(n_real: jax.Array, key: jax.Array) -> tuple[Any, jax.Array]:
        return _start(spec, n_features, rows, key, n_real if padded else None)

    return jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(n, keys)


def _fit_batch(spec: TrainSpec, group: tuple[str, ...], padded: bool, index: jax.Array,
               data: TrainData, n: jax.Array, n_val: jax.Array, params: Any,
               orders: jax.Array) -> TrainOutput:
    act = _member(group, index)

    def one(d: TrainData, n_real: jax.Array, n_val_real: jax.Array, p: Any,
            o: jax.Array) -> TrainOutput:
        if not padded:
            return _fit(spec, act, d, p, o)
        return _fit(spec, act, d, p, o, n_real=n_real, n_val_real=n_val_real)

    # Seeds are vmapped; series follow one another (lax.map), so each series runs the
    # very shapes it runs alone and its numbers do not depend on its batch: XLA vectorises
    # the same computation differently for different batch sizes.
    seeds = jax.vmap(one, in_axes=(None, None, None, 0, 0))
    return jax.lax.map(lambda args: seeds(*args), (data, n, n_val, params, orders))


@functools.lru_cache(maxsize=128)
def _start_program(spec: TrainSpec, n_features: int, rows: int, n_series: int, n_seeds: int,
                   padded: bool):
    keys = jax.ShapeDtypeStruct((n_seeds,), jax.random.key(0).dtype)
    n = jax.ShapeDtypeStruct((n_series,), jnp.int32)
    fn = jax.jit(functools.partial(_start_batch, spec, n_features, rows, padded))
    return fn.lower(n, keys).compile()


@functools.lru_cache(maxsize=128)
def _fit_program(spec: TrainSpec, group: tuple[str, ...], shapes: tuple, n_series: int,
                 n_seeds: int, padded: bool):
    rows, n_features = _rows_features(shapes)
    start = _start_program(spec, n_features, rows, n_series, n_seeds, padded)
    params, orders = start.out_info
    data = _data_struct(shapes, n_series)
    n = jax.ShapeDtypeStruct((n_series,), jnp.int32)
    fn = jax.jit(functools.partial(_fit_batch, spec, group, padded))
    return fn.lower(jax.ShapeDtypeStruct((), jnp.int32), data, n, n, params, orders).compile()


@dataclass(frozen=True)
class Program:
    """The compiled training of one activation group on batches of one shape: ``start``
    draws every model's initial weights and shuffles (shared by the group's activations),
    ``fit`` trains them with one activation. Outputs have leading (series, seed) axes."""

    spec: TrainSpec
    group: tuple[str, ...]
    shapes: tuple
    n_series: int
    n_seeds: int
    padded: bool

    def compile(self) -> Program:
        _keys_program(self.n_seeds)
        _fit_program(self.spec, self.group, self.shapes, self.n_series, self.n_seeds,
                     self.padded)
        return self

    def start(self, batch: Batch, seeds: Any) -> tuple[Any, jax.Array]:
        rows, n_features = _rows_features(self.shapes)
        fn = _start_program(self.spec, n_features, rows, self.n_series, self.n_seeds,
                            self.padded)
        return fn(np.asarray(batch.n, np.int32), seed_keys(seeds))

    def fit(self, activation: str, batch: Batch, params: Any, orders: jax.Array
            ) -> TrainOutput:
        if batch.padded and not self.padded:
            # The unmasked program would train on the padding rows as if they were data.
            raise ValueError("this batch has padding rows: train it with the masked program "
                             "(Program(..., padded=True))")
        fn = _fit_program(self.spec, self.group, self.shapes, self.n_series, self.n_seeds,
                          self.padded)
        # NumPy arrays go to the executable as they are: jnp.asarray would compile a
        # staging program for every new shape (about 10 ms each) inside the training time.
        data = batch.data
        if not isinstance(data, StreamedData):
            data = TrainData(*(np.asarray(a, np.float32) for a in data))
        return fn(np.int32(self.group.index(activation)), data,
                  np.asarray(batch.n, np.int32), np.asarray(batch.n_val, np.int32), params,
                  orders)

    def train(self, activation: str, batch: Batch, seeds: Any) -> TrainOutput:
        return self.fit(activation, batch, *self.start(batch, seeds))


class CallMemory(NamedTuple):
    """Bytes one call of a :class:`Program` needs (:func:`call_memory`).

    Attributes:
      orders: every model's shuffle order for every epoch (int32, epochs x rows a model),
        drawn by the start and read by every fit of the call; with a ``"streamed"``
        shuffle, every model's key instead.
      peak: the most the start and one fit hold at once (their arguments, temporaries and
        outputs), ``orders`` included.
      output: one fit's outputs (weights, per-epoch records, unit states), which wait in
        memory until the call's groups are scored.
    """

    orders: int
    peak: int
    output: int


def record_fields(model: ModelSpec) -> int:
    """At most how many numbers a model records per epoch (:class:`EpochRecord`): its
    loss, validation loss and dead fraction, and at each activation site (at most two a
    layer: an LSTM's candidate and cell) the dead and dormant shares and one learnable
    activation parameter."""
    return 3 + 2 * model.layers * 3


def call_memory(spec: TrainSpec, rows: int, n_features: int, n_series: int,
                n_seeds: int, streamed: int | None = None) -> CallMemory:
    """What one call of the program for ``n_series`` series of ``rows`` fit rows (padded)
    of ``n_features`` features and ``n_seeds`` seeds needs, from the shapes alone: nothing
    is traced or compiled.

    The shuffle orders dominate: 4 bytes per model, epoch and fit row, so the memory
    grows with seeds x epochs x rows. XLA's own accounting of the compiled programs
    (``compiled.memory_analysis()``, LSTM and MLP, 1 to 16 series, padded or not) gives
    the constants: the start's temporaries (its random words, the sort's keys and
    values) are the whole call's orders plus up to three series' worth beside its output,
    the orders; the fit reads the orders and needs two series' worth of temporaries (the
    series follow one another), plus its outputs. ``tests/test_memory.py`` holds the
    estimate to XLA's figures. ``streamed``: the bytes of a :class:`StreamedData` call's
    data (a global model's); None for stored windows (:class:`TrainData`).
    """
    n_models = n_series * n_seeds
    # A model's weights (float32; its biases and unit states are fewer than its kernels'
    # words) and its per-epoch records.
    weights = 2 * 4 * models.weight_bits(spec.model, n_features)
    output = n_models * (4 * spec.epochs * record_fields(spec.model) + weights)
    beside = 4 * n_models * weights  # every model's weights, Adam's moments, best weights
    if spec.shuffle == "streamed":
        # A key a model in place of the orders; each step computes its own batch's samples
        # and reads their windows, so no order and no shuffled copy of the windows is
        # held. What is left a row and seed is the evaluation's at each epoch's end (the
        # forecasts of every window), 3.1 to 4.3 words by XLA's accounting (LSTM and MLP,
        # 6,000 to 100,000 rows, stored or streamed windows). Beside it the call's
        # windows: stored, validation rows up to a quarter; streamed, their arrays and the
        # evaluation's joined copy of the windows' starts and statistics.
        keys = 8 * n_models
        epoch = 4 * rows * n_seeds * 5
        if streamed is None:
            data = 4 * n_series * rows * (n_features + spec.model.outputs) * 5 // 4
        else:
            data = 2 * streamed
        return CallMemory(keys, keys + data + epoch + output + beside, output)
    one = 4 * spec.epochs * rows * n_seeds  # one series' orders
    orders = n_series * one
    start = 2 * orders + 3 * one
    fit = orders + 2 * one + output
    # Beside either: every model's weights, Adam's two moments and the best weights.
    return CallMemory(orders, max(start, fit) + beside, output)


def program(spec: TrainSpec, group: Iterable[str], batch: Batch, n_seeds: int) -> Program:
    """The :class:`Program` of ``group`` for batches shaped like ``batch``; call
    ``.compile()`` to compile it ahead (cached: timing that call measures compilation)."""
    return Program(spec, tuple(group), batch.shapes, int(batch.n.size), int(n_seeds),
                   batch.padded)


def compile_many(spec: TrainSpec, activation_name: str, data: TrainData, n_seeds: int,
                 group: Iterable[str] | None = None
                 ) -> Callable[[TrainData, Any], TrainOutput]:
    """The compiled ``train_many`` for data shaped like ``data`` and ``n_seeds`` seeds:
    a function ``(data, seeds) -> TrainOutput``. ``group``: the activations sharing the
    program (``activation_name`` alone by default; the numbers do not depend on it).
    Cached: the second call for the same ``spec``, group and shapes returns at once, so
    timing this call measures compilation alone.
    """
    one = make_batch([TrainData(*data)])
    prog = program(spec, group or (activation_name,), one, n_seeds).compile()

    def run(data: TrainData, seeds: Any) -> TrainOutput:
        out = prog.train(activation_name, make_batch([TrainData(*data)]), seeds)
        return jax.tree.map(lambda a: a[0], out)

    return run


def compile_groups(spec: TrainSpec, activation_names: Iterable[str], data: TrainData,
                   n_seeds: int, workers: int | None = None
                   ) -> dict[str, Callable[[TrainData, Any], TrainOutput]]:
    """:func:`compile_many` for several activations at once: one program per group of
    :func:`program_groups`, the groups compiled in parallel threads (XLA compiles outside
    the GIL): ``{name: (data, seeds) -> TrainOutput}``. Each activation's numbers are
    those :func:`compile_many` gives it alone."""
    groups = program_groups(activation_names)
    if not groups:
        return {}
    workers = workers or min(len(groups), os.cpu_count() or 1)

    def compiled(group: tuple[str, ...]) -> dict[str, Callable]:
        return {a: compile_many(spec, a, data, n_seeds, group) for a in group}

    if workers <= 1 or len(groups) == 1:
        parts = [compiled(g) for g in groups]
    else:
        # The start program is shared: compile it once, before the fan-out.
        first = compiled(groups[0])
        with ThreadPoolExecutor(workers) as pool:
            parts = [first, *pool.map(compiled, groups[1:])]
    return {a: f for part in parts for a, f in part.items()}


def start_many(spec: TrainSpec, data: TrainData, seeds) -> tuple[Any, jax.Array]:
    """Initial weights (activation slots empty) and every epoch's shuffle order of one model
    per seed, as :func:`train_many` starts them: ``(params, orders)``, leading seed axis."""
    n, n_features = np.shape(data[0])
    seeds = np.asarray(list(seeds))
    start = _start_program(spec, n_features, n, 1, seeds.size, False)
    return jax.tree.map(lambda a: a[0], start(jnp.asarray([n], jnp.int32), seed_keys(seeds)))


@functools.lru_cache(maxsize=64)
def _fit_lr_many_fn(spec: TrainSpec, activation_name: str):
    act = models.resolve(activation_name)
    return jax.jit(jax.vmap(functools.partial(_fit, spec, act), in_axes=(None, 0, 0, 0)))


def fit_many(spec: TrainSpec, activation_name: str, data: TrainData, params: Any,
             orders: jax.Array, learning_rates: Any) -> TrainOutput:
    """Train a batch of models from their own starts (``params``, ``orders``: a leading
    model axis, e.g. from :func:`start_many` with different initialisers, concatenated)
    with one learning rate each, in one compiled program: a grid of learning rates and
    initialisers costs one compilation per activation, not one per cell.

    ``spec`` gives everything else (its own ``learning_rate`` is not used, and nothing in
    the fit reads ``spec.model.init``: the start decides it). Numbers agree with
    :func:`train_many` to float32 rounding (the learning rate is a traced value here, a
    constant there).
    """
    lrs = jnp.asarray(np.asarray(learning_rates, np.float32))
    fn = _fit_lr_many_fn(spec, activation_name)
    return fn(TrainData(*(jnp.asarray(a, jnp.float32) for a in data)), params, orders, lrs)


def seed_keys(seeds) -> jax.Array:
    """One typed PRNG key per seed: ``jax.random.key(seed)``."""
    seeds = np.asarray(seeds).astype(np.uint32)
    return _keys_program(seeds.shape[0])(seeds)


@functools.lru_cache(maxsize=32)
def _keys_program(n_seeds: int):
    """``vmap(jax.random.key)`` over ``n_seeds`` uint32 seeds, compiled (with a
    :class:`Program`'s, so that no compilation lands in the training time)."""
    seeds = jax.ShapeDtypeStruct((n_seeds,), jnp.uint32)
    return jax.jit(jax.vmap(jax.random.key)).lower(seeds).compile()


def train_many(spec: TrainSpec, activation_name: str, data: TrainData,
               seeds: Iterable[int]) -> TrainOutput:
    """``jit(vmap(train))`` over ``seeds``: every field gets a leading seed axis.

    The compiled program is cached per ``spec``, activation and data shapes, so a second
    call neither retraces nor recompiles.
    """
    seeds = np.asarray(list(seeds))
    return compile_many(spec, activation_name, data, len(seeds))(data, seeds)


def _member(group: tuple[str, ...], index: jax.Array) -> models.ActivationLike:
    members = tuple(models.resolve(a) for a in group)
    return members[0] if len(members) == 1 else models.Switched(members, index)


@functools.lru_cache(maxsize=128)
def _predict_program(spec: ModelSpec, group: tuple[str, ...], per_seed: bool = False):
    def run(index: jax.Array, params: Any, X: jax.Array) -> jax.Array:
        model = models.get(spec, _member(group, index))
        each = jax.vmap(model.apply, in_axes=(0, 0 if per_seed else None))
        return jax.lax.map(lambda x: each(params, x), X)

    return jax.jit(run)


def padded_rows(n: int, batch_size: int = 1) -> int:
    """The row count a series of ``n`` fit (or validation) rows is padded to, so series of
    similar lengths share one compiled program: ``n`` rounded up to the next of 16, 20,
    24, 28, 32, 40, 48, 56, 64, 80, ... (four steps per doubling: at most a quarter of
    the rows are padding). A series with fewer rows than ``batch_size`` is not padded:
    its one batch holds all its rows (Keras), and padding would change that batch."""
    if n <= 16 or n < batch_size:
        return max(n, 0) if n < batch_size else 16
    step = 1 << (int(n - 1).bit_length() - 3)
    return -(-n // step) * step


def predict_many(spec: ModelSpec, activation_name: str, params: Any, X: Any,
                 group: Iterable[str] | None = None, *, per_seed: bool = False) -> jax.Array:
    """Forecasts ``(S, n)`` of each of ``S`` models of ``spec`` (``params`` with a leading
    seed axis) for windows ``X`` (``(S, n, H)`` from a direct ``H``-step head). ``group``:
    the activations sharing the compiled program (``activation_name`` alone by default; the
    numbers do not depend on it). ``per_seed``: ``X`` has a leading seed axis, each model
    its own windows (a recursive forecast's, which hold each seed's own forecasts).

    The windows run in chunks of a fixed number of rows, the chunk count padded to a power
    of two, so a handful of programs serve windows of any count, and each forecast's bits
    do not depend on how many windows there are.
    """
    group = tuple(group or (activation_name,))
    X = np.asarray(X, np.float32)
    lead = X.shape[:1] if per_seed else ()
    n, window = X.shape[len(lead)], X.shape[len(lead) + 1:]
    chunks = 1 << max(0, int(-(-n // _EVAL_ROWS) - 1).bit_length())
    Xp = np.zeros((*lead, chunks * _EVAL_ROWS, *window), np.float32)
    Xp[(slice(None),) * len(lead) + (slice(0, n),)] = X
    Xp = Xp.reshape(*lead, chunks, _EVAL_ROWS, *window)
    if per_seed:  # chunks first, for lax.map
        Xp = np.moveaxis(Xp, 0, 1)
    out = _predict_program(spec, group, per_seed)(jnp.int32(group.index(activation_name)),
                                                  params, jnp.asarray(Xp))
    return jnp.moveaxis(out, 1, 0).reshape(out.shape[1], -1, *out.shape[3:])[:, :n]
