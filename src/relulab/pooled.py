"""Across many series: does an activation win more often than chance, and by rank?

One series and ten seeds cannot say whether a finding generalises; a panel can. Given one
score per series and activation (the median test RMSE over seeds, lower is better), this
module answers in the way Demšar (2006, "Statistical Comparisons of Classifiers over
Multiple Data Sets", JMLR 7) recommends for comparing methods over many data sets:

- **ranks**: per series, each activation's rank (1 = lowest RMSE; ties share the average
  rank), and the mean rank over series with a percentile bootstrap interval over series;
- **wins against the reference**: on how many series an activation's score is lower than
  the reference's (a tie counts half), with a Wilson interval (statsmodels'
  ``proportion_confint``), and a two-sided sign test of "wins as often as it loses"
  (scipy's ``binomtest``), ties split evenly between wins and losses and an odd one left
  out, as Demšar (2006, section 3.1.3) prescribes: 10 wins, 2 losses and 2 ties test 11 of
  14 (p = 0.057), not 10 of 12 (p = 0.039);
- **Friedman's test** that all activations rank alike: scipy's ``friedmanchisquare``,
  whose chi-square is corrected for tied ranks, and beside it Iman and Davenport's
  ``F_F = (N - 1) chi2 / (N (k - 1) - chi2)`` on ``(k - 1, (k - 1)(N - 1))`` degrees of
  freedom (:func:`iman_davenport`), less conservative, which Demšar recommends;
- **post hoc, against the reference**: Wilcoxon's signed-rank test per activation on the
  paired scores (scipy), the p-values Holm-adjusted together (statsmodels'
  ``multipletests``); and the **critical difference** of mean ranks of the Nemenyi test,
  :math:`CD = q_\\alpha \\sqrt{k(k+1) / (6N)}` with :math:`q_\\alpha` the studentized range
  quantile over :math:`\\sqrt 2` (scipy's ``studentized_range``), for a critical-difference
  figure.

Every random draw is seeded, so the same scores give the same intervals. Pure: a table in,
numbers and sentences out; the panel study, its report and CLI format them.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from relulab.errors import RelulabError

__all__ = ["ActivationPooled", "BaselinePooled", "Pooled", "StepPooled", "baselines", "by_step",
           "critical_difference", "critical_difference_groups", "iman_davenport", "pool"]


@dataclass(frozen=True)
class ActivationPooled:
    """One activation over the series."""

    activation: str
    mean_rank: float
    rank_low: float
    rank_high: float
    wins: float  # series where it beats the reference (ties count half)
    series: int  # series compared
    win_share: float
    win_low: float
    win_high: float
    sign_p: float  # two-sided sign test of wins against losses (NaN for the reference)
    wilcoxon_p: float  # signed-rank test against the reference (NaN for the reference)
    wilcoxon_p_adjusted: float  # Holm-adjusted over the activations compared
    ties: int = 0  # series where its score equals the reference's
    losses: int = 0  # series where the reference's score is lower


@dataclass
class Pooled:
    """The answer over series: ranks, wins, Friedman's test and the critical difference."""

    reference: str
    series: int
    activations: list[ActivationPooled]
    ranks: pd.DataFrame  # series x activation
    friedman_stat: float  # the tie-corrected chi-square (scipy's), NaN for 2 activations
    friedman_p: float
    critical_difference: float
    confidence: float
    words: list[str] = field(default_factory=list)
    # Iman and Davenport's F from that chi-square, and its p (NaN for 2 activations).
    friedman_f: float = math.nan
    friedman_f_p: float = math.nan

    def of(self, activation: str) -> ActivationPooled:
        return next(a for a in self.activations if a.activation == activation)

    def groups(self) -> list[tuple[str, ...]]:
        """The critical-difference figure's bars (:func:`critical_difference_groups`)."""
        return critical_difference_groups({a.activation: a.mean_rank
                                           for a in self.activations},
                                          self.critical_difference)


def iman_davenport(chi2: float, n: int, k: int) -> tuple[float, float]:
    """Iman and Davenport's ``F_F = (n - 1) chi2 / (n (k - 1) - chi2)`` from Friedman's
    chi-square over ``n`` series and ``k`` methods, and its p-value from the F distribution
    with ``(k - 1, (k - 1)(n - 1))`` degrees of freedom (Demšar 2006, eq. 3: his example,
    chi2 = 9.28 over 14 data sets and 4 methods, gives F_F = 3.69, p = 0.0198). NaN when
    there is nothing to test; ``(inf, 0)`` when the ranks agree on every series."""
    from scipy.stats import f as fisher

    if not math.isfinite(chi2) or n < 2 or k < 2:
        return math.nan, math.nan
    denominator = n * (k - 1) - chi2
    if denominator <= 0:
        return math.inf, 0.0
    ff = (n - 1) * chi2 / denominator
    return float(ff), float(fisher.sf(ff, k - 1, (k - 1) * (n - 1)))


def critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """The Nemenyi test's critical difference of mean ranks for ``k`` methods over ``n``
    data sets (Demšar 2006, eq. 9)."""
    from scipy.stats import studentized_range

    if k < 2 or n < 1:
        return math.nan
    q = studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n)))


def critical_difference_groups(mean_ranks: dict[str, float],
                               cd: float) -> list[tuple[str, ...]]:
    """Demšar's bars: the activations, ordered by mean rank, that no test tells apart.

    Each group is a maximal run of activations adjacent in rank order whose mean ranks lie
    within ``cd`` of each other (the Nemenyi test finds no difference inside it); a run
    inside a longer one is dropped, and a lone activation is no group. Ordered from the
    best-ranked group; empty when ``cd`` is not a number."""
    if not math.isfinite(cd):
        return []
    names = sorted(mean_ranks, key=lambda a: (mean_ranks[a], a))
    ranks = [mean_ranks[a] for a in names]
    groups: list[tuple[str, ...]] = []
    last = 0
    for i, r in enumerate(ranks):
        j = max(k for k in range(i, len(ranks)) if ranks[k] - r <= cd)
        if j > i and j > last:
            groups.append(tuple(names[i:j + 1]))
        last = max(last, j)
    return groups


def _fmt_share(v: float) -> str:
    return f"{100 * v:.0f}%"


_BOOT_BLOCK = 256


def pool(scores: pd.DataFrame, reference: str, *, confidence: float = 0.95,
         n_boot: int = 2000, seed: int = 0) -> Pooled:
    """Ranks, wins against ``reference``, Friedman's and the post-hoc tests of ``scores``:
    one row per series, one column per activation, lower is better. Series with a missing
    score (every run of an activation diverged) are left out."""
    from scipy.stats import binomtest, friedmanchisquare, wilcoxon
    from statsmodels.stats.proportion import proportion_confint

    from relulab.stats import multipletests_p

    if reference not in scores.columns:
        raise RelulabError(f"reference {reference!r} is not among the activations scored "
                           f"({', '.join(map(str, scores.columns))})")
    if scores.shape[1] < 2:
        raise RelulabError("pooling needs at least two activations to compare")
    table = scores.astype(float).replace([np.inf, -np.inf], np.nan).dropna()
    n = len(table)
    if n < 2:
        raise RelulabError(f"pooling needs at least two series with every score, got {n}")
    acts = [str(c) for c in table.columns]
    ranks = table.rank(axis=1, method="average")
    alpha = 1 - confidence
    rng = np.random.default_rng([seed, zlib.crc32(b"pooled")])
    r = ranks.to_numpy()
    # Drawn and averaged 256 resamples at a time: the same numbers as all at once (the
    # generator's stream does not depend on the block size), in memory that does not
    # grow with n_boot x series (2000 x 1000 series x 6 activations would be 96 MB).
    boot_means = np.concatenate([
        r[rng.integers(0, n, size=(min(_BOOT_BLOCK, n_boot - i), n))].mean(axis=1)
        for i in range(0, n_boot, _BOOT_BLOCK)])  # (n_boot, k)
    lo_q, hi_q = np.quantile(boot_means, [alpha / 2, 1 - alpha / 2], axis=0)
    friedman = friedmanchisquare(*[table[a].to_numpy() for a in acts]) if len(acts) > 2 \
        else None
    ref = table[reference].to_numpy()
    raw_p = {}
    for a in acts:
        if a == reference:
            continue
        diff = table[a].to_numpy() - ref
        raw_p[a] = (float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0)
    adjusted = dict(zip(raw_p, multipletests_p(list(raw_p.values()), "holm"),
                        strict=True)) if raw_p else {}
    out = []
    for i, a in enumerate(acts):
        diff = table[a].to_numpy() - ref
        wins = float(np.sum(diff < 0) + 0.5 * np.sum(diff == 0))
        decided = int(np.sum(diff != 0))
        share = wins / n
        low, high = proportion_confint(wins, n, alpha=alpha, method="wilson")
        half = int(np.sum(diff == 0)) // 2  # ties split evenly, an odd one left out
        sign_p = (float(binomtest(int(np.sum(diff < 0)) + half, decided + 2 * half).pvalue)
                  if a != reference and decided + 2 * half else math.nan)
        out.append(ActivationPooled(
            activation=a, mean_rank=float(r[:, i].mean()), rank_low=float(lo_q[i]),
            rank_high=float(hi_q[i]), wins=wins, series=n, win_share=share,
            win_low=float(low), win_high=float(high), sign_p=sign_p,
            wilcoxon_p=raw_p.get(a, math.nan),
            wilcoxon_p_adjusted=float(adjusted.get(a, math.nan)),
            ties=int(np.sum(diff == 0)), losses=int(np.sum(diff > 0))))
    if friedman is not None:
        stat, p = float(friedman.statistic), float(friedman.pvalue)
    else:  # two activations: Friedman's test is the sign test; say so through its p
        other = next(a for a in out if a.activation != reference)
        stat, p = math.nan, other.sign_p
    ff, ff_p = iman_davenport(stat, n, len(acts))
    result = Pooled(reference=reference, series=n, activations=out, ranks=ranks,
                    friedman_stat=stat, friedman_p=p,
                    critical_difference=critical_difference(len(acts), n, alpha),
                    confidence=confidence, friedman_f=ff, friedman_f_p=ff_p)
    result.words = _words(result)
    return result


def _words(p: Pooled) -> list[str]:
    """The answer in sentences: wins against the reference, then the ranks."""
    alpha = 1 - p.confidence
    out = []
    for a in p.activations:
        if a.activation == p.reference:
            continue
        wins = f"{a.wins:g}" if a.wins != int(a.wins) else f"{int(a.wins)}"
        out.append(f"{a.activation} beats {p.reference} on {wins} of {a.series} series "
                   f"({_fmt_share(a.win_share)} [{_fmt_share(a.win_low)}, "
                   f"{_fmt_share(a.win_high)}]); signed-rank p = "
                   f"{a.wilcoxon_p_adjusted:.2g} (Holm-adjusted)")
    test = (f"Friedman chi-square, tie-corrected, p = {p.friedman_p:.2g}, Iman-Davenport "
            f"F = {p.friedman_f:.3g}, p = {p.friedman_f_p:.2g}"
            if math.isfinite(p.friedman_stat)
            else f"sign test p = {p.friedman_p:.2g}, ties split")
    ref_rank = p.of(p.reference).mean_rank
    differing = [f"{a.activation} {'better' if a.mean_rank < ref_rank else 'worse'}"
                 for a in p.activations if a.activation != p.reference
                 and a.wilcoxon_p_adjusted < alpha]
    if p.friedman_p >= alpha:
        out.append(f"across series no activation ranks differently from the others ({test})")
    elif differing:
        out.append(f"across series the activations rank differently ({test}); against "
                   f"{p.reference}, by the signed-rank test: {', '.join(differing)}")
    else:
        out.append(f"across series the activations rank differently ({test}), but by the "
                   f"signed-rank test none differs from {p.reference} after adjustment")
    best = min(p.activations, key=lambda a: a.mean_rank)
    apart = [f"{a.activation} ({'better' if a.mean_rank < ref_rank else 'worse'})"
             for a in p.activations if a.activation != p.reference
             and abs(a.mean_rank - ref_rank) > p.critical_difference]
    beyond = (f"; {', '.join(apart)} more than that from {p.reference}"
              if apart and p.friedman_p < alpha else "")
    out.append("mean rank, 1 = best: " + ", ".join(
        f"{a.activation} {a.mean_rank:.2f}" for a in sorted(p.activations,
                                                              key=lambda a: a.mean_rank))
        + f"; a gap under {p.critical_difference:.2f} is within the Nemenyi critical "
        f"difference (best: {best.activation}){beyond}")
    return out


@dataclass(frozen=True)
class BaselinePooled:
    """One baseline over the series, against every activation."""

    baseline: str
    series: int  # series on which it was fitted
    median: float  # its median score over those series
    # exp(mean log(score / naive's)) over the series where both are positive: below 1 beats
    # the naive forecast. Ranking by it ranks by the geometric mean score too.
    ratio_to_naive: float
    wins: dict[str, tuple[int, int]]  # activation -> (series it beats the baseline on, of)
    strongest: bool = False  # the lowest geometric mean score of the baselines


def baselines(scores: pd.DataFrame, baseline_scores: pd.DataFrame) -> list[BaselinePooled]:
    """Each baseline (a column of ``baseline_scores``, series x baseline, lower is better)
    across the series: how many series it was fitted on, its median score, its geometric
    mean score relative to the naive forecast's, and on how many series each activation's
    score (``scores``, series x activation) is strictly below it. Strongest first: the
    lowest geometric mean score over the series on which every baseline was fitted (scale
    free, so no series of large values decides it alone); empty without baselines."""
    base = baseline_scores.astype(float).replace([np.inf, -np.inf], np.nan)
    if base.empty or not len(base.columns):
        return []
    acts = scores.reindex(base.index).astype(float)
    # A baseline never fitted (statsforecast missing) cannot rank; the others are ranked on
    # the series where all of them were fitted.
    every = base[[b for b in base.columns if base[b].notna().any()]].dropna()
    every = every[(every > 0).all(axis=1)]
    with np.errstate(divide="ignore"):
        geo = {b: float(np.exp(np.log(every[b]).mean()))
               if b in every.columns and len(every) else math.nan for b in base.columns}
    naive = base["naive"] if "naive" in base.columns else None
    out = []
    for b in base.columns:
        col = base[b]
        ratio = math.nan
        if naive is not None:
            both = (col > 0) & (naive > 0)
            if both.any():
                ratio = float(np.exp(np.log(col[both] / naive[both]).mean()))
        wins = {}
        for a in acts.columns:
            paired = acts[a].notna() & col.notna()
            wins[str(a)] = (int((acts[a][paired] < col[paired]).sum()), int(paired.sum()))
        out.append(BaselinePooled(str(b), int(col.notna().sum()),
                                  float(col.median()) if col.notna().any() else math.nan,
                                  ratio, wins))
    finite = [b for b in out if math.isfinite(geo[b.baseline])]
    if finite:
        best = min(finite, key=lambda b: geo[b.baseline])
        out = [BaselinePooled(**{**vars(b), "strongest": b is best}) for b in out]
    return sorted(out, key=lambda b: (not b.strongest, geo[b.baseline]
                                      if math.isfinite(geo[b.baseline]) else math.inf))


@dataclass(frozen=True)
class StepPooled:
    """One activation or baseline's error h steps ahead, over the series."""

    name: str
    baseline: bool
    # per step h = 1..H: exp(mean log(RMSE_h / naive's RMSE_h)) over the series where both
    # are positive and finite; below 1 beats the naive path at that step (scale free, so no
    # series of large values decides it alone). NaN where no series has both.
    ratio_to_naive: list[float]
    series: list[int]  # per step, the series that ratio is over


def by_step(step_rmse: dict[str, dict[str, list[float]]], activations: list[str],
            horizon: int) -> list[StepPooled]:
    """The error by steps ahead pooled over a panel's series: per series, each activation's
    (median over seeds) and each baseline's RMSE ``h`` steps ahead (``step_rmse``: series ->
    name -> H values, :attr:`relulab.result.StudyResult.by_step`), relative to the naive
    path's at the same step, geometric mean over series. Activations first in their order,
    then the baselines; empty when no series has the naive path's error by step."""
    names = list(dict.fromkeys([*activations,
                                *(n for s in step_rmse.values() for n in s)]))
    out = []
    for name in names:
        ratios, counts = [], []
        for h in range(int(horizon)):
            logs = []
            for s in step_rmse.values():
                v, n = s.get(name, []), s.get("naive", [])
                if h < len(v) and h < len(n) and all(
                        math.isfinite(x) and x > 0 for x in (v[h], n[h])):
                    logs.append(math.log(v[h] / n[h]))
            ratios.append(math.exp(float(np.mean(logs))) if logs else math.nan)
            counts.append(len(logs))
        if any(counts):
            out.append(StepPooled(name, name not in activations, ratios, counts))
    return out
