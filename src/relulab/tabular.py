"""relulab's own MLP on a table (a :class:`~relulab.tasks.TaskData`): the engine of
``relulab study --table``, every seed of one activation in one compiled program.

>>> engine = TabularEngine()
>>> fitted = engine.fit("relu", [0, 1, 2], data, config)   # list of relulab.tasks.Fitted
>>> engine.describe()["parameters"]

The model: ``d`` inputs, ``config.layers`` hidden ``Dense(config.units)`` layers with the
activation (a learnable parameter such as PReLU's slope is one scalar per layer, learnt
with the weights, as in :mod:`relulab.models.mlp`), then a ``Dense`` output: one logit per
class (softmax cross-entropy) or one number (squared error). Hidden kernels start from
``config.init`` (:data:`relulab.models.initializers.INITS`), the output kernel Glorot-
uniform, biases zero (RAI draws its own).

Training (Keras ``fit`` semantics, as :mod:`relulab.training`): ``jax.jit(jax.vmap(
train_one))`` over the seeds, the epochs a ``lax.scan`` and each epoch's minibatches an
inner ``lax.scan``. Each epoch reshuffles the training rows into ``ceil(n / batch_size)``
batches; the last partial batch is topped up with rows from the epoch's start that a mask
keeps out of the loss, so it counts as Keras' smaller last batch (no row is dropped, and
every step's shapes are the same). The epoch's ``loss`` is the mean over its rows of the
per-row loss as each batch saw it; ``val_loss`` is the loss on the validation rows with the
weights at the epoch's end. A regression trains on the target standardised with the
training rows' mean and standard deviation (so a loss of 1 is the training mean's) and
predicts on the target's own scale.

Pairing: seed ``s`` starts from ``jax.random.PRNGKey(s)``, split into one key for the
weights and one for the batch orders. The weights are drawn from the first by the layers'
shapes alone, and epoch ``e``'s order is ``jax.random.permutation(fold_in(second, e), n)``:
every activation trained with seed ``s`` starts from the same weights and sees the same
batches. A seed trained beside others agrees with the seed trained alone to float32
rounding, not bit for bit (XLA vectorises the batched reductions differently).

Per epoch, the trackers of :mod:`relulab.training` are folded in: early stopping on the
validation loss with the best weights restored (``config.patience``), divergence (a non-
finite loss makes the run's predictions NaN, so it is scored as diverged), and dead and
dormant units per site ``hidden1 .. hiddenK`` (the keys of
:class:`relulab.training.TrainOutput`). The per-epoch arrays a :class:`Fitted` holds cover
the epochs run (an early stop ends them).

Optimisers (``config.optimizer``): ``adam`` is Keras' Adam (``training.keras_adam``: its
``eps`` added before the bias correction); ``adamw`` is that Adam with Keras' decoupled
weight decay (``ADAMW_WEIGHT_DECAY``, Keras' default, on every parameter); ``sgd`` is plain
gradient descent (Keras' ``SGD``, no momentum).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from relulab import models, training
from relulab.errors import RelulabError
from relulab.models import initializers
from relulab.models.layers import ActivationLike, Params, activate, activation_params
from relulab.specs import DORMANT_THRESHOLD
from relulab.tasks import Fitted, TaskData

__all__ = ["ADAMW_WEIGHT_DECAY", "MLPShape", "TabularEngine", "epoch_order", "forward",
           "initial_params", "optimizer"]

# Keras' AdamW default (torch's is 0.01, Optax's 1e-4): the config has no field for it.
ADAMW_WEIGHT_DECAY = 0.004
# Rows per chunk of the end-of-epoch forward passes: memory stays rows x units per seed,
# whatever the table's length.
_EVAL_ROWS = 512


@dataclass(frozen=True)
class MLPShape:
    """The MLP's shape: ``inputs`` features, ``layers`` hidden layers of ``units``,
    ``outputs`` (classes, or 1 for a regression); ``init`` the hidden layers'
    initialiser."""

    inputs: int
    units: int
    layers: int
    outputs: int
    init: str

    @classmethod
    def of(cls, data: TaskData, config: Any) -> MLPShape:
        inputs = int(np.prod(data.input_shape))
        outputs = data.classes if data.task == "classification" else 1
        return cls(inputs, int(config.units), int(config.layers), outputs, config.init)

    @property
    def widths(self) -> list[int]:
        return [self.inputs] + [self.units] * self.layers + [self.outputs]

    @property
    def parameters(self) -> int:
        """Weights and biases (an activation's learnable scalars, one per layer, aside)."""
        return sum(a * b + b for a, b in itertools.pairwise(self.widths))

    @property
    def text(self) -> str:
        return f"MLP {self.inputs}→{self.units}×{self.layers}→{self.outputs}"

    @property
    def sites(self) -> dict[str, int]:
        """Where the activation is applied, and its units there."""
        return {f"hidden{k}": self.units for k in range(1, self.layers + 1)}


# --- the model -------------------------------------------------------------------------


def _draw_shapes(shape: MLPShape) -> list[tuple[int, int]]:
    """The random words each layer's initialiser reads (its kernel's shape plus the rows
    ``init`` draws beyond it), the output layer last."""
    w = shape.widths
    hidden = [initializers.draw_shape(shape.init, a, b) for a, b in itertools.pairwise(w[:-1])]
    return [*hidden, (w[-2], w[-1])]


def _weights(key: jax.Array, shape: MLPShape) -> Params:
    """The weights from one key, by the layers' shapes alone; activation slots empty."""
    draws = _draw_shapes(shape)
    bits = jax.random.bits(key, (sum(a * b for a, b in draws),), jnp.uint32)
    blocks, at = [], 0
    for a, b in draws:
        blocks.append(bits[at:at + a * b].reshape(a, b))
        at += a * b
    init = initializers.get(shape.init)
    hidden = tuple({"kernel": kernel, "bias": bias, "activation": {}}
                   for kernel, bias in (init.draw(block) for block in blocks[:-1]))
    out = {"kernel": initializers.glorot_uniform(blocks[-1]),
           "bias": jnp.zeros((shape.outputs,), jnp.float32)}
    return {"hidden": hidden, "output": out}


def _keys(seed: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The weights' key and the batch orders' key of ``seed``."""
    k_weights, k_orders = jax.random.split(jax.random.PRNGKey(seed))
    return k_weights, k_orders


def _with_activation(params: Params, act: ActivationLike) -> Params:
    return {**params, "hidden": tuple({**layer, "activation": activation_params(act)}
                                      for layer in params["hidden"])}


def initial_params(seed: int, shape: MLPShape, activation: str | ActivationLike) -> Params:
    """Seed ``seed``'s starting parameters for ``activation``: the same weights for every
    activation, with its learnable parameters (if any) at their start values."""
    return _with_activation(_weights(_keys(_seed(seed))[0], shape), models.resolve(activation))


def epoch_order(seed: int, epoch: int, n: int) -> jax.Array:
    """The order in which seed ``seed`` visits ``n`` training rows in ``epoch``."""
    return _order(_keys(_seed(seed))[1], jnp.int32(epoch), n)


def _order(k_orders: jax.Array, epoch: jax.Array, n: int) -> jax.Array:
    return jax.random.permutation(jax.random.fold_in(k_orders, epoch), n)


def _dense(x: jax.Array, layer: Params) -> jax.Array:
    # A library dot, not models.layers.matmul's broadcast sum (made for a forecaster's
    # handful of inputs): a table's layers are wide enough for the dot to win. Breast
    # cancer, 32 x 2 units, 100 epochs, 2 cores: 10 seeds train in 0.4 s (sum: 2.1 s),
    # 100 in 4 s (sum: 23 to 37 s); compiling takes some 3 s either way. Neither keeps a
    # seed's last bits independent of the seeds it is vmapped with (tested to rounding).
    return x @ layer["kernel"] + layer["bias"]


def forward(params: Params, X: jax.Array, act: ActivationLike
            ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``(outputs (batch, outputs), {"hiddenK": (batch, units)})``: the logits or
    standardised predictions, and each hidden layer's output (where the activation is
    applied, layers 1-based)."""
    a, sites = X, {}
    for k, layer in enumerate(params["hidden"], start=1):
        a = activate(act, _dense(a, layer), layer["activation"])
        sites[f"hidden{k}"] = a
    return _dense(a, params["output"]), sites


def _row_loss(task: str, out: jax.Array, y: jax.Array) -> jax.Array:
    """Each row's loss: softmax cross-entropy of its logits, or its squared error."""
    if task == "classification":
        return optax.softmax_cross_entropy_with_integer_labels(out, y)
    return (out[:, 0] - y) ** 2


def _in_chunks(fn: Any, X: jax.Array) -> Any:
    """``fn(rows, valid)`` over ``X`` in chunks of at most ``_EVAL_ROWS`` rows, the last
    one zero-padded (``valid`` marks the real rows); outputs stacked by chunk."""
    n, rows = X.shape[0], min(_EVAL_ROWS, X.shape[0])
    chunks = -(-n // rows)
    padded = jnp.concatenate([X, jnp.zeros((chunks * rows - n, X.shape[1]), X.dtype)])
    valid = jnp.arange(chunks * rows) < n
    return jax.lax.map(lambda c: fn(*c), (padded.reshape(chunks, rows, X.shape[1]),
                                          valid.reshape(chunks, rows)))


def _predict(params: Params, X: jax.Array, act: ActivationLike) -> jax.Array:
    out = _in_chunks(lambda x, valid: forward(params, x, act)[0], X)
    return out.reshape(-1, out.shape[-1])[:X.shape[0]]


def _activity(params: Params, X: jax.Array, act: ActivationLike) -> dict[str, jax.Array]:
    """Each site's summed ``|a|`` per unit over the rows of ``X``."""
    def chunk(x: jax.Array, valid: jax.Array) -> dict[str, jax.Array]:
        sites = forward(params, x, act)[1]
        return {k: jnp.sum(jnp.where(valid[:, None], jnp.abs(a), 0.0), axis=0)
                for k, a in sites.items()}

    return {k: jnp.sum(v, axis=0) for k, v in _in_chunks(chunk, X).items()}


# --- training --------------------------------------------------------------------------


def optimizer(name: str, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-7) -> optax.GradientTransformation:
    """The optimiser a config names (module docstring)."""
    if name == "adam":
        return training.keras_adam(learning_rate, beta1, beta2, eps)
    if name == "adamw":
        # Keras' AdamW: p <- p - lr * wd * p - lr * adam, the decay decoupled from Adam's
        # scaling; add_decayed_weights adds its factor times p to the update.
        return optax.chain(training.keras_adam(learning_rate, beta1, beta2, eps),
                           optax.add_decayed_weights(-learning_rate * ADAMW_WEIGHT_DECAY))
    if name == "sgd":
        return optax.sgd(learning_rate)
    raise RelulabError(f"unknown optimizer {name!r}; choose one of: adam, adamw, sgd")


@dataclass(frozen=True)
class _Spec:
    """What decides a compiled program besides the activation and the data's shapes."""

    shape: MLPShape
    task: str
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    beta1: float
    beta2: float
    eps: float
    patience: int | None


class _Data(NamedTuple):
    """One fit's arrays (shared by every seed): training rows and targets (labels, or the
    standardised target), validation rows and targets (0 rows without), test rows."""

    X: jax.Array
    y: jax.Array
    X_val: jax.Array
    y_val: jax.Array
    X_test: jax.Array


class _EpochState(NamedTuple):
    """The epoch loop's carry: the flat weights, the optimiser's state and the trackers'."""

    params: jax.Array
    opt_state: optax.OptState
    stopping: training.EarlyStoppingState
    divergence: training.DivergenceState
    units: training.UnitHealthState


class _Record(NamedTuple):
    """What one epoch records (NaN once early stopping has stopped the run)."""

    ran: jax.Array
    loss: jax.Array
    val_loss: jax.Array
    epoch_stats: dict[str, jax.Array]


def _train_one(spec: _Spec, act: ActivationLike, seed: jax.Array, data: _Data) -> dict:
    """One seed, from its key to its test and validation outputs (module docstring)."""
    k_weights, k_orders = _keys(seed)
    flat, unravel = ravel_pytree(_with_activation(_weights(k_weights, spec.shape), act))
    opt = optimizer(spec.optimizer, spec.learning_rate, spec.beta1, spec.beta2, spec.eps)
    n, has_val = data.X.shape[0], data.X_val.shape[0] > 0
    size = min(spec.batch_size, n)
    steps = -(-n // size)
    pad = steps * size - n
    mask = jnp.concatenate([jnp.ones(n), jnp.zeros(pad)]).reshape(steps, size)

    def batch_loss(p: jax.Array, rows: jax.Array, m: jax.Array) -> jax.Array:
        out = forward(unravel(p), data.X[rows], act)[0]
        return jnp.sum(m * _row_loss(spec.task, out, data.y[rows])) / jnp.sum(m)

    grad_fn = jax.value_and_grad(batch_loss)

    def step(carry: tuple, batch: tuple) -> tuple[tuple, jax.Array]:
        p, s = carry
        rows, m = batch
        loss, grads = grad_fn(p, rows, m)
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), loss * jnp.sum(m)

    stopper = training.early_stopping(spec.patience)
    diverging = training.divergence()
    units = training.unit_health(spec.shape.sites)

    def epoch(state: _EpochState, e: jax.Array) -> tuple[_EpochState, _Record]:
        order = _order(k_orders, e, n)
        batches = jnp.concatenate([order, order[:pad]]).reshape(steps, size)
        (p, s), losses = jax.lax.scan(step, (state.params, state.opt_state), (batches, mask))
        ran = state.stopping.active
        # A run stopped early keeps its weights: the epoch's work is discarded.
        p = jnp.where(ran, p, state.params)
        s = jax.tree.map(lambda a, b: jnp.where(ran, a, b), s, state.opt_state)
        q = unravel(p)
        val_loss = (jnp.mean(_row_loss(spec.task, _predict(q, data.X_val, act), data.y_val))
                    if has_val else jnp.float32(jnp.nan))
        health = {k: training.health_of(v, DORMANT_THRESHOLD)
                  for k, v in _activity(q, data.X, act).items()}
        dead = {k: d for k, (d, _) in health.items()}
        end = training.EpochEnd(
            epoch=e, ran=ran, params=p, loss=jnp.sum(losses) / n, val_loss=val_loss,
            has_val=has_val,
            dead_fraction=jnp.mean(jnp.concatenate(list(dead.values())).astype(jnp.float32)),
            dead=dead, dormant={k: m for k, (_, m) in health.items()},
            learned=models.learned(q))
        stopping = stopper.update(state.stopping, end)
        after = _EpochState(params=p, opt_state=s, stopping=stopping,
                            divergence=diverging.update(state.divergence, end),
                            units=units.update(state.units, end, kept=stopping.best_epoch == e))
        return after, _record(end)

    start = _EpochState(params=flat, opt_state=opt.init(flat), stopping=stopper.init(flat),
                        divergence=diverging.init(flat), units=units.init(flat))
    state, record = jax.lax.scan(epoch, start, jnp.arange(spec.epochs, dtype=jnp.int32))
    final = unravel(state.stopping.best_params if spec.patience is not None else state.params)
    diverged = state.divergence.diverged | ~jnp.all(jnp.isfinite(ravel_pytree(final)[0]))
    unit_stats = {}
    for k in spec.shape.sites:
        unit_stats.update({f"death_epoch:{k}": state.units.death_epoch[k],
                           f"came_back:{k}": state.units.came_back[k],
                           f"dead:{k}": state.units.dead_kept[k],
                           f"dormant:{k}": state.units.dormant_kept[k]})
    return {"record": record, "best_epoch": state.stopping.best_epoch, "diverged": diverged,
            "unit_stats": unit_stats, "test": _predict(final, data.X_test, act),
            "val": _predict(final, data.X_val, act) if has_val else None}


def _record(end: training.EpochEnd) -> _Record:
    def kept(x: jax.Array) -> jax.Array:
        return jnp.where(end.ran, x, jnp.nan)

    def share(units: jax.Array) -> jax.Array:
        return kept(jnp.mean(units.astype(jnp.float32)))

    stats = {"dead_fraction": kept(end.dead_fraction),
             **{f"dead_share:{k}": share(d) for k, d in end.dead.items()},
             **{f"dormant_share:{k}": share(d) for k, d in end.dormant.items()},
             **{f"learned:{k}": kept(v) for k, v in end.learned.items()}}
    return _Record(ran=end.ran, loss=kept(end.loss), val_loss=kept(end.val_loss),
                   epoch_stats=stats)


@functools.lru_cache(maxsize=64)
def _program(spec: _Spec, activation: str) -> Any:
    """Every seed of ``activation`` in one program: ``jit(vmap(train_one))`` (jit keeps one
    compilation per data shape)."""
    act = models.resolve(activation)
    one = functools.partial(_train_one, spec, act)
    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def _seed(seed: int) -> np.uint32:
    if not 0 <= int(seed) < 2 ** 32:
        raise RelulabError(f"seed {seed} is out of range; seeds must lie in [0, 2**32): pass "
                           "a smaller --seed-offset")
    return np.uint32(seed)


class TabularEngine:
    """relulab's JAX MLP as an :class:`relulab.tasks.Engine` (module docstring)."""

    def __init__(self) -> None:
        self._shape: MLPShape | None = None

    def fit(self, activation: str, seeds: Sequence[int], data: TaskData,
            config: Any) -> list[Fitted]:
        """Every seed of ``activation`` on ``data``, trained as ``config`` says, in one
        compiled program; one :class:`~relulab.tasks.Fitted` per seed, in order."""
        if config.patience is not None and data.y_val is None:
            raise RelulabError("early stopping (--patience) needs validation rows, and the "
                               "data has none; pass --validation-split 0.2, or leave "
                               "--patience out")
        shape = MLPShape.of(data, config)
        self._shape = shape
        spec = _Spec(shape=shape, task=data.task, epochs=int(config.epochs),
                     batch_size=int(config.batch_size), optimizer=config.optimizer,
                     learning_rate=float(config.learning_rate), beta1=float(config.beta1),
                     beta2=float(config.beta2), eps=float(config.eps),
                     patience=None if config.patience is None else int(config.patience))
        arrays, scale = _arrays(data)
        out = _program(spec, activation)(np.array([_seed(s) for s in seeds], np.uint32),
                                         arrays)
        out = jax.tree.map(np.asarray, out)
        return [_fitted(int(s), i, out, data.task, scale) for i, s in enumerate(seeds)]

    def describe(self) -> dict[str, Any]:
        """What it trains, for the report's header; the shape is the last fit's (a table
        decides its inputs and outputs)."""
        shape = self._shape
        return {"framework": "jax",
                "model": shape.text if shape else "MLP d→units×layers→out (not fitted yet)",
                "parameters": shape.parameters if shape else 0,
                "vectorised": True, "why": ""}


def _arrays(data: TaskData) -> tuple[_Data, tuple[float, float] | None]:
    """The fit's arrays and, for a regression, the target's training mean and standard
    deviation (predictions go back to the target's scale with them)."""
    def rows(x: np.ndarray | None) -> np.ndarray:
        if x is None:
            return np.zeros((0, int(np.prod(data.input_shape))), np.float32)
        return np.asarray(x, np.float32).reshape(len(x), -1)

    y, y_val = np.asarray(data.y_train), data.y_val
    if data.task == "classification":
        scale = None
        y_fit = y.astype(np.int32)
        y_val_fit = (np.zeros(0, np.int32) if y_val is None
                     else np.asarray(y_val).astype(np.int32))
    else:
        mean, sd = float(np.mean(y)), float(np.std(y))
        scale = (mean, sd if sd > 0 else 1.0)
        y_fit = ((y - scale[0]) / scale[1]).astype(np.float32)
        y_val_fit = (np.zeros(0, np.float32) if y_val is None
                     else ((np.asarray(y_val) - scale[0]) / scale[1]).astype(np.float32))
    arrays = _Data(X=rows(data.x_train), y=y_fit, X_val=rows(data.x_val), y_val=y_val_fit,
                   X_test=rows(data.x_test))
    return arrays, scale


def _fitted(seed: int, i: int, out: dict, task: str, scale: tuple[float, float] | None
            ) -> Fitted:
    """Seed ``i`` of a program's outputs as a :class:`Fitted`: per-epoch arrays cut to the
    epochs run; predictions as probabilities or on the target's scale, NaN if diverged."""
    record: _Record = out["record"]
    run = int(np.sum(record.ran[i]))

    def predictions(raw: np.ndarray | None) -> np.ndarray | None:
        if raw is None:
            return None
        raw = np.asarray(raw[i], np.float64)
        if task == "classification":
            shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
            pred = shifted / shifted.sum(axis=1, keepdims=True)
        else:
            pred = scale[0] + scale[1] * raw[:, 0]
        return np.full_like(pred, math.nan) if out["diverged"][i] else pred

    return Fitted(
        seed=seed, loss=np.asarray(record.loss[i][:run], np.float64),
        val_loss=np.asarray(record.val_loss[i][:run], np.float64),
        best_epoch=int(out["best_epoch"][i]),
        test_pred=predictions(out["test"]), val_pred=predictions(out["val"]),
        epoch_stats={k: np.asarray(v[i][:run]) for k, v in record.epoch_stats.items()},
        unit_stats={k: np.asarray(v[i]) for k, v in out["unit_stats"].items()})
