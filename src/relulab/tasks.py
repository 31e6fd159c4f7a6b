"""Supervised tasks beside forecasting: a user's data set as arrays, what a trainer of any
framework hands back for one seed, and how that is scored. Pure: no framework, no I/O.

A study of a user's own model (``relulab.torch.study``, ``relulab.keras.study``) or of a
table (``relulab study --table``) trains every activation over every seed on one
:class:`TaskData`. Whatever trains it (an *engine*: PyTorch, Keras, relulab's JAX MLP)
returns one :class:`Fitted` per seed; :func:`run_record` scores it with the task's
metrics from the one registry (:mod:`relulab.metrics`) into the same
:class:`~relulab.result.RunRecord` a forecast run is, so the store, the analysis, the
verdicts and the report take it as they take a forecast.

Conventions:

- ``task`` is ``"classification"`` (integer labels ``0 .. classes-1``; predictions are
  class probabilities ``(n, classes)``) or ``"regression"`` (real targets; predictions
  ``(n,)``).
- A run's ``forecast`` holds its test predictions flattened row-major (the store keeps
  1-D arrays): ``(n_test,)`` for regression, ``(n_test * classes,)`` for classification;
  :func:`predictions` gives them their shape back.
- ``TaskData.values`` are the targets in split order (train, validation, test), with
  ``train_end`` and ``test_start`` marking the parts, as a forecast study's series: the
  test targets are ``values[test_start:]``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from relulab.errors import RelulabError
from relulab.metrics import columns, score
from relulab.result import RunRecord

__all__ = ["TASK_NAMES", "Engine", "Fitted", "TaskData", "baselines", "predictions",
           "run_record"]

TASK_NAMES = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class TaskData:
    """A supervised data set, split: features ``x_*`` (float32, first axis the examples)
    and targets ``y_*`` (int64 labels for classification, float64 for regression).
    ``x_val``/``y_val`` may be None (no validation data: no early stopping)."""

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    classes: int = 0  # classification: labels are 0 .. classes - 1
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    description: str = ""  # where the data came from, one line for the report
    dates: None = field(default=None, init=False)  # a data set has no dates

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            raise RelulabError(f"unknown task {self.task!r}; pass task='classification' or "
                               "task='regression'")
        parts = [("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)]
        if (self.x_val is None) != (self.y_val is None):
            raise RelulabError("pass validation data as (X, y): both or neither")
        if self.x_val is not None:
            parts.append(("validation", self.x_val, self.y_val))
        for what, x, y in parts:
            if len(x) != len(y):
                raise RelulabError(f"the {what} data has {len(x)} inputs but {len(y)} "
                                   "targets; pass one target per input")
            if len(x) == 0:
                raise RelulabError(f"the {what} data is empty; pass at least one example")
            if np.asarray(y).ndim != 1:
                raise RelulabError(f"the {what} targets have shape {np.shape(y)}; pass one "
                                   "target per example (a 1-D array)")
            if not np.all(np.isfinite(np.asarray(y, dtype=float))):
                raise RelulabError(f"the {what} targets contain NaN or inf; drop or fill "
                                   "those examples")
        if self.task == "classification":
            if self.classes < 2:
                raise RelulabError(f"a classification needs at least two classes, got "
                                   f"{self.classes}; check the target")
            for what, _, y in parts:
                y = np.asarray(y)
                if y.min() < 0 or y.max() >= self.classes or np.any(y != np.round(y)):
                    raise RelulabError(f"the {what} labels must be integers 0..{self.classes - 1}")

    @property
    def n_val(self) -> int:
        return 0 if self.y_val is None else len(self.y_val)

    @property
    def train_end(self) -> int:
        return len(self.y_train)

    @property
    def test_start(self) -> int:
        return len(self.y_train) + self.n_val

    @property
    def values(self) -> np.ndarray:
        """Every target in split order: train, validation, test (float64)."""
        parts = [self.y_train, *([] if self.y_val is None else [self.y_val]), self.y_test]
        return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.x_train)[1:])

    def content_hash(self) -> str:
        """A hash of the task, the splits' inputs and targets (what decides the numbers)."""
        h = hashlib.sha256(f"{self.task}:{self.classes}".encode())
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            if a is None:
                h.update(b"none")
                continue
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()[:16]


@dataclass
class Fitted:
    """One seed of one activation trained on a :class:`TaskData`, before scoring.

    ``loss``/``val_loss``: per epoch run (``val_loss`` NaN without validation data);
    ``best_epoch``: the 0-based epoch whose weights made the predictions (the last one
    without early stopping). ``test_pred``/``val_pred``: regression ``(n,)``,
    classification ``(n, classes)`` probabilities. ``epoch_stats``/``unit_stats``: the
    names of :class:`relulab.training.TrainOutput` (``dead_fraction``,
    ``dead_share:SITE``, ``dormant_share:SITE`` per epoch; ``dead:SITE``,
    ``dormant:SITE``, ``death_epoch:SITE``, ``came_back:SITE`` per unit)."""

    seed: int
    loss: np.ndarray
    val_loss: np.ndarray
    best_epoch: int
    test_pred: np.ndarray
    val_pred: np.ndarray | None = None
    epoch_stats: dict[str, np.ndarray] = field(default_factory=dict)
    unit_stats: dict[str, np.ndarray] = field(default_factory=dict)


class Engine(Protocol):
    """What trains a user's model (or relulab's) on a task, one activation at a time:
    every seed of ``activation`` on ``data``, paired across activations (seed ``s`` of
    every activation sees the same data order and, where shapes agree, the same initial
    weights). ``describe()`` says what it trains, for the report's header: ``framework``,
    ``model`` (text), ``parameters`` (int), ``vectorised`` (bool) and ``why`` (why seeds
    are looped, "" when vectorised)."""

    def fit(self, activation: str, seeds: Sequence[int], data: TaskData,
            config: Any) -> list[Fitted]: ...

    def describe(self) -> dict[str, Any]: ...


def predictions(data: TaskData, flat: np.ndarray) -> np.ndarray:
    """A run's stored test predictions with their shape back (module docstring)."""
    flat = np.asarray(flat, dtype=np.float64)
    if data.task == "classification":
        return flat.reshape(-1, data.classes)
    return flat.reshape(-1)


def _check_pred(data: TaskData, pred: np.ndarray, n: int, what: str) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    want = (n, data.classes) if data.task == "classification" else (n,)
    if data.task == "regression" and pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if pred.shape != want:
        raise RelulabError(f"the model's {what} predictions have shape {pred.shape}, "
                           f"expected {want}; a {data.task} model must output "
                           + ("one logit per class" if data.task == "classification"
                              else "one number per example"))
    return pred


def run_record(data: TaskData, activation: str, fitted: Fitted) -> RunRecord:
    """One seed's :class:`Fitted` scored on the test (and validation) data with the task's
    metrics; a run whose predictions, or whose loss at an epoch it ran, are not finite is
    diverged (NaN metrics). Trailing NaN losses are epochs an early stop skipped."""
    test = _check_pred(data, fitted.test_pred, len(data.y_test), "test")
    val = (None if data.y_val is None or fitted.val_pred is None
           else _check_pred(data, fitted.val_pred, len(data.y_val), "validation"))
    loss = np.asarray(fitted.loss, dtype=np.float64)
    ran = loss[: _last_finite(loss) + 1]  # NaN after an early stop: epochs not run
    diverged = bool(not np.all(np.isfinite(ran)) or not np.all(np.isfinite(test)))
    names = columns(data.task)
    metrics = ({m: math.nan for m in names} if diverged
               else score(data.y_test, test, task=data.task))
    val_metrics = ({m: math.nan for m in names} if val is None or diverged
                   else score(data.y_val, val, task=data.task))
    return RunRecord(
        activation=activation, seed=int(fitted.seed), diverged=diverged, metrics=metrics,
        val_metrics=val_metrics, forecast=test.ravel(),
        val_forecast=np.empty(0) if val is None else val.ravel(),
        loss=loss, val_loss=np.asarray(fitted.val_loss, dtype=np.float64),
        best_epoch=int(fitted.best_epoch),
        epoch_stats={k: np.asarray(v) for k, v in fitted.epoch_stats.items()},
        unit_stats={k: np.asarray(v) for k, v in fitted.unit_stats.items()})


def _last_finite(a: np.ndarray) -> int:
    """The index of ``a``'s last finite value (-1 when none is)."""
    finite = np.flatnonzero(np.isfinite(a))
    return int(finite[-1]) if finite.size else -1


def baselines(data: TaskData) -> dict[str, dict[str, Any]]:
    """What a model must beat, from the training targets alone: the class frequencies
    (classification: every example gets the training prior, so its accuracy is the
    majority class's share) or the training mean (regression)."""
    y = np.asarray(data.y_train)
    n = len(data.y_test)
    if data.task == "classification":
        prior = np.bincount(y.astype(int), minlength=data.classes) / len(y)
        pred = np.tile(prior, (n, 1))
        name = "class prior"
    else:
        pred = np.full(n, float(np.mean(y)))
        name = "training mean"
    return {name: {"metrics": score(data.y_test, pred, task=data.task),
                   "forecast": pred.ravel()}}

