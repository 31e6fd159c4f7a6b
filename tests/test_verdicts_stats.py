"""Multiplicity, equivalence, probability of improvement and seeds needed, against
independent references: hand examples, scipy.stats, and seeded simulations with a known
truth."""

from __future__ import annotations

import gc
import itertools
import math
import weakref

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from relulab import stats, verdicts
from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.result import Comparison

# ---------------------------------------------------------------- multiplicity


def test_holm_and_bonferroni_by_hand():
    p = [0.01, 0.04, 0.03, 0.2]
    # Holm: sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1 = 0.04, 0.09, 0.08, 0.2, then
    # made non-decreasing in that order: 0.04, 0.09, 0.09, 0.2.
    assert stats.adjust_p(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert stats.adjust_p(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.8])
    assert stats.adjust_p(p, "none") == pytest.approx(p)
    # Bonferroni caps at 1; a missing p-value is not a member of the family (m = 2 here).
    assert stats.adjust_p([0.6, 0.01], "bonferroni") == pytest.approx([1.0, 0.02])
    got = stats.adjust_p([0.01, np.nan, 0.03], "holm")
    assert got[0] == pytest.approx(0.02) and math.isnan(got[1]) and got[2] == pytest.approx(0.03)
    with pytest.raises(RelulabError, match="holm, bonferroni, none"):
        stats.adjust_p(p, "fdr")



class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_holm_runs_without_collecting_the_objects_around_it():
    """statsmodels' Holm branch calls gc.collect(), which walked the whole heap on every
    call (quadratic over a panel's series). The objects alive before the call are hidden
    from it: a garbage cycle made before survives the call, and a plain collection after
    it still frees it. A freeze made by someone else stays in place."""
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.2]
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection may free the cycle in between
    try:
        cycle = _Cycle()
        alive = weakref.ref(cycle)
        del cycle
        got = stats.multipletests_p(p, "holm")
        assert alive() is not None
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert alive() is None
        gc.freeze()
        frozen = gc.get_freeze_count()
        stats.multipletests_p(p, "holm")
        assert gc.get_freeze_count() >= frozen
        gc.unfreeze()
    finally:
        if was_enabled:
            gc.enable()
    np.testing.assert_array_equal(got, multipletests(p, method="holm")[1])

def _comparison(**kw) -> Comparison:
    base = dict(activation="relu", reference="tanh", metric="rmse", rel_diff=0.04,
                rel_lo=0.01, rel_hi=0.08, dm_stat=2.3, dm_p=0.03, vol_ratio=0.9,
                vol_ratio_ref=0.9, verdict="", n_pairs=10, equivalence_margin=0.02,
                equivalence_p=0.6, prob_improvement=0.2, prob_improvement_low=0.0,
                prob_improvement_high=0.4,
                seeds_needed={"0.01": 160, "0.02": 40, "0.05": 8})
    return Comparison(**{**base, **kw})


def test_the_verdict_reads_the_adjusted_p_value_and_says_so():
    alone = verdicts.judged(_comparison())
    assert alone.accuracy == "less_accurate" and alone.decision == "different"
    assert "DM p = 0.03: evidence that relu is less accurate" in alone.verdict
    others = [_comparison(activation=a, dm_p=p) for a, p in (("elu", 0.5), ("gelu", 0.02))]
    got = stats.adjust_comparisons([_comparison(), *others], correction="holm")
    # Holm over 0.03, 0.5, 0.02: 0.02 * 3 = 0.06, 0.03 * 2 = 0.06, 0.5
    assert [c.p_adjusted for c in got] == pytest.approx([0.06, 0.5, 0.06])
    assert [c.dm_p for c in got] == [0.03, 0.5, 0.02]  # the raw values are kept
    relu = got[0]
    assert (relu.correction, relu.n_comparisons) == ("holm", 3)
    assert relu.accuracy == "mixed_seeds_only" and relu.decision == "undecided"
    assert "DM p = 0.06 (Holm-adjusted over 3 comparisons)" in relu.verdict
    bonf = stats.adjust_comparisons([_comparison(), *others], correction="bonferroni")[0]
    assert "DM p = 0.09 (Bonferroni-adjusted over 3 comparisons)" in bonf.verdict
    none = stats.adjust_comparisons([_comparison(), *others], correction="none")[0]
    assert "DM p = 0.03 (not adjusted for 3 comparisons)" in none.verdict
    assert none.decision == "different"


# ---------------------------------------------------------------- equivalence (TOST)


def _tost_by_scipy(a, b, margin):
    """TOST written out with scipy's one-sample t-tests on the log ratios."""
    x = np.log(a) - np.log(b)
    bound = math.log(1 + margin)
    lower = sps.ttest_1samp(x, -bound, alternative="greater").pvalue
    upper = sps.ttest_1samp(x, bound, alternative="less").pvalue
    return max(lower, upper)


def test_tost_by_hand():
    # ratios 1.01, 0.995, 1.0, 1.005 -> log ratios with mean m and sd s; bounds ±log 1.02
    b = np.array([10.0, 20.0, 30.0, 40.0])
    a = b * np.array([1.01, 0.995, 1.0, 1.005])
    x = np.log(a / b)
    m, se = x.mean(), x.std(ddof=1) / 2
    bound = math.log(1.02)
    t_low, t_high = (m + bound) / se, (m - bound) / se
    by_hand = max(sps.t.sf(t_low, df=3), sps.t.cdf(t_high, df=3))
    got = stats.equivalence_test(a, b, margin=0.02)
    assert got == pytest.approx(by_hand, rel=1e-10)
    assert got == pytest.approx(_tost_by_scipy(a, b, 0.02), rel=1e-10)
    assert got < 0.01


@pytest.mark.parametrize("shift", [0.0, 0.015, 0.03])
def test_tost_matches_scipy_on_random_pairs(shift):
    rng = np.random.default_rng(int(shift * 1000))
    b = rng.uniform(5, 10, size=12)
    a = b * np.exp(shift + rng.normal(0, 0.02, size=12))
    assert stats.equivalence_test(a, b, margin=0.02) == pytest.approx(
        _tost_by_scipy(a, b, 0.02), rel=1e-10)
    # the margin is symmetric on the log scale: swapping the arms gives the same p
    assert stats.equivalence_test(b, a, margin=0.02) == pytest.approx(
        stats.equivalence_test(a, b, margin=0.02), rel=1e-10)


def test_tost_degenerate_inputs():
    b = np.array([1.0, 2.0, 3.0])
    assert stats.equivalence_test(1.01 * b, b, margin=0.02) == 0.0  # no spread, inside
    assert stats.equivalence_test(1.03 * b, b, margin=0.02) == 1.0  # no spread, outside
    assert math.isnan(stats.equivalence_test([1.0], [1.0], margin=0.02))
    # a diverged (NaN) or zero pair is dropped
    assert math.isnan(stats.equivalence_test([1.0, np.nan], [1.0, 2.0], margin=0.02))
    with pytest.raises(RelulabError, match="margin"):
        stats.equivalence_test(b, b, margin=0.0)


def test_tost_size_at_the_margin_and_power_inside_it():
    """Known truth: log ratios centred on the bound are equivalent by chance at most alpha
    of the time; centred on 0 with a narrow spread, nearly always."""
    rng = np.random.default_rng(10)
    n, reps, bound = 20, 1000, math.log(1.02)
    b = np.ones(n)
    at_bound = [stats.equivalence_test(np.exp(bound + rng.normal(0, 0.02, n)), b,
                                       margin=0.02) < 0.05 for _ in range(reps)]
    inside = [stats.equivalence_test(np.exp(rng.normal(0, 0.02, n)), b,
                                     margin=0.02) < 0.05 for _ in range(reps)]
    # At the bound the upper one-sided test has size exactly 0.05 (binomial sd 0.007).
    assert 0.03 <= np.mean(at_bound) <= 0.07
    # Inside, the power: se = 0.02 / sqrt(20) = 0.0045, bound / se = 4.4 against a
    # critical t of 1.73, so about P(|Z| < 2.7) ~ 0.99.
    assert np.mean(inside) >= 0.95


# ---------------------------------------------------------------- probability of improvement


def test_probability_of_improvement_by_hand():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.0, 2.0, 1.0, 5.0])
    # a < b on pairs 1 and 4, a tie on pair 2 (one half), a > b on pair 3: 2.5 / 4
    point, lo, hi = stats.prob_improvement(a, b, confidence=0.9)
    assert point == 0.625
    # Clopper and Pearson's interval for 2.5 of 4 at 90%: beta quantiles
    assert (lo, hi) == pytest.approx((sps.beta.ppf(0.05, 2.5, 4 - 2.5 + 1),
                                      sps.beta.ppf(0.95, 2.5 + 1, 4 - 2.5)))
    # NaN pairs are dropped; every pair won does not collapse the interval to [1, 1]
    a2, b2 = np.r_[a, np.nan], np.r_[b, 3.0]
    assert stats.prob_improvement(a2, b2) == stats.prob_improvement(a, b)
    won = stats.prob_improvement(np.ones(5), np.full(5, 2.0))
    assert won[0] == 1.0 and won[1] == pytest.approx(0.025 ** (1 / 5)) and won[2] == 1.0


def test_unpaired_probability_of_improvement_is_rliables():
    """All cross pairs (Mann-Whitney's U over n_a n_b, scipy), each arm resampled on its
    own."""
    rng = np.random.default_rng(6)
    a, b = rng.normal(0.0, 1.0, 7), rng.normal(0.5, 1.0, 9)
    point, lo, hi = stats.prob_improvement_unpaired(a, b, rng=1)
    u = sps.mannwhitneyu(b, a).statistic  # pairs with b > a, ties half
    assert point == pytest.approx(u / (7 * 9))
    assert lo < point < hi
    assert stats.prob_improvement_unpaired(a, b, rng=1) == (point, lo, hi)


@pytest.mark.parametrize(("n", "k", "level"), [
    (3, 1, 0.75), (5, 1, 0.9375), (6, 1, 0.96875), (10, 2, 1 - 2 * 11 / 1024),
    (20, 6, None)])
def test_median_interval_is_the_order_statistics_that_reach_the_level(n, k, level):
    """(x_(k), x_(n+1-k)) with the largest k whose exact binomial coverage reaches 95%;
    below 6 values only the range, at the level it reaches."""
    x = np.random.default_rng(n).normal(size=n)
    point, lo, hi, got = stats.median_ci(x, confidence=0.95)
    srt = np.sort(x)
    assert point == np.median(x) and (lo, hi) == (srt[k - 1], srt[n - k])
    exact = 1 - 2 * sps.binom.cdf(k - 1, n, 0.5)
    assert got == pytest.approx(exact)
    if level is not None:
        assert got == pytest.approx(level)
    assert got >= 0.95 or k == 1
    if k + 1 <= n // 2:  # one step narrower falls below the level
        assert 1 - 2 * sps.binom.cdf(k, n, 0.5) < 0.95


def test_median_interval_covers_as_it_says_in_simulation():
    """Distribution-free: a skewed distribution with a far-off seed in ten (a dead
    network) is covered at the stated level (4,000 simulated studies; standard error of a
    coverage near 0.95 is 0.0035)."""
    rng = np.random.default_rng(11)
    truth = None
    for n in (3, 5, 10):
        draws = rng.lognormal(0, 0.8, (4000, n)) + np.where(rng.random((4000, n)) < 0.1, 5, 0)
        if truth is None:
            big = rng.lognormal(0, 0.8, 2_000_000) + np.where(
                rng.random(2_000_000) < 0.1, 5, 0)
            truth = float(np.median(big))
        hits, levels = 0, set()
        for row in draws:
            _, lo, hi, level = stats.median_ci(row)
            hits += lo <= truth <= hi
            levels.add(round(level, 6))
        (level,) = levels
        assert hits / 4000 == pytest.approx(level, abs=0.015)


def test_a_verdict_says_when_its_interval_cannot_reach_the_level():
    from relulab.result import Comparison
    from relulab.verdicts import judged

    base = dict(rel_diff=0.04, rel_lo=0.01, rel_hi=0.10, dm_stat=1.0, dm_p=0.31,
                vol_ratio=0.61, vol_ratio_ref=0.83)
    three = judged(Comparison("relu", "tanh", "rmse", verdict="", n_pairs=3, rel_level=0.75,
                              **base))
    assert "RMSE +4% [+1%, +10%] (a 75% interval: 3 seed pairs cannot give 95%)" in \
        three.verdict
    ten = judged(Comparison("relu", "tanh", "rmse", verdict="", n_pairs=10,
                            rel_level=0.9785, **base))
    assert "interval:" not in ten.verdict


# ---------------------------------------------------------------- seeds needed


def _power_by_nct(n, effect, alpha):
    """Power of the two-sided one-sample t-test, from scipy's noncentral t."""
    crit = sps.t.isf(alpha / 2, df=n - 1)
    nc = effect * math.sqrt(n)
    return sps.nct.sf(crit, n - 1, nc) + sps.nct.cdf(-crit, n - 1, nc)


@pytest.mark.parametrize(("sd", "diff", "alpha"), [
    (0.05, 0.02, 0.05), (0.05, 0.05, 0.05), (0.1, 0.01, 0.05), (0.03, 0.02, 0.1)])
def test_seeds_for_power_is_the_smallest_n_with_80_percent_power(sd, diff, alpha):
    n = stats.seeds_for_power(sd, diff, alpha=alpha)
    effect = math.log1p(diff) / sd
    assert _power_by_nct(n, effect, alpha) >= 0.8 > _power_by_nct(n - 1, effect, alpha)


def test_seeds_for_power_edge_cases():
    assert stats.seeds_for_power(0.001, 0.05, alpha=0.05) == 2  # huge effect: the floor
    assert stats.seeds_for_power(0.0, 0.02, alpha=0.05) is None
    assert stats.seeds_for_power(math.nan, 0.02, alpha=0.05) is None
    got = stats.seeds_needed([1.0, 2.0], [1.0, 2.0], alpha=0.05)
    assert got == {"0.01": None, "0.02": None, "0.05": None}  # no spread
    assert stats.seeds_needed([1.0], [2.0], alpha=0.05)["0.02"] is None  # one pair


def test_seeds_needed_uses_the_spread_of_the_log_ratios():
    rng = np.random.default_rng(4)
    b = rng.uniform(1, 2, 15)
    a = b * np.exp(rng.normal(0, 0.04, 15))
    sd = np.std(np.log(a / b), ddof=1)
    got = stats.seeds_needed(a, b, alpha=0.05, diffs=(0.01, 0.02, 0.05, 0.03))
    assert list(got) == ["0.01", "0.02", "0.05", "0.03"]
    for key, n in got.items():
        assert n == stats.seeds_for_power(sd, float(key), alpha=0.05)
    assert got["0.01"] > got["0.02"] > got["0.03"] > got["0.05"]


def test_seeds_needed_matches_simulated_power():
    """Known truth: with log ratios N(log 1.05, 0.06), the estimated n reaches 80% power in
    a simulation of paired t-tests (and n - 1 does not quite)."""
    rng = np.random.default_rng(11)
    sd, diff, reps = 0.06, 0.05, 4000
    n = stats.seeds_for_power(sd, diff, alpha=0.05)

    def simulated_power(k):
        x = rng.normal(math.log1p(diff), sd, size=(reps, k))
        t = x.mean(axis=1) / (x.std(axis=1, ddof=1) / math.sqrt(k))
        return float(np.mean(2 * sps.t.sf(np.abs(t), df=k - 1) < 0.05))

    assert abs(simulated_power(n) - _power_by_nct(n, math.log1p(diff) / sd, 0.05)) < 0.02
    assert 0.78 <= simulated_power(n) <= 0.88
    assert simulated_power(n - 1) < 0.81


# ---------------------------------------------------------------- decisions, simulated


def _paired_arms(rng, n, ratio, y):
    """Both arms err like one model (a pattern common to every seed, which the DM test on
    the per-seed-median forecasts sees), seed s of both arms shares its own pattern too
    (the pairing), the activation's errors are ``ratio`` times larger, and each run adds
    its own small noise."""
    rows_a, rows_b, fa, fb = [], [], [], []
    common = rng.normal(0, 5, y.size)
    for s in range(n):
        e = common + rng.normal(0, 2, y.size)
        for rows, f, scale in ((rows_a, fa, ratio), (rows_b, fb, 1.0)):
            forecast = y + scale * e + rng.normal(0, 0.3, y.size)
            f.append(forecast)
            rows.append({"seed": s, "diverged": False,
                         "rmse": float(np.sqrt(np.mean((y - forecast) ** 2))),
                         "vol_ratio": float(np.std(forecast) / np.std(y))})
    return pd.DataFrame(rows_a), pd.DataFrame(rows_b), np.array(fa), np.array(fb)


@pytest.mark.parametrize(("ratio", "want", "rate"), [(1.0, "equivalent", 0.9),
                                                      (1.05, "different", 0.9)])
def test_arms_alike_are_equivalent_and_arms_5_percent_apart_are_different(ratio, want, rate):
    rng = np.random.default_rng(12)
    y = 100 + 20 * np.sin(np.arange(30) / 3)
    calls = []
    for _ in range(60):
        ra, rb, fa, fb = _paired_arms(rng, 12, ratio, y)
        c = stats.compare(ra, rb, fa, fb, y, activation="relu", reference="tanh",
                          n_boot=200, equivalence_margin=0.02)
        calls.append(c.decision)
    assert np.mean([d == want for d in calls]) >= rate, calls


# ---------------------------------------------------------------- words


def test_verdict_wording_of_each_decision():
    eq = verdicts.judged(_comparison(rel_diff=0.002, rel_lo=-0.005, rel_hi=0.009, dm_stat=0.3,
                                     dm_p=0.7, equivalence_p=0.004, prob_improvement=0.5,
                                     prob_improvement_low=0.2, prob_improvement_high=0.8))
    assert eq.decision == "equivalent"
    assert eq.verdict == (
        "relu vs tanh: RMSE +0.2% [-0.5%, +0.9%], DM p = 0.70: relu and tanh are equivalent "
        "within ±2% (p = 0.004); relu has the lower RMSE on 50% of seeds [20%, 80%]; "
        "volatility ratio 0.90 vs 0.90: similar volatility")
    assert verdicts.verdict_words(eq) == (
        "relu and tanh are equivalent within ±2%; similar volatility.")
    small = verdicts.judged(_comparison(rel_diff=0.005, rel_lo=0.002, rel_hi=0.008,
                                        dm_p=0.01, equivalence_p=0.001))
    assert small.decision == "negligible"
    assert "equivalent within ±2% (p = 0.001), though relu is slightly less accurate" in (
        small.verdict)
    undecided = verdicts.judged(_comparison(rel_lo=-0.02, dm_p=0.4))
    assert undecided.decision == "undecided"
    assert undecided.verdict == (
        "relu vs tanh: RMSE +4% [-2%, +8%], DM p = 0.40: undecided: run more seeds (no evidence "
        "of a difference, nor of equivalence within ±2%, p = 0.60); to tell a 2% difference "
        "apart, about 40 seeds; this comparison rests on 10; relu has the lower RMSE on 20% "
        "of seeds [0%, 40%]; volatility ratio 0.90 vs 0.90: similar volatility")
    enough = verdicts.judged(_comparison(rel_lo=-0.02, dm_p=0.4, n_pairs=50))
    assert "seeds" not in verdicts.seeds_words(enough)
    different = verdicts.judged(_comparison())
    assert "DM p = 0.03: evidence that relu is less accurate; relu has the lower" in (
        different.verdict)
    assert "about 40 seeds" not in different.verdict
    too_few = verdicts.judged(_comparison(n_pairs=2))
    assert too_few.decision == "too_few" and too_few.verdict == (
        "relu vs tanh: too few runs to judge (2 non-diverged seed pairs; at least 3 needed)")


# ---------------------------------------------------------------- config


def test_config_validates_the_new_fields_and_keeps_old_keys():
    base = StudyConfig()
    assert StudyConfig(correction="holm", equivalence_margin=0.02).key() == base.key()
    other = StudyConfig(correction="bonferroni")
    assert other.key() != base.key()
    with pytest.raises(RelulabError, match="--correction"):
        StudyConfig(correction="fdr")
    for bad in (0.0, -0.1, 1.5, math.nan):
        with pytest.raises(RelulabError, match="--equivalence-margin"):
            StudyConfig(equivalence_margin=bad)


# ---------------------------------------------------------------- flat seeds


def test_a_flat_seed_is_named_and_the_seeds_needed_are_given_without_it():
    """Ten seed pairs whose log ratios spread by 0.03, and seed 9 of the activation a dead
    network three times worse: the estimate with it is the classical one over all pairs,
    and the one without it is the classical one over the other nine."""
    rng = np.random.default_rng(5)
    y = 100 + 20 * np.sin(np.arange(15) / 2)
    seeds = np.arange(10)
    rmse_b = rng.uniform(10, 12, 10)
    rmse_a = rmse_b * np.exp(rng.normal(0, 0.03, 10))
    rmse_a[9] = 3 * rmse_b[9]

    def frame(rmse):
        return pd.DataFrame({"seed": seeds, "diverged": False, "rmse": rmse, "vol_ratio": 0.9})

    forecasts = np.tile(y, (10, 1))
    c = stats.compare(frame(rmse_a), frame(rmse_b), forecasts, forecasts, y,
                      activation="relu", reference="tanh", n_boot=200, flat_a=[9, 11])
    assert c.flat_seeds == {"relu": [9]}  # seed 11 is in no pair
    log_ratio = np.log(rmse_a) - np.log(rmse_b)
    for key in ("0.01", "0.02", "0.05"):
        assert c.seeds_needed[key] == stats.seeds_for_power(
            float(np.std(log_ratio, ddof=1)), float(key), alpha=0.05)
        assert c.seeds_needed_without_flat[key] == stats.seeds_for_power(
            float(np.std(log_ratio[:9], ddof=1)), float(key), alpha=0.05)
    assert c.seeds_needed["0.02"] > 20 * c.seeds_needed_without_flat["0.02"]
    assert c.decision == "undecided"
    assert c.verdict.startswith("relu vs tanh: ")
    assert ("undecided: run more seeds (no evidence of a difference, nor of equivalence "
            "within ±2%, p = ") in c.verdict
    assert (f"); relu forecast a flat line on seed 9; to tell a 2% "
            f"difference apart, about {c.seeds_needed['0.02']} seeds, about "
            f"{c.seeds_needed_without_flat['0.02']} without the flat seed; this comparison "
            f"rests on 10; ") in c.verdict
    assert "relu forecast a flat line on seed 9; to tell" in verdicts.verdict_words(c)
    clean = stats.compare(frame(rmse_a), frame(rmse_b), forecasts, forecasts, y,
                          activation="relu", reference="tanh", n_boot=200)
    assert (clean.flat_seeds, clean.seeds_needed_without_flat) == ({}, {})
    assert "flat" not in clean.verdict


def test_flat_seeds_of_both_arms_are_worded_once_each():
    c = verdicts.judged(_comparison(rel_lo=-0.02, dm_p=0.4, flat_seeds={"relu": [2, 9],
                                                                         "tanh": [4]}))
    assert "relu forecast a flat line on seeds 2, 9 and tanh on seed 4" in c.verdict


def _simulated_power(n: int, effect: float, alpha: float, runs: int = 40_000) -> float:
    """Share of two-sided one-sample t-tests (scipy's ttest_1samp) that reject on
    ``runs`` samples of n normal values with mean ``effect`` and sd 1."""
    rng = np.random.default_rng([n, int(effect * 1000), int(alpha * 1000)])
    x = rng.normal(effect, 1.0, size=(runs, n))
    return float(np.mean(sps.ttest_1samp(x, 0.0, axis=1).pvalue < alpha))


@pytest.mark.parametrize(("effect", "alpha", "expected"), [
    (11.3, 0.01, 3),   # statsmodels said 2, whose power is 0.198
    (3.58, 0.01, 5),   # statsmodels said 4, power 0.771
    (5.4, 0.05, 3),    # statsmodels gave no answer from here up
    (2.0, 0.05, 5),
    (40.0, 0.05, 2),
])
def test_seeds_for_large_effects_are_exact_and_reach_the_power_in_simulation(
        effect, alpha, expected):
    n = stats.seeds_for_power(math.log1p(0.05) / effect, 0.05, alpha=alpha)
    assert n == expected
    # Independent of the noncentral t: simulated t-tests (40,000 runs: standard error of
    # a power near 0.8 is 0.002) reach 80% at n and not at n - 1 (when n > 2).
    assert _simulated_power(n, effect, alpha) >= 0.8 - 0.01
    if n > 2:
        assert _simulated_power(n - 1, effect, alpha) < 0.8


def test_seeds_for_power_answers_for_every_effect_up_to_40():
    """Every effect in [1, 40] gets an answer, never below 2, never growing with the
    effect (statsmodels gave none for 139 of these 391 at alpha 0.05)."""
    effects = np.linspace(1, 40, 391)
    got = [stats.seeds_for_power(math.log1p(0.05) / e, 0.05, alpha=0.05) for e in effects]
    assert all(isinstance(n, int) and n >= 2 for n in got)
    assert all(a >= b for a, b in itertools.pairwise(got))
    # The smallest n (scipy's nct is NaN at some of these; the simulations above check
    # t_test_power where it integrates instead).
    for e, n in zip(effects, got, strict=True):
        assert stats.t_test_power(n, e, 0.05) >= 0.8
        if n > 2:
            assert stats.t_test_power(n - 1, e, 0.05) < 0.8
