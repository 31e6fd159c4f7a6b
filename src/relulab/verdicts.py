"""Verdicts: the rules that turn a comparison's numbers into a judgement, and its words.

The rules are those of :mod:`relulab.stats` (its module docstring states them). Here they
are pure functions of plain numbers, with no SciPy or statsmodels, so that the report and
the CLI can word a stored :class:`~relulab.result.Comparison` without loading the
statistics: :func:`judge_accuracy` and :func:`judge_volatility` return the judgement as a
code, :func:`seed_interval` where the interval of the relative difference lies,
:func:`judged` fills a comparison's codes and its sentence, and :func:`sentence` /
:func:`verdict_words` say it in words (the sentence is quoted by tests and the README: its
text is fixed).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from relulab import display
from relulab.metrics import METRICS
from relulab.result import Comparison

__all__ = [
    "MIN_RUNS",
    "VOL_CLEAR",
    "accuracy_words",
    "baseline_words",
    "decision_words",
    "flat_words",
    "judge_accuracy",
    "judge_decision",
    "judge_volatility",
    "judged",
    "panel_baseline_words",
    "seed_interval",
    "seeds_words",
    "sentence",
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


def judge_decision(*, accuracy: str, equivalence_p: float, confidence: float = 0.95) -> str:
    """The verdict's answer to "does the activation matter?", as a code.

    ``"too_few"`` when ``accuracy`` is; ``"equivalent"`` when the equivalence test rejects
    (``equivalence_p < alpha``: the RMSE ratio lies within the margin) and no difference is
    shown; ``"negligible"`` when both a difference and equivalence are shown (a real but
    small difference); ``"different"`` when only a difference is (``accuracy`` is
    ``more_accurate`` or ``less_accurate``); otherwise ``"undecided"``: neither, so more
    seeds are needed to say either."""
    if accuracy == "too_few":
        return "too_few"
    equivalent = bool(np.isfinite(equivalence_p) and equivalence_p < 1.0 - confidence)
    different = accuracy in ("more_accurate", "less_accurate")
    if equivalent:
        return "negligible" if different else "equivalent"
    return "different" if different else "undecided"


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
    """The words of a volatility code (:func:`judge_volatility`); "" for ``"none"`` (a
    supervised task, which has no volatility)."""
    if volatility == "none":
        return ""
    if volatility == "flattens":
        return f"{activation} flattens the forecast"
    if volatility == "exaggerates":
        return f"{activation} exaggerates the volatility"
    return _VOLATILITY_WORDS[volatility]


def _fmt_margin(margin: float) -> str:
    return f"±{100 * margin:g}%"


def _margin_key(margin: float) -> str:
    return f"{margin:g}"


_MIXED = {
    "mixed_opposite": "mixed evidence: the seed interval and the DM test point opposite ways",
    "mixed_seeds_only": "mixed evidence: the seed interval excludes 0, the DM test does not "
                        "reject",
    "mixed_dm_only": "mixed evidence: the DM test rejects, the seed interval includes 0",
}


def decision_words(c: Comparison, *, numbers: bool = True) -> str:
    """The words of a decision code (:func:`judge_decision`): "relu and tanh are equivalent
    within ±2% (p = 0.01)", "evidence that relu is less accurate" (different) or
    "undecided: run more seeds (...)"; without the p-values when ``numbers`` is false."""
    margin = _fmt_margin(c.equivalence_margin)
    p = c.equivalence_p_adjusted if np.isfinite(c.equivalence_p_adjusted) else c.equivalence_p
    p_text = f" (p {_fmt_p(p)})" if numbers else ""
    if c.decision in ("equivalent", "negligible"):
        words = f"{c.activation} and {c.reference} are equivalent within {margin}{p_text}"
        if c.decision == "negligible":
            side = c.accuracy.removesuffix("_accurate")
            words += f", though {c.activation} is slightly {side} accurate"
        return words
    if c.decision == "different":
        return accuracy_words(c.accuracy, c.activation)
    if c.decision == "too_few":
        return _too_few(c.n_pairs)
    mixed = _MIXED.get(c.accuracy, "")
    if mixed and c.task != "forecast":
        mixed = mixed.replace("the DM test", "the paired test")
    why = mixed or (
        f"no evidence of a difference, nor of equivalence within {margin}"
        + (f", p {_fmt_p(p)}" if numbers else ""))
    return f"undecided: run more seeds ({why})"


def _seeds_list(seeds: list[int]) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def flat_words(c: Comparison) -> str:
    """"relu forecast a flat line on seed 9" (and the reference's flat seeds), for a
    comparison whose seed pairs hold flat forecasts (often a dead network); "" otherwise."""
    parts = [f"{name} on {_seeds_list(seeds)}" for name, seeds in c.flat_seeds.items()]
    if not parts:
        return ""
    first, *rest = parts
    return " and ".join([first.replace(" on ", " forecast a flat line on ", 1), *rest])


def seeds_words(c: Comparison) -> str:
    """"to tell a 2% difference apart, about 40 seeds; this comparison rests on 10", for an
    undecided comparison with fewer seed pairs than that estimate; "" otherwise. The
    difference is the equivalence margin. With flat forecasts among the pairs, the estimate
    without them follows: "about 2556 seeds, about 60 without the flat seed"."""
    if c.decision != "undecided":
        return ""
    key = _margin_key(c.equivalence_margin)
    needed = c.seeds_needed.get(key)
    if needed is None or needed <= c.n_pairs:
        return ""
    without = c.seeds_needed_without_flat.get(key)
    n_flat = len({s for seeds in c.flat_seeds.values() for s in seeds})
    aside = (f", about {without} without the flat seed{'s' if n_flat > 1 else ''}"
             if without is not None and without != needed else "")
    return (f"to tell a {100 * c.equivalence_margin:g}% difference apart, about {needed} "
            f"seeds{aside}; this comparison rests on {c.n_pairs}")


def _prob_words(c: Comparison, label: str) -> str:
    def pct(x: float) -> str:
        return f"{x:.0%}" if np.isfinite(x) else "n/a"

    return (f"{c.activation} has the lower {label} on {pct(c.prob_improvement)} of seeds "
            f"[{pct(c.prob_improvement_low)}, {pct(c.prob_improvement_high)}]")


def _adjusted_note(c: Comparison) -> str:
    if c.n_comparisons <= 1 or not c.correction:
        return ""
    if c.correction == "none":
        return f" (not adjusted for {c.n_comparisons} comparisons)"
    return f" ({c.correction.capitalize()}-adjusted over {c.n_comparisons} comparisons)"


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
    elif c.decision:
        words = "; ".join(w for w in (decision_words(c, numbers=False), flat_words(c),
                                      seeds_words(c),
                                      volatility_words(c.volatility, c.activation)) if w)
    else:
        words = "; ".join(w for w in (accuracy_words(c.accuracy, c.activation),
                                      volatility_words(c.volatility, c.activation)) if w)
    if words.startswith(c.activation):  # a name keeps its spelling: "relu and tanh are ..."
        return words + "."
    return words[:1].upper() + words[1:] + "."


def judged(c: Comparison, confidence: float = 0.95) -> Comparison:
    """``c`` with its codes (``accuracy``, ``volatility``, ``seed_interval``, and
    ``decision`` when it records an equivalence margin) and its sentence made from its
    numbers. The accuracy reads ``p_adjusted`` where it is known, ``dm_p`` otherwise."""
    p = c.p_adjusted if np.isfinite(c.p_adjusted) else c.dm_p
    accuracy = judge_accuracy(rel_lo=c.rel_lo, rel_hi=c.rel_hi, dm_stat=c.dm_stat, dm_p=p,
                              n_pairs=c.n_pairs, confidence=confidence)
    volatility = ("none" if c.task != "forecast" else
                  "not_comparable" if accuracy == "too_few" else
                  judge_volatility(vol_ratio=c.vol_ratio, vol_ratio_ref=c.vol_ratio_ref,
                                   vol_rel_lo=c.vol_rel_lo, vol_rel_hi=c.vol_rel_hi))
    decision = ""
    if np.isfinite(c.equivalence_margin):
        eq = (c.equivalence_p_adjusted if np.isfinite(c.equivalence_p_adjusted)
              else c.equivalence_p)
        decision = judge_decision(accuracy=accuracy, equivalence_p=eq, confidence=confidence)
    out = dataclasses.replace(c, accuracy=accuracy, volatility=volatility, decision=decision,
                              seed_interval=seed_interval(c.rel_lo, c.rel_hi))
    return dataclasses.replace(out, verdict=sentence(out, confidence))


def level_note(c: Comparison, confidence: float = 0.95) -> str:
    """Where the interval of the relative difference reaches less than the study's
    confidence (too few seed pairs for it: 3 pairs reach 75%), the words that say so;
    "" otherwise."""
    level = c.rel_level
    if not (np.isfinite(level) and level < confidence - 1e-9):
        return ""
    return (f" (a {level:.0%} interval: {c.n_pairs} seed pairs cannot give "
            f"{confidence:.0%})")


def sentence(c: Comparison, confidence: float = 0.95) -> str:
    """The whole verdict of a judged comparison (:func:`judged`) in one sentence:

    "relu vs tanh: RMSE +4% [-2%, +10%], DM p = 0.62 (Holm-adjusted over 4 comparisons):
    undecided: run more seeds (no evidence of a difference, nor of equivalence within ±2%,
    p = 0.40); to tell a 2% difference apart, about 40 seeds; this comparison rests on 10;
    relu has the lower RMSE on 40% of seeds [10%, 70%]; volatility ratio 0.61 vs 0.83:
    relu flattens the forecast". Flat forecasts among the seed pairs are named after the
    decision ("relu forecast a flat line on seed 9"), and the seeds needed without them
    follow the estimate.

    A comparison without a decision (no equivalence margin) says the accuracy code instead,
    as relulab did before equivalence was tested. An interval that reaches less than
    ``confidence`` (few seed pairs) says which level it reaches (:func:`level_note`)."""
    head = f"{c.activation} vs {c.reference}"
    if c.accuracy == "too_few":
        return f"{head}: {_too_few(c.n_pairs)}"
    label = METRICS[c.metric].label if c.metric in METRICS else c.metric
    p = c.p_adjusted if np.isfinite(c.p_adjusted) else c.dm_p
    test = "DM p" if c.task == "forecast" else "paired p"
    numbers = (f"{label} {_fmt_pct_interval(c.rel_diff, c.rel_lo, c.rel_hi)}"
               f"{level_note(c, confidence)}, {test} {_fmt_p(p)}{_adjusted_note(c)}")
    volatility = ("" if c.volatility == "none" else
                  f"volatility ratio {c.vol_ratio:.2f} vs {c.vol_ratio_ref:.2f}: "
                  f"{volatility_words(c.volatility, c.activation)}")
    if not c.decision:
        return f"{head}: {numbers}: " + "; ".join(
            w for w in (accuracy_words(c.accuracy, c.activation), volatility) if w)
    parts = [decision_words(c), flat_words(c), seeds_words(c),
             _prob_words(c, label) if np.isfinite(c.prob_improvement) else "", volatility]
    return f"{head}: {numbers}: " + "; ".join(w for w in parts if w)



def strongest_baseline(baselines: dict[str, float]) -> str | None:
    """The baseline with the lowest score (the first of equals); None when none has one."""
    finite = {b: v for b, v in baselines.items() if v is not None and math.isfinite(v)}
    return min(finite, key=finite.__getitem__) if finite else None


def baseline_words(scores: dict[str, float], baselines: dict[str, float],
                   label: str = "RMSE") -> str:
    """Whether any activation beats the strongest baseline (the lowest ``label``, lower is
    better), on each activation's median over its seeds: "relu (RMSE 3.5) beats the
    strongest baseline, auto_arima (3.92); tanh (4.1) does not." or "The strongest
    baseline, auto_arima (RMSE 3.92), beats every activation (best: relu, 4.1)."; "" without
    a baseline that was fitted."""
    best = strongest_baseline(baselines)
    if best is None:
        return ""
    ref = baselines[best]
    finite = {a: v for a, v in scores.items() if v is not None and math.isfinite(v)}
    beat = [a for a, v in finite.items() if v < ref]
    rest = [a for a in finite if a not in beat]

    def told(names: list[str]) -> str:
        return ", ".join(f"{a} ({display.number(finite[a])})" for a in names)

    if not beat:
        top = min(finite, key=finite.__getitem__) if finite else None
        aside = (f" (the best median: {top}, {display.number(finite[top])})" if top
                 else "")
        return (f"The strongest baseline, {best} ({label} {display.number(ref)}), beats "
                f"every activation{aside}.")
    if not rest:
        return (f"Every activation's median beats the strongest baseline, {best} ({label} "
                f"{display.number(ref)}): {told(beat)}.")
    words = (f"{told(beat).replace(' (', f' (median {label} ', 1)} beat"
             f"{'s' if len(beat) == 1 else ''} the strongest baseline, {best} "
             f"({display.number(ref)}); {told(rest)} do{'es' if len(rest) == 1 else ''} not.")
    return words


def panel_baseline_words(baseline: str, ratio_to_naive: float, series: int, median: float,
                         wins: dict[str, tuple[int, int]], label: str = "RMSE") -> str:
    """The strongest baseline across a panel's series and whether any activation beats it
    on most of them (its median over seeds below the baseline's score on more than half the
    series both were scored on): "strongest baseline: auto_arima (median RMSE 3.92 over 100
    series, 0.57 of the naive forecast's, geometric mean); relu beats it on 40 of 100
    series, tanh on 35 of 100: no activation beats it on most series"."""
    ratio = (f", {ratio_to_naive:.2f} of the naive forecast's, geometric mean"
             if baseline != "naive" and math.isfinite(ratio_to_naive) else "")
    head = (f"strongest baseline: {baseline} (median {label} {display.number(median)} over "
            f"{series} series{ratio})")
    if not wins:
        return head
    parts = [f"{a} beats it on {k} of {n} series" if i == 0 else f"{a} on {k} of {n}"
             for i, (a, (k, n)) in enumerate(wins.items())]
    most = [a for a, (k, n) in wins.items() if n and 2 * k > n]
    verdict = (f"{', '.join(most)} beat{'s' if len(most) == 1 else ''} it on most series"
               if most else "no activation beats it on most series")
    return f"{head}; {', '.join(parts)}: {verdict}"
