"""Forecast accuracy metrics of PROTOCOL.md, in the series' original units.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from relulab.errors import RelulabError
from relulab.result import METRIC_COLUMNS

__all__ = [
    "METRICS",
    "MetricInfo",
    "Panel",
    "best",
    "mae",
    "mase",
    "mda",
    "mda_naive",
    "mfe",
    "rank_value",
    "rmse",
    "score",
    "vol_ratio",
]


@dataclass(frozen=True)
class Panel:
    """A metric's panel in the figure of metric distributions."""

    title: str  # "MFE (bias)"
    hint: str  # beside the title: "0 = unbiased"
    axis: str  # the value axis label
    reference: float | None = None  # a reference level drawn as a line (MDA 0.5, MASE 1)


@dataclass(frozen=True)
class MetricInfo:
    """How to show a metric and which way is better: the one registry that the report, the
    figures and the CLI read."""

    label: str  # human label for sentences and legends
    direction: str  # "lower" | "higher" | "closer to 1" | "closer to 0"
    description: str  # one line for a legend
    short: str  # table column header
    unit: str  # the note under the header: units, or what the number is relative to
    kind: str  # "plain" (a number) | "percent" (a share shown as a percentage)
    terminal: str  # the terminal table's header
    terminal_format: str  # its format spec: the terminal table keeps fixed formats
    panel: Panel | None = None  # None: not drawn in the metrics figure


METRICS: dict[str, MetricInfo] = {
    "rmse": MetricInfo("RMSE", "lower", "root mean squared error, original units",
                       "RMSE", "series units", "plain", "RMSE", ".4g",
                       Panel("RMSE", "lower is better", "series units")),
    "mae": MetricInfo("MAE", "lower", "mean absolute error, original units",
                      "MAE", "series units", "plain", "MAE", ".4g",
                      Panel("MAE", "lower is better", "series units")),
    "mfe": MetricInfo("MFE", "closer to 0",
                      "mean forecast error y - ŷ (bias); positive = forecasts too low",
                      "MFE", "bias, units", "plain", "MFE", "+.3g",
                      Panel("MFE (bias)", "0 = unbiased", "series units", 0.0)),
    "mda": MetricInfo("MDA", "higher",
                      "share of steps where the forecast moves the way the series moves "
                      "(reference study's definition)",
                      "MDA", "vs forecast", "percent", "MDA", ".0%",
                      Panel("MDA", "higher is better", "directions right", 0.5)),
    "mda_naive": MetricInfo("MDA (naive-anchored)", "higher",
                            "share of points where the forecast lies on the right side of "
                            "the previous actual value (textbook definition)",
                            "MDA", "vs actual", "percent", "MDA naive-anch.", ".0%"),
    "mase": MetricInfo("MASE", "lower",
                       "MAE over the in-sample MAE of the (seasonal) naive forecast",
                       "MASE", "vs naive", "plain", "MASE", ".3g",
                       Panel("MASE", "below 1 beats naive", "MAE / naive MAE in training", 1.0)),
    "vol_ratio": MetricInfo("volatility ratio", "closer to 1",
                            "sd(forecast) / sd(actual); below 1 = flattened forecast",
                            "Vol. ratio", "1 = as volatile", "plain", "vol. ratio", ".2f",
                            Panel("Vol. ratio", "1 = as volatile",
                                  "std(forecast) / std(actual)", 1.0)),
}
assert tuple(METRICS) == METRIC_COLUMNS  # one metadata entry per metric column, same order


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


def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    y, yhat = _pair(y, yhat)
    return float(np.sqrt(np.mean((y - yhat) ** 2)))


def mae(y: np.ndarray, yhat: np.ndarray) -> float:
    y, yhat = _pair(y, yhat)
    return float(np.mean(np.abs(y - yhat)))


def mfe(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean forecast error ``mean(y - ŷ)``: positive when the forecasts are too low."""
    y, yhat = _pair(y, yhat)
    return float(np.mean(y - yhat))


def mda(y: np.ndarray, yhat: np.ndarray) -> float:
    """The reference study's MDA: ``mean(sign(Δy_t) == sign(Δŷ_t))`` for ``t ≥ 1``.

    NaN for a window of one point (no step inside it).
    """
    y, yhat = _pair(y, yhat)
    if y.size < 2 or not np.all(np.isfinite(yhat)):
        return math.nan
    return float(np.mean(np.sign(np.diff(y)) == np.sign(np.diff(yhat))))


def mda_naive(y: np.ndarray, yhat: np.ndarray, y_prev: float) -> float:
    """Textbook MDA: ``mean(sign(y_t - y_{t-1}) == sign(ŷ_t - y_{t-1}))`` with actual
    ``y_{t-1}``; ``y_prev`` is the actual value just before the window."""
    y, yhat = _pair(y, yhat)
    if not np.all(np.isfinite(yhat)):
        return math.nan
    anchor = np.concatenate([[float(y_prev)], y[:-1]])
    return float(np.mean(np.sign(y - anchor) == np.sign(yhat - anchor)))


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


def vol_ratio(y: np.ndarray, yhat: np.ndarray) -> float:
    """``std(ŷ) / std(y)`` with ``ddof=0`` (the ddof cancels); below 1 = flattened."""
    y, yhat = _pair(y, yhat)
    sd_y = float(np.std(y))
    if sd_y == 0.0:
        return math.nan
    return float(np.std(yhat)) / sd_y


def score(
    y: np.ndarray,
    yhat: np.ndarray,
    *,
    y_prev: float,
    y_train: np.ndarray,
    season: int | None = None,
) -> dict[str, float]:
    """Every metric of one forecast window, keyed by ``relulab.result.METRIC_COLUMNS``.

    ``y_prev`` is the actual value just before the window (for ``mda_naive``), ``y_train``
    the training part of the series (for MASE's scale). A forecast with any non-finite value
    scores NaN on every metric.
    """
    y, yhat = _pair(y, yhat)
    if not np.all(np.isfinite(y)) or not np.isfinite(y_prev):
        raise RelulabError("the actual values contain NaN or inf; clean the series first")
    if not np.all(np.isfinite(yhat)):
        return dict.fromkeys(METRIC_COLUMNS, math.nan)
    return {
        "rmse": rmse(y, yhat),
        "mae": mae(y, yhat),
        "mfe": mfe(y, yhat),
        "mda": mda(y, yhat),
        "mda_naive": mda_naive(y, yhat, y_prev),
        "mase": mase(y, yhat, y_train, season),
        "vol_ratio": vol_ratio(y, yhat),
    }
