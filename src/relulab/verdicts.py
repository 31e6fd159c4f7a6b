"""Verdicts: the rules that turn a comparison's numbers into a judgement, and its words.

The rules are those of :mod:`relulab.stats` (its module docstring states them). Here they
are pure functions of plain numbers, with no SciPy or statsmodels, so that the report and
the CLI can word a stored :class:`~relulab.result.Comparison` without loading the
statistics: :func:`judge_accuracy` and :func:`judge_volatility` return the judgement as a
code, :func:`seed_interval` where the interval of the relative difference lies, and
:func:`verdict` / :func:`verdict_words` say it in words (the sentence is quoted by tests
and the README: its text is fixed).
"""

from __future__ import annotations

import math

import numpy as np

from relulab.metrics import METRICS
from relulab.result import Comparison

__all__ = [
    "MIN_RUNS",
    "VOL_CLEAR",
    "accuracy_words",
    "judge_accuracy",
    "judge_volatility",
    "seed_interval",
    "verdict",
    "verdict_words",
    "volatility_words",
]

MIN_RUNS = 3  # fewest non-diverged seed pairs a verdict is given for
VOL_CLEAR = 0.9  # volatility ratios differing by less than this factor count as similar


def _fmt_pct(x: float, decimals: int = 0) -> str:
    if not np.isfinite(x):
        return "n/a"
    if round(abs(x) * 100, decimals) == 0:  # no sign on a difference that rounds to nothing
        return f"{0:.{decimals}%}"
    return f"{x:+.{decimals}%}"


def _fmt_pct_interval(x: float, lo: float, hi: float) -> str:
    """``+4% [-2%, +10%]``; with one decimal when a whole percent would show a non-zero
    value as 0% (an interval "[+0%, +1%]" beside "evidence of a difference" reads wrong)."""
    hidden = any(np.isfinite(v) and v != 0 and round(abs(v) * 100) == 0 for v in (x, lo, hi))
    d = 1 if hidden else 0
    return f"{_fmt_pct(x, d)} [{_fmt_pct(lo, d)}, {_fmt_pct(hi, d)}]"


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.3f}" if p < 0.01 else f"= {p:.2f}"


def judge_accuracy(*, rel_lo: float, rel_hi: float, dm_stat: float, dm_p: float,
                   n_pairs: int, confidence: float = 0.95) -> str:
    """The accuracy part of a verdict (module docstring), as a code: ``"too_few"``,
    ``"more_accurate"``, ``"less_accurate"``, ``"mixed_opposite"`` (seed interval and DM
    test point opposite ways), ``"mixed_seeds_only"`` (the interval excludes 0, the DM test
    does not reject), ``"mixed_dm_only"`` or ``"no_difference"``."""
    if n_pairs < MIN_RUNS:
        return "too_few"
    alpha = 1.0 - confidence
    # +1: activation's error larger (less accurate), -1: smaller, 0: interval includes 0
    by_seeds = 1 if rel_lo > 0 else -1 if rel_hi < 0 else 0
    by_dm = int(np.sign(dm_stat)) if np.isfinite(dm_p) and dm_p < alpha else 0
    if by_seeds and by_dm and by_seeds == by_dm:
        return "less_accurate" if by_seeds > 0 else "more_accurate"
    if by_seeds and by_dm:
        return "mixed_opposite"
    if by_seeds:
        return "mixed_seeds_only"
    if by_dm:
        return "mixed_dm_only"
    return "no_difference"


def judge_volatility(*, vol_ratio: float, vol_ratio_ref: float, vol_rel_lo: float = math.nan,
                     vol_rel_hi: float = math.nan) -> str:
    """The volatility part of a verdict (module docstring), as a code: ``"flattens"``,
    ``"exaggerates"``, ``"similar"``, ``"unclear"`` or ``"not_comparable"``."""
    q = vol_ratio / vol_ratio_ref if vol_ratio_ref else math.nan
    known = np.isfinite(vol_rel_lo) and np.isfinite(vol_rel_hi)
    if not np.isfinite(q):
        return "not_comparable"
    if q < VOL_CLEAR and (not known or vol_rel_hi < 0):
        return "flattens"
    if q > 1 / VOL_CLEAR and (not known or vol_rel_lo > 0):
        return "exaggerates"
    if VOL_CLEAR <= q <= 1 / VOL_CLEAR:
        return "similar"
    return "unclear"


def seed_interval(rel_lo: float, rel_hi: float) -> str:
    """Where the interval of the relative difference lies: ``"above_zero"`` (the
    activation's error is larger), ``"below_zero"``, ``"includes_zero"`` or ``"unknown"``."""
    if not (np.isfinite(rel_lo) and np.isfinite(rel_hi)):
        return "unknown"
    if rel_lo > 0:
        return "above_zero"
    if rel_hi < 0:
        return "below_zero"
    return "includes_zero"


_ACCURACY_WORDS = {
    "mixed_opposite": "mixed evidence (the seed interval and the DM test point opposite ways)",
    "mixed_seeds_only": "mixed evidence (the seed interval excludes 0, the DM test does not "
                        "reject)",
    "mixed_dm_only": "mixed evidence (the DM test rejects, the seed interval includes 0)",
    "no_difference": "no evidence of a difference",
}
_VOLATILITY_WORDS = {
    "similar": "similar volatility",
    "unclear": "no clear difference in volatility",
    "not_comparable": "volatility not comparable",
}


def _too_few(n_pairs: int) -> str:
    return (f"too few runs to judge ({n_pairs} non-diverged seed "
            f"pair{'s' if n_pairs != 1 else ''}; at least {MIN_RUNS} needed)")


def accuracy_words(accuracy: str, activation: str) -> str:
    """The words of an accuracy code (:func:`judge_accuracy`), as the verdict says them."""
    if accuracy in ("more_accurate", "less_accurate"):
        return f"evidence that {activation} is {accuracy.removesuffix('_accurate')} accurate"
    return _ACCURACY_WORDS[accuracy]


def volatility_words(volatility: str, activation: str) -> str:
    """The words of a volatility code (:func:`judge_volatility`)."""
    if volatility == "flattens":
        return f"{activation} flattens the forecast"
    if volatility == "exaggerates":
        return f"{activation} exaggerates the volatility"
    return _VOLATILITY_WORDS[volatility]


def verdict_words(comparison: Comparison) -> str:
    """The verdict's judgement without its numbers, as one sentence: "No evidence of a
    difference; similar volatility." or "Too few runs to judge (2 non-diverged seed pairs;
    at least 3 needed).". A comparison that does not record its parts (``accuracy`` "")
    gives its whole verdict."""
    c = comparison
    if not c.accuracy:
        return c.verdict
    if c.accuracy == "too_few":
        words = _too_few(c.n_pairs)
    else:
        words = (f"{accuracy_words(c.accuracy, c.activation)}; "
                 f"{volatility_words(c.volatility, c.activation)}")
    return words[:1].upper() + words[1:] + "."


def verdict(
    activation: str,
    reference: str,
    *,
    rel_diff: float,
    rel_lo: float,
    rel_hi: float,
    dm_stat: float,
    dm_p: float,
    vol_ratio: float,
    vol_ratio_ref: float,
    n_pairs: int,
    vol_rel_lo: float = math.nan,
    vol_rel_hi: float = math.nan,
    confidence: float = 0.95,
    metric: str = "rmse",
) -> str:
    """One comparison in plain words, by the rules in the module docstring.

    ``vol_rel_lo``/``vol_rel_hi`` bound ``vol_a / vol_ref - 1`` over seed pairs; when NaN
    (unknown) the volatility call rests on the ratio of medians alone.
    """
    head = f"{activation} vs {reference}"
    accuracy = judge_accuracy(rel_lo=rel_lo, rel_hi=rel_hi, dm_stat=dm_stat, dm_p=dm_p,
                              n_pairs=n_pairs, confidence=confidence)
    if accuracy == "too_few":
        return f"{head}: {_too_few(n_pairs)}"
    label = METRICS[metric].label if metric in METRICS else metric
    volatility = judge_volatility(vol_ratio=vol_ratio, vol_ratio_ref=vol_ratio_ref,
                                  vol_rel_lo=vol_rel_lo, vol_rel_hi=vol_rel_hi)
    return (f"{head}: {label} {_fmt_pct_interval(rel_diff, rel_lo, rel_hi)}, "
            f"DM p {_fmt_p(dm_p)}: {accuracy_words(accuracy, activation)}; volatility ratio "
            f"{vol_ratio:.2f} vs {vol_ratio_ref:.2f}: {volatility_words(volatility, activation)}")
