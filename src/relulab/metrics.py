"""Forecast accuracy metrics of PROTOCOL.md, in the series' original units, and the one
registry of every metric.

Notation: over a window of ``n`` points, ``y_t`` is the actual value, ``ŷ_t`` the
one-step-ahead forecast and ``e_t = y_t - ŷ_t`` the error; ``y_prev`` is the actual value just
before the window (``y_{-1}``); ``s`` is the sign function.

- ``rmse`` = sqrt(mean(e_t²)), lower is better.
- ``mae`` = mean(|e_t|), lower is better.
- ``mfe`` = mean(e_t), the bias; positive = forecasts too low; closer to 0 is better.
- ``mda`` = mean over t = 1..n-1 of [s(y_t - y_{t-1}) == s(ŷ_t - ŷ_{t-1})], higher is better.
- ``mda_naive`` = mean over t = 0..n-1 of [s(y_t - y_{t-1}) == s(ŷ_t - y_{t-1})] with
  ``y_{-1} = y_prev``, higher is better.
- ``mase`` = MAE / mean(|y_t - y_{t-m}|) over the training part, lower is better.
- ``vol_ratio`` = sd(ŷ) / sd(y), closer to 1 is better; below 1 = flattened forecast.

``mda`` is the definition the reference study used: it compares the forecast's own step with
the actual step, inside the window, so it has ``n - 1`` terms. ``mda_naive`` is the
textbook definition: it asks whether the forecast, made knowing ``y_{t-1}``, points the right
way from there; it has ``n`` terms, the first anchored on ``y_prev``.

**Sign of zero.** ``s`` is :func:`numpy.sign`, so a zero step has its own sign, 0. A flat
actual step counts as a hit only when the forecast step is exactly flat too, and a flat
forecast step never matches a rise or a fall. This is what the reference study's
``np.sign(...) == np.sign(...)`` does; ties are common in weekly counts, so the choice
matters and is made explicit here.

**Volatility ratio.** Both standard deviations use ``ddof=0``; over the same window the
``ddof`` cancels in the ratio anyway (both sums of squares are divided by the same ``n -
ddof``). It is NaN when the actual window is constant.

**MASE** (Hyndman & Koehler 2006) scales the MAE by the in-sample MAE of the (seasonal)
naive forecast on the training part, ``m`` = ``season`` or 1. It is NaN when that scale is
zero (a training part constant at lag ``m``).

A forecast with a non-finite value (a diverged run) has no metrics: :func:`score` returns NaN
for every one of them rather than numbers computed from NaN comparisons.

**The registry.** A metric is one pure function ``f(y, yhat, ...) -> float`` registered once
with :func:`metric`, which records its display data (label, unit, direction, formats,
figure panel) and the task it scores (``"forecast"`` today) in :data:`METRICS`. Everything
else is derived from that registry: the run columns (:data:`METRIC_COLUMNS`, display
order = registration order), :func:`score`, the report's and the terminal's headers, the
metrics figure's panels. Adding a metric is one decorated function here, nothing more::

    @metric(label="MAE", direction="lower", unit="series units",
            description="mean absolute error, original units",
            panel=Panel("MAE", "lower is better", "series units"))
    def mae(y, yhat): ...

A function's parameters after ``(y, yhat)`` name what else it needs from the window; they
must be among its task's :data:`TASKS` entry (a forecast metric may take ``y_prev``,
``y_train`` and ``season``), and :func:`score` passes each metric only those it names.
This module imports nothing of relulab but its error type, so the plain-data modules
(:mod:`relulab.result`) can read the column list from it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from relulab.errors import RelulabError

__all__ = [
    "DIRECTIONS",
    "HEADLINE",
    "METRICS",
    "METRIC_COLUMNS",
    "TASKS",
    "Metric",
    "Panel",
    "accuracy",
    "best",
    "by_step",
    "columns",
    "log_loss",
    "macro_f1",
    "mae",
    "mase",
    "mda",
    "mda_naive",
    "metric",
    "mfe",
    "path_steps",
    "rank_value",
    "rmse",
    "score",
    "vol_ratio",
]

# What the metrics of each task may take beyond (y, yhat), by parameter name. A task's
# metrics score the same windows, so they take from the same few things.
TASKS: dict[str, tuple[str, ...]] = {
    "forecast": ("y_prev", "y_train", "season", "steps"),
    "regression": (),
    "classification": (),
}
# The metric each task's comparisons rest on (the relative difference, the paired test, the
# equivalence margin): lower is better for each.
HEADLINE: dict[str, str] = {"forecast": "rmse", "regression": "rmse",
                            "classification": "log_loss"}
# Which way a metric is better: smaller, larger, nearer 1, nearer 0 (see rank_value).
DIRECTIONS = ("lower", "higher", "closer to 1", "closer to 0")


@dataclass(frozen=True)
class Panel:
    """A metric's panel in the figure of metric distributions."""

    title: str  # "MFE (bias)"
    hint: str  # beside the title: "0 = unbiased"
    axis: str  # the value axis label
    reference: float | None = None  # a reference level drawn as a line (MDA 0.5, MASE 1)


@dataclass(frozen=True)
class Metric:
    """A registered metric: its function, how it is shown and which way is better. The one
    record the scorer, the report, the figures and the CLI read."""

    name: str  # the function's name: the run column and the key of score's result
    fn: Callable[..., float]  # fn(y, yhat, *takes) -> float
    label: str  # human label for sentences and legends
    direction: str  # one of DIRECTIONS
    description: str  # one line for a legend
    short: str  # table column header
    unit: str  # the note under the header: units, or what the number is relative to
    kind: str  # "plain" (a number) | "percent" (a share shown as a percentage)
    terminal: str  # the terminal table's header
    terminal_format: str  # its format spec: the terminal table keeps fixed formats
    panel: Panel | None = None  # None: not drawn in the metrics figure
    task: str = "forecast"  # what it scores first: a key of TASKS
    takes: tuple[str, ...] = ()  # fn's parameters after (y, yhat), from its signature
    tasks: tuple[str, ...] = ("forecast",)  # every task it scores (task first)

    def __call__(self, y: np.ndarray, yhat: np.ndarray, **context: Any) -> float:
        """The metric of one window; ``context`` may hold more than this metric takes."""
        return self.fn(y, yhat, **{k: context[k] for k in self.takes if k in context})


# Every metric, in display order (the order of registration below).
METRICS: dict[str, Metric] = {}


def metric(
    *,
    label: str,
    direction: str,
    description: str,
    unit: str,
    terminal_format: str,
    short: str | None = None,
    terminal: str | None = None,
    kind: str = "plain",
    panel: Panel | None = None,
    task: str | tuple[str, ...] = "forecast",
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Register the decorated function as a metric of ``task`` (or of several tasks: RMSE
    scores forecasts and regressions alike) under its own name.

    ``short`` (the table header) defaults to ``label``, ``terminal`` (the terminal's
    header) to ``short``. The function is returned unchanged, so it stays a plain function
    to call. A registration that could never be scored (a direction outside
    :data:`DIRECTIONS`, a task outside :data:`TASKS`, a parameter its task does not
    provide, a name taken) fails at import.
    """

    def register(fn: Callable[..., float]) -> Callable[..., float]:
        name = fn.__name__
        takes = tuple(inspect.signature(fn).parameters)[2:]
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        if direction not in DIRECTIONS:
            raise ValueError(f"metric {name!r}: direction {direction!r} is not one of "
                             f"{DIRECTIONS}")
        tasks = (task,) if isinstance(task, str) else tuple(task)
        for t in tasks:
            if t not in TASKS:
                raise ValueError(f"metric {name!r}: task {t!r} is not one of {tuple(TASKS)}")
            unknown = [p for p in takes if p not in TASKS[t]]
            if unknown:
                raise ValueError(f"metric {name!r} takes {unknown}, which a {t} window does "
                                 f"not provide ({TASKS[t]})")
        header = label if short is None else short
        METRICS[name] = Metric(
            name=name, fn=fn, label=label, direction=direction, description=description,
            short=header, unit=unit, kind=kind,
            terminal=header if terminal is None else terminal,
            terminal_format=terminal_format, panel=panel, task=tasks[0], takes=takes,
            tasks=tasks)
        return fn

    return register


def columns(task: str = "forecast") -> tuple[str, ...]:
    """The metrics of ``task``, in display order: the keys of :func:`score`'s result."""
    return tuple(name for name, m in METRICS.items() if task in m.tasks)


def rank_value(metric: str, value: float) -> float:
    """A number that is smaller when ``value`` is better on ``metric`` (for sorting)."""
    direction = METRICS[metric].direction
    if direction == "lower":
        return value
    if direction == "higher":
        return -value
    if direction == "closer to 1":
        return abs(value - 1.0)
    return abs(value)


def best(values: dict[str, float], metric: str) -> str | None:
    """The key whose value is best on ``metric``; None with fewer than two finite values
    (a single contender is not "best"). Ties go to the first in order."""
    finite = {k: float(v) for k, v in values.items()
              if v is not None and math.isfinite(float(v))}
    if len(finite) < 2:
        return None
    return min(finite, key=lambda k: rank_value(metric, finite[k]))


def _pair(y: np.ndarray, yhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    if y.ndim != 1 or y.shape != yhat.shape or y.size == 0:
        raise RelulabError(
            f"actual values {y.shape} and forecasts {yhat.shape} must be non-empty 1-D arrays "
            "of the same length; pass one forecast per actual value"
        )
    return y, yhat


@metric(label="RMSE", direction="lower", description="root mean squared error, original units",
        unit="series units", terminal_format=".4g", task=("forecast", "regression"),
        panel=Panel("RMSE", "lower is better", "series units"))
def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    y, yhat = _pair(y, yhat)
    return float(np.sqrt(np.mean((y - yhat) ** 2)))


@metric(label="MAE", direction="lower", description="mean absolute error, original units",
        unit="series units", terminal_format=".4g", task=("forecast", "regression"),
        panel=Panel("MAE", "lower is better", "series units"))
def mae(y: np.ndarray, yhat: np.ndarray) -> float:
    y, yhat = _pair(y, yhat)
    return float(np.mean(np.abs(y - yhat)))


@metric(label="MFE", direction="closer to 0",
        description="mean forecast error y - ŷ (bias); positive = forecasts too low",
        unit="bias, units", terminal_format="+.3g",
        panel=Panel("MFE (bias)", "0 = unbiased", "series units", 0.0))
def mfe(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean forecast error ``mean(y - ŷ)``: positive when the forecasts are too low."""
    y, yhat = _pair(y, yhat)
    return float(np.mean(y - yhat))


@metric(label="MDA", direction="higher",
        description="share of steps where the forecast moves the way the series moves "
                    "(reference study's definition)",
        unit="vs forecast", kind="percent", terminal_format=".0%",
        panel=Panel("MDA", "higher is better", "directions right", 0.5))
def mda(y: np.ndarray, yhat: np.ndarray) -> float:
    """The reference study's MDA: ``mean(sign(Δy_t) == sign(Δŷ_t))`` for ``t ≥ 1``.

    NaN for a window of one point (no step inside it).
    """
    y, yhat = _pair(y, yhat)
    if y.size < 2 or not np.all(np.isfinite(yhat)):
        return math.nan
    return float(np.mean(np.sign(np.diff(y)) == np.sign(np.diff(yhat))))


@metric(label="MDA (naive-anchored)", direction="higher",
        description="share of points where the forecast lies on the right side of the "
                    "previous actual value (textbook definition)",
        short="MDA", unit="vs actual", kind="percent", terminal="MDA naive-anch.",
        terminal_format=".0%")
def mda_naive(y: np.ndarray, yhat: np.ndarray, y_prev: float,
              steps: np.ndarray | None = None) -> float:
    """Textbook MDA: ``mean(sign(y_t - y_{t-1}) == sign(ŷ_t - y_{t-1}))`` with actual
    ``y_{t-1}``; ``y_prev`` is the actual value just before the window.

    Over forecast paths (``steps``, each point's place in its path, :func:`path_steps`) it
    is the directional accuracy of the path: a path's first forecast moves from the last
    actual value before it, as above, and each later one from the path's previous forecast
    (``sign(ŷ_t - ŷ_{t-1})``), which is all the path knows."""
    y, yhat = _pair(y, yhat)
    if not np.isfinite(y_prev):
        raise RelulabError("the actual values contain NaN or inf; clean the series first")
    if not np.all(np.isfinite(yhat)):
        return math.nan
    anchor = np.concatenate([[float(y_prev)], y[:-1]])
    start = anchor
    if steps is not None:
        start = np.where(np.asarray(steps) == 0, anchor, np.concatenate([[np.nan], yhat[:-1]]))
    return float(np.mean(np.sign(y - anchor) == np.sign(yhat - start)))


@metric(label="MASE", direction="lower",
        description="MAE over the in-sample MAE of the (seasonal) naive forecast",
        unit="vs naive", terminal_format=".3g",
        panel=Panel("MASE", "below 1 beats naive", "MAE / naive MAE in training", 1.0))
def mase(y: np.ndarray, yhat: np.ndarray, y_train: np.ndarray, season: int | None = None) -> float:
    """MAE over ``mean |y_t - y_{t-m}|`` on the training part, ``m = season or 1``."""
    m = 1 if season is None else int(season)
    y_train = np.asarray(y_train, dtype=float)
    if m < 1:
        raise RelulabError(f"season must be at least 1, got {season}")
    if y_train.ndim != 1 or y_train.size <= m:
        raise RelulabError(
            f"MASE needs a training part longer than the season m = {m}, got "
            f"{y_train.size} points; use a shorter season or more training data"
        )
    scale = float(np.mean(np.abs(y_train[m:] - y_train[:-m])))
    if scale == 0.0:
        return math.nan  # a training part constant at lag m has no naive error to scale by
    return mae(y, yhat) / scale


@metric(label="volatility ratio", direction="closer to 1",
        description="sd(forecast) / sd(actual); below 1 = flattened forecast",
        short="Vol. ratio", unit="1 = as volatile", terminal="vol. ratio", terminal_format=".2f",
        panel=Panel("Vol. ratio", "1 = as volatile", "std(forecast) / std(actual)", 1.0))
def vol_ratio(y: np.ndarray, yhat: np.ndarray) -> float:
    """``std(ŷ) / std(y)`` with ``ddof=0`` (the ddof cancels); below 1 = flattened."""
    y, yhat = _pair(y, yhat)
    sd_y = float(np.std(y))
    if sd_y == 0.0:
        return math.nan
    return float(np.std(yhat)) / sd_y


def _labels(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=float)
    if y.ndim != 1 or proba.ndim != 2 or proba.shape[0] != y.size or y.size == 0:
        raise RelulabError(
            f"labels {y.shape} and class probabilities {proba.shape} must be (n,) and "
            "(n, classes); pass one row of probabilities per label")
    return y.astype(np.int64), proba


@metric(label="accuracy", direction="higher", description="share of test examples whose "
        "most probable class is the true one", unit="of examples", kind="percent",
        terminal_format=".2%", task="classification",
        panel=Panel("Accuracy", "higher is better", "share right"))
def accuracy(y: np.ndarray, yhat: np.ndarray) -> float:
    """``mean(argmax_k p_ik == y_i)``; ties go to the first class (NumPy's argmax)."""
    y, p = _labels(y, yhat)
    return float(np.mean(np.argmax(p, axis=1) == y))


# Probabilities are clipped to [LOG_LOSS_EPS, 1] before the log (as scikit-learn clips to
# its dtype's eps): one confident mistake costs about 36, not infinity.
LOG_LOSS_EPS = 1e-15


@metric(label="log loss", direction="lower", description="mean negative log probability of "
        "the true class (cross-entropy, nats)", unit="nats", terminal_format=".4g",
        task="classification", panel=Panel("Log loss", "lower is better", "nats"))
def log_loss(y: np.ndarray, yhat: np.ndarray) -> float:
    """``-mean(log p_i,y_i)`` with ``p`` clipped to ``[LOG_LOSS_EPS, 1]``."""
    y, p = _labels(y, yhat)
    return float(-np.mean(np.log(np.clip(p[np.arange(y.size), y], LOG_LOSS_EPS, 1.0))))


@metric(label="macro F1", direction="higher", description="F1 score per class, averaged "
        "over the classes with equal weight", unit="0 to 1", terminal_format=".3f",
        task="classification", panel=Panel("Macro F1", "higher is better", "F1"))
def macro_f1(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean over the classes ``k`` of ``2 TP_k / (2 TP_k + FP_k + FN_k)`` with the argmax
    prediction; a class neither present nor predicted scores 0 (scikit-learn's
    ``zero_division=0``); the classes are ``0 .. yhat.shape[1] - 1``."""
    y, p = _labels(y, yhat)
    k = p.shape[1]
    pred = np.argmax(p, axis=1)
    tp = np.bincount(y[pred == y], minlength=k).astype(float)
    fp = np.bincount(pred, minlength=k) - tp
    fn = np.bincount(y, minlength=k) - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(np.mean(f1))


# The columns of a forecast run (relulab.result.RunRecord.metrics), in display order.
METRIC_COLUMNS = columns("forecast")


def path_steps(points: int, horizon: int, region: int | None = None) -> np.ndarray:
    """Each of ``points`` forecasts' place in its path (0 = one step ahead): regions of
    ``region`` points (a rolling fold's test region; default one region) each tiled by
    paths of ``horizon`` steps from its start (:mod:`relulab.windows`)."""
    i = np.arange(int(points))
    if region:
        i = i % int(region)
    return i % int(horizon)


# The metrics worth reading step by step along a path (the others are about a whole path).
STEP_METRICS = ("rmse", "mae", "mase")


def by_step(y: np.ndarray, yhat: np.ndarray, steps: np.ndarray, horizon: int,
            **context: Any) -> dict[str, np.ndarray]:
    """:data:`STEP_METRICS` of the forecasts ``h`` steps ahead, for ``h = 1 .. horizon``:
    ``{metric: (horizon,)}`` over the points whose place in their path (``steps``) is
    ``h - 1``; NaN where a forecast is not finite or no point is that far ahead."""
    y, yhat = _pair(y, yhat)
    steps = np.asarray(steps)
    out = {name: np.full(int(horizon), np.nan) for name in STEP_METRICS}
    if not np.all(np.isfinite(yhat)):
        return out
    for h in range(int(horizon)):
        at = steps == h
        if at.any():
            for name in STEP_METRICS:
                out[name][h] = METRICS[name](y[at], yhat[at], **context)
    return out


def score(y: np.ndarray, yhat: np.ndarray, *, task: str = "forecast",
          **context: Any) -> dict[str, float]:
    """Every metric of ``task`` on one window, keyed and ordered by :func:`columns`.

    ``context`` holds what the task's metrics take beyond ``(y, yhat)`` (:data:`TASKS`):
    for a forecast, ``y_prev`` (the actual value just before the window, for
    ``mda_naive``), ``y_train`` (the training part of the series, for MASE's scale) and
    optionally ``season``. A forecast with any non-finite value scores NaN on every metric.
    """
    if task not in TASKS:
        raise RelulabError(f"unknown task {task!r}; pass one of: {', '.join(TASKS)}")
    unknown = sorted(set(context) - set(TASKS[task]))
    if unknown:
        raise TypeError(f"score() got {unknown}, which no {task} metric takes")
    y, yhat = _labels(y, yhat) if task == "classification" else _pair(y, yhat)
    if not np.all(np.isfinite(y)):
        raise RelulabError("the actual values contain NaN or inf; clean the series first")
    chosen = [m for m in METRICS.values() if task in m.tasks]
    if not np.all(np.isfinite(yhat)):
        return {m.name: math.nan for m in chosen}
    return {m.name: m(y, yhat, **context) for m in chosen}
