"""Statistics over seeds: bootstrap intervals, the Diebold-Mariano test, comparisons, verdicts.

A comparison between two activations is about distributions over seeds, not one run
(PROTOCOL.md). Three pieces of evidence go into each verdict:

1. **Relative RMSE over seeds.** For every seed trained with both activations (seeds are
   paired: seed ``s`` of one arm with seed ``s`` of the other), ``r_s = RMSE_a / RMSE_ref - 1``.
   The point estimate is the median of ``r_s``; its interval the pair of order statistics
   whose exact, distribution-free coverage of the median reaches the confidence
   (:func:`paired_median_ci`, :func:`median_ci`). Fewer than 6 pairs cannot reach 95%
   (3 reach 75%, 5 reach 93.75%): the range is given with the level it reaches
   (``Comparison.rel_level``), and the verdict says so.
2. **Diebold-Mariano test** with the Harvey-Leybourne-Newbold (1997) small-sample correction
   and Student-t(n-1) p-values, on the per-seed-median forecast of each arm over the test
   window (:func:`diebold_mariano`). Its long-run variance is DM's and HLN's rectangular
   one over lags ``k < h`` (the Bartlett-weighted one where that is not positive); at
   ``h = 1``, the horizon of one-step forecasts, both are the variance of the loss
   differential and the test equals statsmodels' ``diebold_mariano_test(...,
   harvey_adj=True)``; at ``h > 1`` it is R's ``forecast::dm.test`` wherever that one's
   variance is positive.
3. **Volatility ratio** ``sd(forecast) / sd(actual)`` per seed: its median in each arm, and
   the paired bootstrap interval of ``vol_a / vol_ref - 1``.

4. **Multiplicity.** A study compares every activation with one reference, so its DM
   p-values form one family: :func:`adjust_p` adjusts them with
   ``statsmodels.stats.multitest.multipletests`` (Holm by default; Bonferroni; or none),
   and the verdict reads the adjusted ``p_adjusted`` and says so. Five comparisons at an
   unadjusted 0.05 would show a "difference" by chance in about one study in four.
5. **Equivalence** within a margin ``m`` of relative RMSE (``--equivalence-margin``, 2% by
   default): the two one-sided tests (TOST, ``statsmodels.stats.weightstats.ttost_paired``)
   on the per-seed log RMSE ratios ``x_s = log RMSE_a - log RMSE_ref``, with bounds
   ``±log(1 + m)`` (:func:`equivalence_test`). On the log scale the margin is symmetric, so
   "a within 2% of b" and "b within 2% of a" are the same claim; it admits ratios in
   ``[1/1.02, 1.02]``. A small p says the mean log ratio lies inside the bounds. The
   equivalence p-values are adjusted over the family like the DM ones
   (``equivalence_p_adjusted``; ``equivalence_p`` is the raw one): a claim of equivalence
   is made for each activation separately, so it needs the same family-wise control.
6. **Probability of improvement**, ``P(RMSE_a < RMSE_ref)`` over *paired* seeds: the share
   of seed pairs in which the activation has the lower RMSE, ties counting one half, with
   Clopper and Pearson's exact interval (:func:`prob_improvement`). rliable's probability
   of improvement scores all cross pairs of unpaired runs instead
   (:func:`prob_improvement_unpaired`, for arms that do not share seeds); with a seed
   effect shared by the arms the two estimate different things.
7. **Seeds needed** (:func:`seeds_needed`): with ``sd`` the spread of the per-seed log ratios,
   the seeds per activation that a two-sided paired t-test at the study's alpha needs to
   detect a relative difference ``d`` (effect ``log(1 + d) / sd``) with 80% power, by an
   exact search on the noncentral t (:func:`seeds_for_power`); for ``d`` = 1%, 2%, 5% and
   the margin. It
   plans the next study; the adjustment for multiplicity is not in it. A seed whose run
   forecast a flat line (a dead network, :mod:`relulab.diagnostics`) can dominate ``sd``:
   one such seed among the demo's ten made "about 55 seeds" "about 2556". It stays in the
   estimate, because a network that dies is an outcome of training with that activation
   and the t-test being planned would see it too (a robust ``sd`` would plan for a test
   that is not run); the comparison names the flat seeds and gives the estimate without
   them beside it (``seeds_needed_without_flat``), so the reader sees what drives it.

Verdict rules (:func:`~relulab.verdicts.judged`, in :mod:`relulab.verdicts`, which the
report can import without SciPy and statsmodels; its words re-exported here), with
``alpha = 1 - confidence`` (0.05 by default):

- fewer than :data:`MIN_RUNS` non-diverged seed pairs: "too few runs to judge";
- the RMSE interval excludes 0 *and* the adjusted DM p (``p_adjusted``) < alpha, pointing
  the same way: "evidence that A is more (less) accurate";
- only one of the two, or both pointing opposite ways: "mixed evidence", saying which;
- neither: "no evidence of a difference";
- the decision, from that and the equivalence test: "equivalent" (the TOST p, adjusted, is
  below alpha and no difference is shown); "negligible" (both: a difference, but within the
  margin); "different" (evidence that A is more or less accurate, as above); otherwise
  "undecided: run more seeds", with the seeds a difference of the margin's size would need
  when the study has fewer pairs (the seeds-needed sentence);
- volatility: with ``q`` the ratio of the two median volatility ratios, "A flattens the
  forecast" when ``q < VOL_CLEAR`` (0.9) and the paired interval of ``vol_a / vol_ref - 1``
  lies below 0; "A exaggerates the volatility" when ``q > 1 / VOL_CLEAR`` and that interval
  lies above 0; "similar volatility" when ``VOL_CLEAR <= q <= 1 / VOL_CLEAR``; otherwise "no
  clear difference in volatility" (a large median gap that the seeds do not confirm).

Every random draw comes from a generator seeded from the study seed and the names involved,
so adding an activation to a study never changes another activation's intervals.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from relulab.config import CORRECTIONS
from relulab.errors import RelulabError
from relulab.metrics import METRIC_COLUMNS
from relulab.result import Comparison, RunRecord
from relulab.verdicts import (
    MIN_RUNS,
    VOL_CLEAR,
    accuracy_words,
    judge_accuracy,
    judge_volatility,
    judged,
    seed_interval,
    verdict_words,
    volatility_words,
)

__all__ = [
    "CORRECTIONS",
    "MIN_RUNS",
    "POWER",
    "SEEDS_DIFFS",
    "VOL_CLEAR",
    "accuracy_words",
    "adjust_comparisons",
    "adjust_p",
    "bootstrap_ci",
    "compare",
    "diebold_mariano",
    "equivalence_test",
    "judge_accuracy",
    "judge_volatility",
    "median_ci",
    "paired_median_ci",
    "paired_rel_diff_ci",
    "prob_improvement",
    "prob_improvement_unpaired",
    "seed_interval",
    "seeds_needed",
    "summarize",
    "verdict_words",
    "volatility_words",
]


Stat = Callable[..., Any]

SEEDS_DIFFS = (0.01, 0.02, 0.05)  # relative differences the seeds-needed estimate is for
POWER = 0.8  # the power the seeds-needed estimate aims at


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


def median_ci(values: Any, *, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """The median of ``values`` (one per seed pair) and its distribution-free interval:
    ``(median, lo, hi, level)``.

    The interval is the pair of order statistics ``(x_(k), x_(n+1-k))`` with the largest
    ``k`` whose exact coverage of the population median, ``1 - 2 P(B <= k - 1)`` for ``B``
    binomial ``(n, 1/2)``, is at least ``confidence``; ``level`` is that coverage (for
    every continuous distribution, not an approximation). Few values cannot reach every
    level: 3 reach at most 75% (the range), 5 at most 93.75%, 6 and more 95%. Then the
    range is returned with the level it does reach, and a verdict quoting it says so.
    Non-finite values are dropped; none gives NaN, one a median and no interval.

    The percentile bootstrap it replaced claimed 95% but covered 74% at 3 pairs and 92%
    to 94% at 10 to 20 (``benchmarks/coverage.py``). A t interval on the mean log ratio
    reaches 95% at 3 pairs when the log ratios are normal, but covers 71% to 87% when one
    seed in ten is far off, as a dead network's is: the median's interval does not care.
    """
    from scipy.stats import binom

    if not 0.0 < confidence < 1.0:
        raise RelulabError(f"confidence must lie in (0, 1), got {confidence}")
    x = np.sort(np.asarray(values, dtype=float).ravel())
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    point = float(np.median(x))
    if n == 1:
        return point, math.nan, math.nan, math.nan
    k_best, level_best = 1, 1.0 - 2.0 * float(binom.cdf(0, n, 0.5))
    for k in range(2, n // 2 + 1):
        level = 1.0 - 2.0 * float(binom.cdf(k - 1, n, 0.5))
        if level < confidence:
            break
        k_best, level_best = k, level
    return point, float(x[k_best - 1]), float(x[n - k_best]), level_best


def paired_median_ci(a: Any, b: Any, *, confidence: float = 0.95
                     ) -> tuple[float, float, float, float]:
    """:func:`median_ci` of the relative differences ``a_s / b_s - 1`` of seed pairs
    (aligned by position; a pair with a non-finite member or ``b_s = 0`` is dropped)."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise RelulabError(
            f"paired values need the same number of seeds, got {a.size} and {b.size}"
        )
    ok = np.isfinite(a) & np.isfinite(b) & (b != 0)
    return median_ci(a[ok] / b[ok] - 1.0, confidence=confidence)


def adjust_p(pvalues: Any, method: str = "holm") -> np.ndarray:
    """p-values adjusted for multiplicity over one family: ``"holm"`` (step-down, controls
    the family-wise error rate under any dependence), ``"bonferroni"`` (``min(1, m p)``)
    or ``"none"``, by ``statsmodels.stats.multitest.multipletests``. NaN p-values (no test)
    stay NaN and do not count in the family's size ``m``."""
    if method not in CORRECTIONS:
        raise RelulabError(f"unknown correction {method!r}; choose one of: "
                           f"{', '.join(CORRECTIONS)}")
    p = np.asarray(pvalues, dtype=float).ravel()
    out = p.copy()
    ok = np.isfinite(p)
    if method != "none" and ok.any():
        out[ok] = multipletests_p(p[ok], method)
    return out


def multipletests_p(pvalues: Any, method: str = "holm") -> np.ndarray:
    """``statsmodels.stats.multitest.multipletests(pvalues, method=method)[1]``, without
    the full garbage collection statsmodels' Holm branch runs on every call.

    That ``gc.collect()`` walks every object of the process: 0.12 s a call beside a
    100-series panel's runs, two calls a series, so a panel's analysis grew quadratically
    with its series. The objects that exist before the call are frozen (moved out of the
    collector's sight, ``gc.freeze``) for its duration, so the collection sees only the
    call's own; they are handed back afterwards unless something else had frozen objects
    first.
    """
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        return np.asarray(multipletests(pvalues, method=method)[1], dtype=float)
    finally:
        if not frozen_before:
            gc.unfreeze()


def equivalence_test(a: Any, b: Any, *, margin: float) -> float:
    r"""Two one-sided tests (TOST) that paired values ``a`` and ``b`` agree within a
    relative ``margin``: the p-value of

    .. math::

        H_0:\ |\mu| \ge \log(1 + m)\quad\text{vs}\quad H_1:\ |\mu| < \log(1 + m),
        \qquad \mu = E[\log a_s - \log b_s],

    the larger of the two one-sided paired t-tests' p-values
    (``statsmodels.stats.weightstats.ttost_paired`` on ``log a`` and ``log b``). Pairs with
    a non-finite or non-positive member are dropped. Fewer than 2 pairs give NaN. Log
    ratios without spread (within rounding) give 0 when their common value lies strictly
    inside the bounds and 1 otherwise: there is no variance to test with, and the t
    statistics would be infinite.
    """
    if not (math.isfinite(margin) and margin > 0):
        raise RelulabError(f"the equivalence margin must be a positive number, got {margin}")
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    la, lb = np.log(a[ok]), np.log(b[ok])
    if la.size < 2:
        return math.nan
    bound = math.log1p(margin)
    x = la - lb
    if float(np.ptp(x)) <= 1e-12 * max(1.0, float(np.max(np.abs(x)))):
        return 0.0 if abs(float(np.mean(x))) < bound else 1.0
    return float(ttost_paired(la, lb, -bound, bound)[0])


def prob_improvement(
    a: Any,
    b: Any,
    *,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """The paired probability of improvement ``P(a_s < b_s)`` over seed pairs with its
    interval: ``(point, lo, hi)``.

    The point is the share of seed pairs in which ``a_s < b_s``, a tie counting one half:
    each seed's run with one activation against the same seed's run with the other (the
    seeds of both arms share their data order and, where shapes agree, their initial
    weights). rliable's probability of improvement (Agarwal et al. 2021) instead scores all
    ``n_a * n_b`` cross pairs of unpaired runs (:func:`prob_improvement_unpaired`); with a
    seed effect shared by both arms the two estimate different things. The interval is
    Clopper and Pearson's exact interval for a proportion of ``n`` pairs (statsmodels'
    ``proportion_confint(method="beta")``), which covers at least its level for every
    ``n`` and proportion; unlike the percentile bootstrap it replaced (which covered 64% to
    69% at 3 pairs) it does not collapse to [1, 1] when every pair is won. Wilson's score
    interval, narrower, was measured too and dipped to 91% at 10 pairs
    (``benchmarks/coverage.py``). Pairs with a non-finite member are dropped.
    """
    from statsmodels.stats.proportion import proportion_confint

    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    score = np.where(a[ok] < b[ok], 1.0, np.where(a[ok] == b[ok], 0.5, 0.0))
    if score.size == 0:
        return math.nan, math.nan, math.nan
    wins = float(score.sum())
    lo, hi = proportion_confint(wins, score.size, alpha=1 - confidence, method="beta")
    return wins / score.size, float(lo), float(hi)


def prob_improvement_unpaired(
    a: Any,
    b: Any,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | Sequence[int],
) -> tuple[float, float, float]:
    """rliable's probability of improvement for arms whose runs are not paired:
    ``P(a < b)`` over all ``len(a) * len(b)`` cross pairs (the Mann-Whitney statistic over
    ``n_a n_b``, ties one half), with the percentile bootstrap interval that resamples
    each arm on its own (rliable's stratified bootstrap). Non-finite values are dropped."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan

    def share(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        less = (x[..., :, None] < y[..., None, :]).mean(axis=(-2, -1))
        ties = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
        return less + 0.5 * ties

    point = float(share(a, b))
    if a.size < 2 and b.size < 2:
        return point, math.nan, math.nan
    gen = _generator(rng)
    boot = share(a[gen.integers(0, a.size, (n_boot, a.size))],
                 b[gen.integers(0, b.size, (n_boot, b.size))])
    alpha = 1 - confidence
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)


# Plans beyond this many seeds are not given: no study runs them.
MAX_SEEDS = 10**9


def t_test_power(n: int, effect: float, alpha: float) -> float:
    """Power of the two-sided one-sample (paired) t-test with ``n`` observations at level
    ``alpha`` when the mean is ``effect`` standard deviations from 0: ``P(|T| > t_crit)``
    for ``T`` noncentral t with ``n - 1`` degrees of freedom and noncentrality
    ``effect * sqrt(n)``.

    scipy's ``nct`` computes it, except where it returns NaN (few degrees of freedom and a
    large noncentrality: ``n = 2`` or ``3`` at effect 11.3), and there it is integrated
    directly: with ``T = (Z + nc) / (W / sqrt(df))``, ``W`` chi-distributed,
    ``P(T > c) = E[P(Z > c W / sqrt(df) - nc)]``, by ``scipy.integrate.quad`` over ``W``'s
    density (the two agree to 1e-12 where both answer)."""
    from scipy.stats import nct
    from scipy.stats import t as student

    df = n - 1
    crit = float(student.isf(alpha / 2, df))
    nc = abs(effect) * math.sqrt(n)
    value = float(nct.sf(crit, df, nc) + nct.cdf(-crit, df, nc))
    if math.isfinite(value) and 0.0 <= value <= 1.0:
        return value
    return _t_power_integral(df, crit, nc)


def _t_power_integral(df: int, crit: float, nc: float) -> float:
    from scipy import integrate
    from scipy.stats import chi, norm

    def tails(w: float) -> float:
        s = crit * w / math.sqrt(df)
        return float((norm.sf(s - nc) + norm.cdf(-s - nc)) * chi.pdf(w, df))

    value, _ = integrate.quad(tails, 0.0, math.inf, limit=200, epsabs=1e-13, epsrel=1e-11)
    return min(1.0, max(0.0, float(value)))


def seeds_for_power(sd: float, diff: float, *, alpha: float, power: float = POWER) -> int | None:
    """Seeds per activation for a two-sided paired t-test at ``alpha`` to detect a relative
    difference ``diff`` with ``power``, when per-seed log ratios spread with ``sd``: the
    smallest ``n >= 2`` whose exact power (:func:`t_test_power`, effect
    ``log(1 + diff) / sd``) reaches ``power``, found by doubling and then bisection (power
    grows with ``n``). None when ``sd`` is 0 or not finite (no spread to plan with) or when
    more than :data:`MAX_SEEDS` would be needed.

    statsmodels' ``TTestPower.solve_power``, used before, returned NaN for 139 of 391
    effects in [1, 40] at alpha 0.05 (the smallest 5.4, where 2 to 4 seeds suffice) and too
    few seeds for some others (effect 11.3 at alpha 0.01: 2 seeds, whose power is 0.198)."""
    if not (math.isfinite(sd) and sd > 0):
        return None
    effect = math.log1p(diff) / sd
    if effect == 0:
        return None

    def enough(n: int) -> bool:
        return t_test_power(n, effect, alpha) >= power

    if enough(2):
        return 2
    lo, hi = 2, 4  # power(lo) < target; find hi with power(hi) >= target
    while not enough(hi):
        lo, hi = hi, hi * 2
        if hi > MAX_SEEDS:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def seeds_needed(
    a: Any, b: Any, *, alpha: float, diffs: Sequence[float] = SEEDS_DIFFS,
    power: float = POWER,
) -> dict[str, int | None]:
    """:func:`seeds_for_power` for each relative difference in ``diffs``, with ``sd`` the
    sample standard deviation of the per-seed log ratios ``log a_s - log b_s``, keyed by
    the difference as written (``"0.02"``). All None with fewer than 2 usable pairs."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    x = np.log(a[ok]) - np.log(b[ok])
    sd = float(np.std(x, ddof=1)) if x.size >= 2 else math.nan
    if math.isfinite(sd) and sd <= 1e-12 * max(1.0, float(np.max(np.abs(x)))):
        sd = 0.0  # rounding, not spread
    return {f"{d:g}": seeds_for_power(sd, d, alpha=alpha, power=power) for d in diffs}


def diebold_mariano(
    e1: Any, e2: Any, *, h: int = 1, power: float = 2
) -> tuple[float, float]:
    r"""Diebold-Mariano test with the Harvey-Leybourne-Newbold correction: ``(stat, p)``.

    With loss differential :math:`d_t = |e_{1,t}|^p - |e_{2,t}|^p`, mean :math:`\bar d`,
    autocovariances :math:`\hat\gamma_k = \frac1n \sum_{t=k}^{n-1}(d_t-\bar d)(d_{t-k}-\bar d)`,

    .. math::

        \hat V = \frac1n\Big(\hat\gamma_0 + 2\sum_{k=1}^{h-1}\hat\gamma_k\Big),\qquad
        S = \sqrt{\frac{n + 1 - 2h + h(h-1)/n}{n}}\;\frac{\bar d}{\sqrt{\hat V}},

    and the two-sided p-value from Student's t with ``n - 1`` degrees of freedom. A positive
    statistic means forecast 1 has the larger loss (is less accurate).

    :math:`\hat V` is the rectangular (truncated) long-run variance of Diebold and Mariano
    (1995), for which Harvey, Leybourne and Newbold (1997) derived the factor in ``S``: R's
    ``forecast::dm.test`` with its default ``varestimator="acf"``. For ``h > 1`` it can be
    negative; there R starts again at ``h = 1`` (dropping the serial correlation that
    h-step errors have), while here the Bartlett-weighted variance
    :math:`\hat\gamma_0 + 2\sum_{k<h}(1 - k/h)\hat\gamma_k`, which cannot be negative,
    takes its place and keeps it (R's ``varestimator="bartlett"``; statsmodels'
    ``diebold_mariano_test`` always uses it). At ``h = 1`` all of these are
    :math:`\hat\gamma_0 / n` and the test equals statsmodels'
    ``diebold_mariano_test(..., harvey_adj=True)``.

    Identical forecasts (``d`` identically 0) give ``(0.0, 1.0)``: no evidence of a
    difference. A loss differential that is constant but not 0 has no variance to scale
    by and gives ``(±inf, 0.0)``. "Identically" allows rounding: a spread of ``d`` within
    ``1e-12`` of the losses' scale counts as constant.
    """
    from scipy.stats import t as student

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
    mean = float(np.mean(d))
    c = d - mean
    gamma = np.array([float(np.dot(c[k:], c[:n - k])) / n for k in range(h)])
    variance = (gamma[0] + 2.0 * gamma[1:].sum()) / n
    if not variance > 0:
        weights = 1.0 - np.arange(1, h) / h
        variance = (gamma[0] + 2.0 * float(np.dot(weights, gamma[1:]))) / n
    stat = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n) * mean / math.sqrt(variance)
    return float(stat), float(2.0 * student.sf(abs(stat), n - 1))


def _as_frame(runs: pd.DataFrame | Sequence[RunRecord],
              columns: Sequence[str] = METRIC_COLUMNS) -> pd.DataFrame:
    if isinstance(runs, pd.DataFrame):
        return runs.reset_index(drop=True)
    return pd.DataFrame([
        {"activation": r.activation, "seed": r.seed, "diverged": r.diverged,
         **{m: r.metrics.get(m, math.nan) for m in columns}}
        for r in runs
    ], columns=["activation", "seed", "diverged", *columns])


def _good(frame: pd.DataFrame, forecasts: np.ndarray, metric: str = "rmse") -> np.ndarray:
    """Rows that count: not diverged, with a finite headline metric and a finite forecast."""
    ok = ~frame["diverged"].to_numpy(dtype=bool) & np.isfinite(frame[metric].to_numpy(float))
    if forecasts.shape[0] != len(frame):
        raise RelulabError(
            f"{forecasts.shape[0]} forecast rows for {len(frame)} runs; pass one row per run"
        )
    return ok & np.all(np.isfinite(forecasts), axis=1)


def _seed_pairs(a: Any, b: Any, *, confidence: float, margin: float) -> dict[str, Any]:
    """The comparison's seed-level fields from the paired headline values ``a`` and ``b``
    (one per seed pair): the median relative difference and its order-statistic interval
    with the level it reaches (:func:`paired_median_ci`), the paired probability of
    improvement with Clopper and Pearson's interval, the equivalence test and the seeds
    needed; shared by forecasts (:func:`compare`) and tasks (:func:`compare_task`). No
    random draw: the same pairs give the same fields."""
    rel, lo, hi, level = paired_median_ci(a, b, confidence=confidence)
    pi, pi_lo, pi_hi = prob_improvement(a, b, confidence=confidence)
    return dict(rel_diff=rel, rel_lo=lo, rel_hi=hi, rel_level=level, n_pairs=len(a),
                equivalence_margin=margin, equivalence_p=equivalence_test(a, b, margin=margin),
                prob_improvement=pi, prob_improvement_low=pi_lo, prob_improvement_high=pi_hi,
                seeds_needed=seeds_needed(a, b, alpha=1.0 - confidence,
                                          diffs=_diffs(margin)))


def _diffs(margin: float) -> list[float]:
    """The relative differences the seeds-needed estimate is for: SEEDS_DIFFS and the
    equivalence margin."""
    return sorted({*SEEDS_DIFFS, margin})


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
    equivalence_margin: float = 0.02,
    flat_a: Sequence[int] = (),
    flat_b: Sequence[int] = (),
    horizon: int = 1,
) -> Comparison:
    """Compare activation ``a`` (``runs_a``) with the reference ``b`` (``runs_b``).

    ``runs_*`` are one arm's runs: a DataFrame with columns ``seed``, ``diverged``, ``rmse``
    and ``vol_ratio`` (as ``StudyResult.runs_frame``) or a list of ``RunRecord``.
    ``forecasts_*`` are the matching ``(runs, test_size)`` test forecasts, one row per run in
    the same order, in original units. Diverged runs and runs with non-finite forecasts are
    left out; seeds are paired by their ``seed`` value. The comparison stands alone here
    (``p_adjusted`` is ``dm_p``); :func:`adjust_comparisons` adjusts a study's comparisons
    over their family and judges them again. ``flat_a``/``flat_b`` are the seeds of each
    arm whose run forecast a flat line (:func:`relulab.diagnostics.flat_seeds`): the
    comparison names those among its pairs and estimates the seeds needed without them.
    ``horizon``: the forecasts are paths of that many steps (:mod:`relulab.windows`), so
    the Diebold-Mariano test runs at ``h = horizon``: the errors of one path share its
    origin and are correlated up to lag ``h - 1``.
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
    base = [seed, *_name_seed(activation, reference)]
    fields = _seed_pairs(pairs["rmse_a"], pairs["rmse_b"], confidence=confidence,
                         margin=equivalence_margin)
    _, vlo, vhi = paired_rel_diff_ci(pairs["vol_ratio_a"], pairs["vol_ratio_b"], n_boot=n_boot,
                                     confidence=confidence, rng=[*base, 1])
    if ga.any() and gb.any() and y.size >= 2:
        med_a = np.median(xa[ga], axis=0)
        med_b = np.median(xb[gb], axis=0)
        dm_stat, dm_p = diebold_mariano(y - med_a, y - med_b, h=min(int(horizon), y.size - 1),
                                        power=2)
    else:
        dm_stat, dm_p = math.nan, math.nan
    vol_a = _nanmedian(fa["vol_ratio"].to_numpy(float)[ga])
    vol_b = _nanmedian(fb["vol_ratio"].to_numpy(float)[gb])
    paired = set(pairs["seed"].astype(int))
    flat = {name: sorted(paired & {int(s) for s in seeds})
            for name, seeds in ((activation, flat_a), (reference, flat_b))}
    flat = {name: seeds for name, seeds in flat.items() if seeds}
    kept = pairs[~pairs["seed"].isin([s for seeds in flat.values() for s in seeds])]
    c = Comparison(activation=activation, reference=reference, metric="rmse",
                   dm_stat=dm_stat, dm_p=dm_p, vol_ratio=vol_a, vol_ratio_ref=vol_b,
                   verdict="", vol_rel_lo=vlo, vol_rel_hi=vhi, p_adjusted=dm_p,
                   correction="none", n_comparisons=1, flat_seeds=flat,
                   seeds_needed_without_flat=seeds_needed(
                       kept["rmse_a"], kept["rmse_b"], alpha=1.0 - confidence,
                       diffs=_diffs(equivalence_margin)) if flat else {},
                   **fields)
    return judged(c, confidence)


def loss_test(loss_a: Any, loss_b: Any) -> tuple[float, float]:
    """``(stat, p)`` of the paired test on per-example losses of two models scored on the
    same test examples: the Diebold-Mariano test at horizon 1 on the loss differential
    ``d_i = loss_a,i - loss_b,i`` (for independent examples, a paired t-test with the
    Harvey-Leybourne-Newbold small-sample factor). Positive: ``a`` has the larger loss.
    Computed by :func:`diebold_mariano` on ``sqrt(loss)`` with power 2, which is the loss
    itself."""
    la = np.asarray(loss_a, dtype=float).ravel()
    lb = np.asarray(loss_b, dtype=float).ravel()
    if np.any(la < 0) or np.any(lb < 0):
        raise RelulabError("per-example losses must be non-negative")
    return diebold_mariano(np.sqrt(la), np.sqrt(lb), h=1, power=2)


def example_losses(task: str, y: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Per test example, the loss the task's headline metric averages: the squared error
    (regression) or the negative log probability of the true class, clipped as
    :func:`relulab.metrics.log_loss` clips (classification). ``predictions``: one run's,
    ``(n,)`` or ``(n, classes)``."""
    from relulab.metrics import LOG_LOSS_EPS

    y = np.asarray(y)
    p = np.asarray(predictions, dtype=float)
    if task == "classification":
        return -np.log(np.clip(p[np.arange(y.size), y.astype(int)], LOG_LOSS_EPS, 1.0))
    return (np.asarray(y, dtype=float) - p) ** 2


def compare_task(
    runs_a: Sequence[RunRecord],
    runs_b: Sequence[RunRecord],
    losses_a: np.ndarray,
    losses_b: np.ndarray,
    *,
    metric: str,
    task: str,
    activation: str,
    reference: str,
    confidence: float = 0.95,
    equivalence_margin: float = 0.02,
) -> Comparison:
    """Compare activation ``a`` with the reference ``b`` on a supervised task (a user's
    model, a table): as :func:`compare` does for forecasts, on the task's headline
    ``metric`` (lower is better: RMSE, log loss) and with :func:`loss_test` on the
    per-example losses averaged over each arm's good seeds in place of the DM test on the
    seed-median forecast. ``losses_*``: ``(runs, n_test)`` per-example losses
    (:func:`example_losses`), one row per run in the order of ``runs_*``. A task has no
    volatility: those fields stay NaN and the volatility code is ``"none"``."""
    fa, fb = _as_frame(runs_a, (metric,)), _as_frame(runs_b, (metric,))
    la = np.atleast_2d(np.asarray(losses_a, dtype=float))
    lb = np.atleast_2d(np.asarray(losses_b, dtype=float))
    ga, gb = _good(fa, la, metric), _good(fb, lb, metric)
    pairs = pd.merge(fa[ga][["seed", metric]], fb[gb][["seed", metric]], on="seed",
                     suffixes=("_a", "_b"))
    fields = _seed_pairs(pairs[f"{metric}_a"], pairs[f"{metric}_b"], confidence=confidence,
                         margin=equivalence_margin)
    if ga.any() and gb.any() and la.shape[1] >= 2:
        stat, p = loss_test(la[ga].mean(axis=0), lb[gb].mean(axis=0))
    else:
        stat, p = math.nan, math.nan
    c = Comparison(activation=activation, reference=reference, metric=metric, dm_stat=stat,
                   dm_p=p, vol_ratio=math.nan, vol_ratio_ref=math.nan, verdict="",
                   p_adjusted=p, correction="none", n_comparisons=1, task=task, **fields)
    return judged(c, confidence)


def adjust_comparisons(comparisons: Sequence[Comparison], *, correction: str = "holm",
                       confidence: float = 0.95) -> list[Comparison]:
    """A study's comparisons with their DM and equivalence p-values adjusted over the family
    (:func:`adjust_p`), and judged again on the adjusted values (the verdict says so)."""
    dm = adjust_p([c.dm_p for c in comparisons], correction)
    eq = adjust_p([c.equivalence_p for c in comparisons], correction)
    m = int(np.isfinite([c.dm_p for c in comparisons]).sum())
    return [judged(dataclasses.replace(c, p_adjusted=float(p), equivalence_p_adjusted=float(e),
                                       correction=correction, n_comparisons=m), confidence)
            for c, p, e in zip(comparisons, dm, eq, strict=True)]


def _nanmedian(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else math.nan


def summarize(
    runs_frame: pd.DataFrame,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    columns: Sequence[str] = METRIC_COLUMNS,
) -> pd.DataFrame:
    """Median and bootstrap interval over seeds of every metric, per activation.

    ``runs_frame`` has columns ``activation``, ``seed``, ``diverged`` and metric columns
    (``StudyResult.runs_frame``). Diverged runs and NaN values are left out; ``n`` counts the
    values used. Returns columns ``activation, metric, median, lo, hi, n``, activations in
    order of first appearance, metrics in the order of ``columns`` (a task's metric
    columns, :func:`relulab.metrics.columns`; a forecast's by default).
    """
    metrics = list(columns)
    columns = ["activation", "metric", "median", "lo", "hi", "n"]
    frame = runs_frame[~runs_frame["diverged"].astype(bool)]
    rows = []
    for activation in pd.unique(runs_frame["activation"]):
        group = frame[frame["activation"] == activation]
        for i, metric in enumerate(metrics):
            if metric not in frame.columns:
                continue
            x = group[metric].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            med, lo, hi = bootstrap_ci(x, n_boot=n_boot, confidence=confidence,
                                       rng=[seed, *_name_seed(str(activation)), i])
            rows.append((activation, metric, med, lo, hi, int(x.size)))
    return pd.DataFrame(rows, columns=columns)
