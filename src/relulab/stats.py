"""Statistics over seeds: bootstrap intervals, the Diebold-Mariano test, comparisons, verdicts.

A comparison between two activations is about distributions over seeds, not one run
(PROTOCOL.md). Three pieces of evidence go into each verdict:

1. **Relative RMSE over seeds.** For every seed trained with both activations (seeds are
   paired: seed ``s`` of one arm with seed ``s`` of the other), ``r_s = RMSE_a / RMSE_ref - 1``.
   The point estimate is the median of ``r_s``; its interval is a percentile bootstrap that
   resamples seed pairs (:func:`paired_rel_diff_ci`).
2. **Diebold-Mariano test** with the Harvey-Leybourne-Newbold (1997) small-sample correction
   and Student-t(n-1) p-values, on the per-seed-median forecast of each arm over the test
   window (:func:`diebold_mariano`). statsmodels (0.15) has this test,
   ``statsmodels.tsa.stattools.diebold_mariano_test``, and it is used here with two choices
   made explicit: ``lags = h - 1`` (its default bandwidth is ``ceil(n^(1/3))``, not the
   ``h - 1`` of DM and HLN) and ``harvey_adj=True``. Its long-run variance uses Bartlett
   weights ``1 - k/h`` for ``k < h``. For ``h = 1``, the horizon of every forecast in this
   project, that is exactly the original DM/HLN statistic. For ``h > 1`` it is R's
   ``forecast::dm.test(..., varestimator = "bartlett")``, not that function's default
   rectangular ("acf") estimator, which can give a negative variance.
3. **Volatility ratio** ``sd(forecast) / sd(actual)`` per seed: its median in each arm, and
   the paired bootstrap interval of ``vol_a / vol_ref - 1``.

Verdict rules (:func:`verdict`, in :mod:`relulab.verdicts`, which the report can import
without SciPy and statsmodels; re-exported here), with ``alpha = 1 - confidence`` (0.05 by default):

- fewer than :data:`MIN_RUNS` non-diverged seed pairs: "too few runs to judge";
- the RMSE interval excludes 0 *and* DM p < alpha, pointing the same way: "evidence that
  A is more (less) accurate";
- only one of the two, or both pointing opposite ways: "mixed evidence", saying which;
- neither: "no evidence of a difference";
- volatility: with ``q`` the ratio of the two median volatility ratios, "A flattens the
  forecast" when ``q < VOL_CLEAR`` (0.9) and the paired interval of ``vol_a / vol_ref - 1``
  lies below 0; "A exaggerates the volatility" when ``q > 1 / VOL_CLEAR`` and that interval
  lies above 0; "similar volatility" when ``VOL_CLEAR <= q <= 1 / VOL_CLEAR``; otherwise "no
  clear difference in volatility" (a large median gap that the seeds do not confirm).

Every random draw comes from a generator seeded from the study seed and the names involved,
so adding an activation to a study never changes another activation's intervals.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.tsa.stattools import diebold_mariano_test

from relulab.errors import RelulabError
from relulab.result import METRIC_COLUMNS, Comparison, RunRecord
from relulab.verdicts import (
    MIN_RUNS,
    VOL_CLEAR,
    accuracy_words,
    judge_accuracy,
    judge_volatility,
    seed_interval,
    verdict,
    verdict_words,
    volatility_words,
)

__all__ = [
    "MIN_RUNS",
    "VOL_CLEAR",
    "accuracy_words",
    "bootstrap_ci",
    "compare",
    "diebold_mariano",
    "judge_accuracy",
    "judge_volatility",
    "paired_rel_diff_ci",
    "seed_interval",
    "summarize",
    "verdict",
    "verdict_words",
    "volatility_words",
]


Stat = Callable[..., Any]


def _generator(rng: np.random.Generator | int | Sequence[int]) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _name_seed(*parts: str) -> list[int]:
    # A stable (process-independent, unlike hash()) integer per name for seeding.
    return [zlib.crc32(p.encode()) for p in parts]


def _apply(stat: Stat, samples: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(stat(samples, axis=1), dtype=float)
    except TypeError:  # a statistic without an axis argument
        return np.array([stat(row) for row in samples], dtype=float)


def bootstrap_ci(
    values: Any,
    *,
    stat: Stat = np.median,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | Sequence[int],
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of ``stat`` over seeds: ``(point, lo, hi)``.

    Non-finite values (diverged runs) are dropped first. ``point`` is ``stat`` of the kept
    values; ``lo`` and ``hi`` are the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of ``stat`` over ``n_boot`` resamples with replacement. With no value left
    all three are NaN; with one, the interval is NaN (one run has no spread to resample).
    The same ``rng`` (a seed or a Generator in the same state) gives the same interval.
    """
    if not 0.0 < confidence < 1.0:
        raise RelulabError(f"confidence must lie in (0, 1), got {confidence}")
    if n_boot < 1:
        raise RelulabError(f"n_boot must be at least 1, got {n_boot}")
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    point = float(stat(x))
    if x.size == 1:
        return point, math.nan, math.nan
    idx = _generator(rng).integers(0, x.size, size=(n_boot, x.size))
    boot = _apply(stat, x[idx])
    alpha = 1.0 - confidence
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)


def paired_rel_diff_ci(
    a: Any,
    b: Any,
    *,
    stat: Stat = np.median,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | Sequence[int],
) -> tuple[float, float, float]:
    """Bootstrap interval of ``stat`` over seed pairs of ``a_s / b_s - 1``.

    ``a`` and ``b`` are aligned by position (the same seed at the same index). A pair with a
    non-finite member or ``b_s = 0`` is dropped. Resampling the per-pair ratios is resampling
    seed pairs, so the pairing (two activations started from the same seed) is kept.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise RelulabError(
            f"paired values need the same number of seeds, got {a.size} and {b.size}"
        )
    ok = np.isfinite(a) & np.isfinite(b) & (b != 0)
    return bootstrap_ci(a[ok] / b[ok] - 1.0, stat=stat, n_boot=n_boot,
                        confidence=confidence, rng=rng)


def diebold_mariano(
    e1: Any, e2: Any, *, h: int = 1, power: float = 2
) -> tuple[float, float]:
    r"""Diebold-Mariano test with the Harvey-Leybourne-Newbold correction: ``(stat, p)``.

    With loss differential :math:`d_t = |e_{1,t}|^p - |e_{2,t}|^p`, mean :math:`\bar d`,
    autocovariances :math:`\hat\gamma_k = \frac1n \sum_{t=k}^{n-1}(d_t-\bar d)(d_{t-k}-\bar d)`,

    .. math::

        \hat V = \frac1n\Big(\hat\gamma_0 + 2\sum_{k=1}^{h-1}\big(1-\tfrac kh\big)
        \hat\gamma_k\Big),\qquad
        S = \sqrt{\frac{n + 1 - 2h + h(h-1)/n}{n}}\;\frac{\bar d}{\sqrt{\hat V}},

    and the two-sided p-value from Student's t with ``n - 1`` degrees of freedom. A positive
    statistic means forecast 1 has the larger loss (is less accurate). Computed by
    ``statsmodels.tsa.stattools.diebold_mariano_test`` (see the module docstring for the
    choice of lags and weights).

    Identical forecasts (``d`` identically 0) give ``(0.0, 1.0)``: no evidence of a
    difference. A loss differential that is constant but not 0 has no variance to scale
    by and gives ``(±inf, 0.0)``. "Identically" allows rounding: a spread of ``d`` within
    ``1e-12`` of the losses' scale counts as constant.
    """
    e1 = np.asarray(e1, dtype=float).ravel()
    e2 = np.asarray(e2, dtype=float).ravel()
    n = e1.size
    if e1.shape != e2.shape:
        raise RelulabError(f"the two error series differ in length: {e1.size} and {e2.size}")
    if not (np.all(np.isfinite(e1)) and np.all(np.isfinite(e2))):
        raise RelulabError("forecast errors contain NaN or inf; drop diverged runs first")
    if h < 1 or n < 2 or h >= n:
        raise RelulabError(
            f"the Diebold-Mariano test needs 1 <= h < n and n >= 2, got h = {h}, n = {n}"
        )
    loss1, loss2 = np.abs(e1) ** power, np.abs(e2) ** power
    d = loss1 - loss2
    tol = 1e-12 * max(float(np.max(loss1 + loss2)), np.finfo(float).tiny)
    if float(np.ptp(d)) <= tol:
        if abs(float(np.mean(d))) <= tol:
            return 0.0, 1.0
        return math.copysign(math.inf, float(np.mean(d))), 0.0
    zeros = np.zeros(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = diebold_mariano_test(zeros, -e1, -e2, criterion="poly", power=power,
                                   lags=h - 1, harvey_adj=True, horizon=h)
    return float(res.statistic), float(res.pvalue)


def _as_frame(runs: pd.DataFrame | Sequence[RunRecord]) -> pd.DataFrame:
    if isinstance(runs, pd.DataFrame):
        return runs.reset_index(drop=True)
    return pd.DataFrame([
        {"activation": r.activation, "seed": r.seed, "diverged": r.diverged,
         **{m: r.metrics.get(m, math.nan) for m in METRIC_COLUMNS}}
        for r in runs
    ])


def _good(frame: pd.DataFrame, forecasts: np.ndarray) -> np.ndarray:
    """Rows that count: not diverged, with finite RMSE and a finite forecast."""
    ok = ~frame["diverged"].to_numpy(dtype=bool) & np.isfinite(frame["rmse"].to_numpy(float))
    if forecasts.shape[0] != len(frame):
        raise RelulabError(
            f"{forecasts.shape[0]} forecast rows for {len(frame)} runs; pass one row per run"
        )
    return ok & np.all(np.isfinite(forecasts), axis=1)


def compare(
    runs_a: pd.DataFrame | Sequence[RunRecord],
    runs_b: pd.DataFrame | Sequence[RunRecord],
    forecasts_a: np.ndarray,
    forecasts_b: np.ndarray,
    y_test: np.ndarray,
    *,
    activation: str,
    reference: str,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare activation ``a`` (``runs_a``) with the reference ``b`` (``runs_b``).

    ``runs_*`` are one arm's runs: a DataFrame with columns ``seed``, ``diverged``, ``rmse``
    and ``vol_ratio`` (as ``StudyResult.runs_frame``) or a list of ``RunRecord``.
    ``forecasts_*`` are the matching ``(runs, test_size)`` test forecasts, one row per run in
    the same order, in original units. Diverged runs and runs with non-finite forecasts are
    left out; seeds are paired by their ``seed`` value.
    """
    fa, fb = _as_frame(runs_a), _as_frame(runs_b)
    xa = np.atleast_2d(np.asarray(forecasts_a, dtype=float))
    xb = np.atleast_2d(np.asarray(forecasts_b, dtype=float))
    y = np.asarray(y_test, dtype=float).ravel()
    if xa.shape[1] != y.size or xb.shape[1] != y.size:
        raise RelulabError(
            f"forecasts have {xa.shape[1]} and {xb.shape[1]} points but the test window has "
            f"{y.size}; pass test-window forecasts"
        )
    ga, gb = _good(fa, xa), _good(fb, xb)
    pairs = pd.merge(fa[ga][["seed", "rmse", "vol_ratio"]], fb[gb][["seed", "rmse", "vol_ratio"]],
                     on="seed", suffixes=("_a", "_b"))
    n_pairs = len(pairs)
    base = [seed, *_name_seed(activation, reference)]
    rel, lo, hi = paired_rel_diff_ci(pairs["rmse_a"], pairs["rmse_b"], n_boot=n_boot,
                                     confidence=confidence, rng=[*base, 0])
    _, vlo, vhi = paired_rel_diff_ci(pairs["vol_ratio_a"], pairs["vol_ratio_b"], n_boot=n_boot,
                                     confidence=confidence, rng=[*base, 1])
    if ga.any() and gb.any() and y.size >= 2:
        med_a = np.median(xa[ga], axis=0)
        med_b = np.median(xb[gb], axis=0)
        dm_stat, dm_p = diebold_mariano(y - med_a, y - med_b, h=1, power=2)
    else:
        dm_stat, dm_p = math.nan, math.nan
    vol_a = _nanmedian(fa["vol_ratio"].to_numpy(float)[ga])
    vol_b = _nanmedian(fb["vol_ratio"].to_numpy(float)[gb])
    text = verdict(activation, reference, rel_diff=rel, rel_lo=lo, rel_hi=hi,
                   dm_stat=dm_stat, dm_p=dm_p, vol_ratio=vol_a, vol_ratio_ref=vol_b,
                   n_pairs=n_pairs, vol_rel_lo=vlo, vol_rel_hi=vhi, confidence=confidence)
    accuracy = judge_accuracy(rel_lo=lo, rel_hi=hi, dm_stat=dm_stat, dm_p=dm_p,
                              n_pairs=n_pairs, confidence=confidence)
    volatility = ("not_comparable" if accuracy == "too_few" else
                  judge_volatility(vol_ratio=vol_a, vol_ratio_ref=vol_b, vol_rel_lo=vlo,
                                   vol_rel_hi=vhi))
    return Comparison(activation=activation, reference=reference, metric="rmse",
                      rel_diff=rel, rel_lo=lo, rel_hi=hi, dm_stat=dm_stat, dm_p=dm_p,
                      vol_ratio=vol_a, vol_ratio_ref=vol_b, verdict=text, n_pairs=n_pairs,
                      vol_rel_lo=vlo, vol_rel_hi=vhi, accuracy=accuracy,
                      volatility=volatility, seed_interval=seed_interval(lo, hi))


def _nanmedian(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else math.nan


def summarize(
    runs_frame: pd.DataFrame,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Median and bootstrap interval over seeds of every metric, per activation.

    ``runs_frame`` has columns ``activation``, ``seed``, ``diverged`` and metric columns
    (``StudyResult.runs_frame``). Diverged runs and NaN values are left out; ``n`` counts the
    values used. Returns columns ``activation, metric, median, lo, hi, n``, activations in
    order of first appearance, metrics in ``METRIC_COLUMNS`` order.
    """
    columns = ["activation", "metric", "median", "lo", "hi", "n"]
    frame = runs_frame[~runs_frame["diverged"].astype(bool)]
    rows = []
    for activation in pd.unique(runs_frame["activation"]):
        group = frame[frame["activation"] == activation]
        for i, metric in enumerate(METRIC_COLUMNS):
            if metric not in frame.columns:
                continue
            x = group[metric].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            med, lo, hi = bootstrap_ci(x, n_boot=n_boot, confidence=confidence,
                                       rng=[seed, *_name_seed(str(activation)), i])
            rows.append((activation, metric, med, lo, hi, int(x.size)))
    return pd.DataFrame(rows, columns=columns)
