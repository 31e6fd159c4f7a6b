"""Benchmark: do the intervals a verdict quotes cover what they claim at 3 to 20 seeds?

A verdict quotes two intervals over seed pairs: the relative RMSE difference of an
activation against the reference, and the probability of improvement. This simulates
studies of ``n`` seed pairs (n = 3, 5, 10, 20) whose per-seed log RMSE ratios
``x_s = log RMSE_a - log RMSE_ref`` are drawn from a known distribution, computes each
interval as relulab computes it (``relulab.stats``) and counts how often it covers the
truth, for the nominal 95%:

- **relative difference**: ``relulab.stats.paired_median_ci``, the median of the pairs'
  ``exp(x) - 1`` with its order-statistic interval (the interval the verdict quotes, with
  the level it reaches: at 3 and 5 pairs less than 95%, and the verdict says so), beside
  the percentile bootstrap of the median it replaced and a t interval on the mean log
  ratio (the alternative that was measured and not chosen); each is scored against the
  distribution's own value of what it estimates (the median of ``exp(x) - 1``, resp.
  ``exp(E x) - 1``) and flagged where it covers less than the level it states;
- **probability of improvement** ``P(x < 0)``: ``relulab.stats.prob_improvement``
  (Clopper-Pearson) beside Wilson's score interval (measured, not chosen) and the
  percentile bootstrap it replaced.

Distributions of ``x``: normal (sd 0.05, mean 0.02), Student t with 3 degrees of freedom
(heavy tails), a normal with one seed in ten far off (a dead network: 10% chance of +0.5),
and a skewed one (a centred lognormal).

    python benchmarks/coverage.py [--runs 4000] [--boot 2000]

Prints one table per interval: coverage per distribution and n against the level the
interval states (95%, or less where the seed pairs are too few for it), and the
interval's median width; a coverage more than two standard errors below its stated level
is flagged.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

NS = (3, 5, 10, 20)
CONFIDENCE = 0.95


def _normal(rng, size):
    return rng.normal(0.02, 0.05, size)


def _t3(rng, size):
    return 0.02 + 0.05 * rng.standard_t(3, size)


def _dead(rng, size):
    x = rng.normal(0.02, 0.05, size)
    return np.where(rng.random(size) < 0.1, x + 0.5, x)


def _skewed(rng, size):
    z = rng.lognormal(0.0, 0.8, size)
    return 0.05 * (z - math.exp(0.32))  # mean 0


DISTRIBUTIONS = {"normal": _normal, "t3": _t3, "dead seed 10%": _dead, "skewed": _skewed}


def _truth(draw, what: str) -> float:
    """The distribution's value of what an interval estimates, from 4 million draws."""
    x = draw(np.random.default_rng(12345), 4_000_000)
    if what == "median":
        return float(np.median(np.expm1(x)))
    if what == "geometric":
        return float(np.expm1(np.mean(x)))
    return float(np.mean(x < 0))  # probability of improvement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--boot", type=int, default=2000)
    args = parser.parse_args(argv)
    from scipy.stats import t as student

    from relulab import stats

    def old_rel(a, b, rng):  # the percentile bootstrap of the median it replaced
        return (*stats.bootstrap_ci(a / b - 1.0, stat=np.median, n_boot=args.boot, rng=rng),
                CONFIDENCE)

    def t_rel(a, b, rng):  # a t interval on the mean log ratio (measured, not chosen)
        x = np.log(a / b)
        half = student.isf((1 - CONFIDENCE) / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
        return math.expm1(x.mean()), math.expm1(x.mean() - half), math.expm1(x.mean() + half), \
            CONFIDENCE

    def old_pi(a, b, rng):
        score = np.where(a < b, 1.0, np.where(a == b, 0.5, 0.0))
        return (*stats.bootstrap_ci(score, stat=np.mean, n_boot=args.boot, rng=rng),
                CONFIDENCE)

    def new_rel(a, b, rng):
        return stats.paired_median_ci(a, b, confidence=CONFIDENCE)

    def new_pi(a, b, rng):
        return (*stats.prob_improvement(a, b, confidence=CONFIDENCE), CONFIDENCE)

    def wilson_pi(a, b, rng):  # Wilson's score interval (measured, not chosen)
        from statsmodels.stats.proportion import proportion_confint

        wins = float(np.sum(a < b) + 0.5 * np.sum(a == b))
        lo, hi = proportion_confint(wins, a.size, alpha=1 - CONFIDENCE, method="wilson")
        return wins / a.size, lo, hi, CONFIDENCE

    intervals = {
        "relative RMSE difference, relulab (paired_median_ci: median, order statistics)":
            (new_rel, "median"),
        "relative RMSE difference, percentile bootstrap of the median (before)":
            (old_rel, "median"),
        "relative RMSE difference, t interval on the mean log ratio (not chosen)":
            (t_rel, "geometric"),
        "probability of improvement, relulab (prob_improvement: Clopper-Pearson)":
            (new_pi, "improvement"),
        "probability of improvement, Wilson (not chosen)": (wilson_pi, "improvement"),
        "probability of improvement, percentile bootstrap (before)": (old_pi, "improvement"),
    }
    print(f"{args.runs} simulated studies per cell, nominal {CONFIDENCE:.0%}, "
          f"{args.boot} bootstrap resamples")
    for title, (interval, what) in intervals.items():
        t0 = time.perf_counter()
        print(f"\n{title} (truth: {what})")
        print(f"{'distribution':16s}" + "".join(f"{'n=' + str(n):>19s}" for n in NS))
        for name, draw in DISTRIBUTIONS.items():
            truth = _truth(draw, what)
            cells = []
            for n in NS:
                rng = np.random.default_rng([n, len(name)])
                hits, widths, stated = 0, [], CONFIDENCE
                for run in range(args.runs):
                    x = draw(rng, n)
                    b = np.full(n, 10.0)
                    a = b * np.exp(x)
                    _, lo, hi, stated = interval(a, b, [run, n])
                    hits += lo <= truth <= hi
                    widths.append(hi - lo)
                cover = hits / args.runs
                # A shortfall of more than 2 standard errors below the stated level.
                se = math.sqrt(stated * (1 - stated) / args.runs)
                flag = "*" if cover < stated - 2 * se - 0.005 else " "
                cells.append(f"{cover:6.3f}/{stated:.2f}{flag}({np.median(widths):.2f})")
            print(f"{name:16s}" + "".join(f"{c:>19s}" for c in cells))
        print(f"  [{time.perf_counter() - t0:.0f} s; coverage/stated level, * below the "
              f"stated level; (median width)]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
