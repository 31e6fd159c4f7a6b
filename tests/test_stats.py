"""Bootstrap, Diebold-Mariano, comparisons and verdicts against independent references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from relulab import stats
from relulab.errors import RelulabError
from relulab.metrics import METRIC_COLUMNS
from relulab.result import Comparison
from relulab.verdicts import judged

# ---------------------------------------------------------------- bootstrap


def _exact_bootstrap_quantiles(v, stat, confidence):
    """Quantiles of the exact bootstrap distribution: every one of the n^n resamples."""
    values = np.array([stat(np.array(s)) for s in itertools.product(v, repeat=len(v))])
    return np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])


def test_bootstrap_median_matches_exact_bootstrap_distribution():
    v = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    # exact CDF of the resample median: P(<=1) .058, P(<=2) .317, P(<=4) .683, P(<=7) .942,
    # so the 80% interval is [2, 7] and the 95% interval is [1, 11]
    for confidence, expected in ((0.8, (2.0, 7.0)), (0.95, (1.0, 11.0))):
        assert tuple(_exact_bootstrap_quantiles(v, np.median, confidence)) == expected
        point, lo, hi = stats.bootstrap_ci(v, n_boot=20000, confidence=confidence, rng=1)
        assert (point, lo, hi) == (4.0, *expected)


def test_bootstrap_mean_matches_exact_bootstrap_distribution():
    v = np.array([0.0, 1.0, 3.0])
    # resample means take values k/3; CDF .037 at 0, .963 at 7/3 -> 90% interval [1/3, 7/3]
    lo_ex, hi_ex = _exact_bootstrap_quantiles(v, np.mean, 0.9)
    point, lo, hi = stats.bootstrap_ci(v, stat=np.mean, n_boot=20000, confidence=0.9, rng=2)
    assert point == pytest.approx(4 / 3)
    assert (lo, hi) == pytest.approx((lo_ex, hi_ex))
    assert (lo_ex, hi_ex) == pytest.approx((1 / 3, 7 / 3))


def test_bootstrap_is_deterministic_and_nan_safe():
    rng = np.random.default_rng(0)
    v = rng.normal(size=12)
    with_nan = np.concatenate([v[:5], [np.nan, np.inf], v[5:]])
    assert stats.bootstrap_ci(v, rng=7) == stats.bootstrap_ci(with_nan, rng=7)
    assert stats.bootstrap_ci(v, rng=7) == stats.bootstrap_ci(v, rng=np.random.default_rng(7))
    # (the median's bootstrap quantiles are order statistics, often equal across seeds)
    assert stats.bootstrap_ci(v, stat=np.mean, rng=7) != stats.bootstrap_ci(v, stat=np.mean, rng=8)
    point, lo, hi = stats.bootstrap_ci(v, rng=7)
    assert point == np.median(v) and lo <= point <= hi


def test_bootstrap_degenerate_inputs():
    assert all(math.isnan(x) for x in stats.bootstrap_ci([np.nan, np.nan], rng=0))
    point, lo, hi = stats.bootstrap_ci([3.0], rng=0)
    assert point == 3.0 and math.isnan(lo) and math.isnan(hi)
    assert stats.bootstrap_ci([2.0, 2.0, 2.0], rng=0) == (2.0, 2.0, 2.0)
    with pytest.raises(RelulabError, match="confidence"):
        stats.bootstrap_ci([1.0, 2.0], confidence=95, rng=0)


def test_bootstrap_without_axis_argument():
    v = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    by_axis = stats.bootstrap_ci(v, n_boot=500, rng=3)
    no_axis = stats.bootstrap_ci(v, stat=lambda x: float(np.median(x)), n_boot=500, rng=3)
    assert by_axis == no_axis


def test_paired_rel_diff_keeps_pairs():
    # Seeds vary a lot, but every seed's a is exactly 10% above its b: the paired
    # interval is the single point 0.1, where an unpaired comparison would be very wide.
    b = np.array([50.0, 90.0, 120.0, 70.0, 200.0, 65.0])
    a = 1.1 * b
    assert stats.paired_rel_diff_ci(a, b, rng=0) == pytest.approx((0.1, 0.1, 0.1))
    # point = median over pairs of a/b - 1, with bad pairs dropped
    a2 = np.array([11.0, 18.0, 33.0, np.nan, 5.0])
    b2 = np.array([10.0, 20.0, 30.0, 40.0, 0.0])
    point, lo, hi = stats.paired_rel_diff_ci(a2, b2, rng=0)
    assert point == pytest.approx(np.median([0.1, -0.1, 0.1]))
    assert -0.1 - 1e-12 <= lo <= point <= hi <= 0.1 + 1e-12
    with pytest.raises(RelulabError, match="same number"):
        stats.paired_rel_diff_ci([1.0, 2.0], [1.0], rng=0)


# ---------------------------------------------------------------- Diebold-Mariano


def _dm_by_formula(e1, e2, h, power=2):
    """DM with HLN as R's forecast::dm.test computes it (varestimator "acf"): the
    autocovariances by np.correlate, the rectangular sum over lags k < h, t(n-1) p-value;
    where that variance is not positive, Bartlett weights 1 - k/h (relulab's fallback)."""
    d = np.abs(e1) ** power - np.abs(e2) ** power
    n = d.size
    dev = d - d.mean()
    acov = np.correlate(dev, dev, mode="full")[n - 1:n - 1 + h] / n  # lags 0 .. h-1
    var_mean = (acov[0] + 2 * acov[1:].sum()) / n
    if var_mean <= 0:
        var_mean = (acov[0] + 2 * sum((1 - k / h) * acov[k] for k in range(1, h))) / n
    hln = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    stat = hln * d.mean() / math.sqrt(var_mean)
    return stat, 2 * sps.t.sf(abs(stat), df=n - 1)


# e1 = [2, 1, 1, 2, 0], e2 = [1, 1, 0, 0, 1]  ->  d = e1² - e2² = [3, 0, 1, 4, -1]
# mean 1.4; deviations [1.6, -1.4, -0.4, 2.6, -2.4]
# γ0 = (2.56 + 1.96 + 0.16 + 6.76 + 5.76) / 5 = 17.2 / 5 = 3.44
# γ1 = ((-1.4)(1.6) + (-0.4)(-1.4) + (2.6)(-0.4) + (-2.4)(2.6)) / 5 = -8.96 / 5 = -1.792
E1 = np.array([2.0, 1, 1, 2, 0])
E2 = np.array([1.0, 1, 0, 0, 1])


def test_dm_h1_by_hand():
    # V = γ0 / n = 0.688;  HLN factor sqrt((5 + 1 - 2) / 5) = sqrt(0.8)
    # S = 1.4 / sqrt(0.688) * sqrt(0.8) = 1.509659...
    stat, p = stats.diebold_mariano(E1, E2, h=1)
    assert stat == pytest.approx(1.4 * math.sqrt(0.8 / 0.688))
    assert stat == pytest.approx(1.509659, abs=1e-6)
    assert p == pytest.approx(2 * sps.t.sf(1.4 * math.sqrt(0.8 / 0.688), df=4))


def test_dm_h2_falls_back_to_bartlett_where_the_rectangular_variance_is_negative():
    # Rectangular (DM, HLN, R's "acf"): γ0 + 2γ1 = 3.44 - 3.584 = -0.144 < 0, so
    # Bartlett: V = (γ0 + 2 (1 - 1/2) γ1) / n = (3.44 - 1.792) / 5 = 0.3296
    # HLN factor sqrt((5 + 1 - 4 + 2·1/5) / 5) = sqrt(0.48);  S = 1.4 sqrt(0.48 / 0.3296)
    stat, p = stats.diebold_mariano(E1, E2, h=2)
    assert stat == pytest.approx(1.4 * math.sqrt(0.48 / 0.3296))
    assert p == pytest.approx(2 * sps.t.sf(1.4 * math.sqrt(0.48 / 0.3296), df=4))


def test_dm_h2_uses_the_rectangular_variance_hln_derived_their_factor_for():
    # e1 = [2, 2, 1, 1, 0], e2 = 0: d = [4, 4, 1, 1, 0], mean 2, deviations [2, 2, -1, -1, -2]
    # γ0 = (4 + 4 + 1 + 1 + 4) / 5 = 2.8;  γ1 = (4 - 2 + 1 + 2) / 5 = 1.0
    # rectangular V = (2.8 + 2·1.0) / 5 = 0.96 (Bartlett's would be (2.8 + 1.0) / 5 = 0.76)
    stat, p = stats.diebold_mariano(np.array([2.0, 2, 1, 1, 0]), np.zeros(5), h=2)
    assert stat == pytest.approx(2 * math.sqrt(0.48 / 0.96))
    assert p == pytest.approx(2 * sps.t.sf(2 * math.sqrt(0.48 / 0.96), df=4))


def test_dm_h1_is_statsmodels_test():
    from statsmodels.tsa.stattools import diebold_mariano_test

    rng = np.random.default_rng(8)
    e1, e2 = rng.normal(size=20), 1.2 * rng.normal(size=20)
    ref = diebold_mariano_test(np.zeros(20), -e1, -e2, criterion="poly", power=2, lags=0,
                               harvey_adj=True, horizon=1)
    stat, p = stats.diebold_mariano(e1, e2, h=1)
    assert stat == pytest.approx(float(ref.statistic), rel=1e-12)
    assert p == pytest.approx(float(ref.pvalue), rel=1e-12)


@pytest.mark.parametrize("h", [1, 2, 3, 4])
@pytest.mark.parametrize("power", [1, 2])
def test_dm_matches_formula_on_random_errors(h, power):
    rng = np.random.default_rng(10 * h + power)
    e1 = rng.normal(size=15)
    e2 = 1.3 * rng.normal(size=15) + 0.5 * e1  # correlated, as forecasts of one series are
    stat, p = stats.diebold_mariano(e1, e2, h=h, power=power)
    ref_stat, ref_p = _dm_by_formula(e1, e2, h, power)
    assert stat == pytest.approx(ref_stat, rel=1e-10)
    assert p == pytest.approx(ref_p, rel=1e-10)


def test_dm_sign_and_symmetry():
    rng = np.random.default_rng(4)
    small, large = rng.normal(size=40), 3 * rng.normal(size=40)
    stat, p = stats.diebold_mariano(large, small)
    assert stat > 0 and p < 0.01  # forecast 1 has the larger loss
    stat2, p2 = stats.diebold_mariano(small, large)
    assert stat2 == pytest.approx(-stat) and p2 == pytest.approx(p)


def test_dm_degenerate_cases():
    e = np.array([1.0, -2.0, 0.5, 3.0])
    assert stats.diebold_mariano(e, e) == (0.0, 1.0)  # identical forecasts
    assert stats.diebold_mariano(e, -e) == (0.0, 1.0)  # same squared losses
    stat, p = stats.diebold_mariano(np.full(4, 2.0), np.ones(4))  # constant d = 3
    assert stat == math.inf and p == 0.0
    with pytest.raises(RelulabError, match="h < n"):
        stats.diebold_mariano(e, e + 1, h=4)
    with pytest.raises(RelulabError, match="NaN"):
        stats.diebold_mariano(np.array([1.0, np.nan, 2.0]), e[:3])


# ---------------------------------------------------------------- verdict


def _verdict(activation: str = "relu", *, confidence: float = 0.95, **kw):
    """The sentence the analysis gives a comparison with these numbers (``judged``)."""
    base = dict(rel_diff=0.04, rel_lo=-0.02, rel_hi=0.10, dm_stat=1.0, dm_p=0.31,
                vol_ratio=0.61, vol_ratio_ref=0.83, n_pairs=10)
    c = Comparison(activation, "tanh", "rmse", verdict="", **{**base, **kw})
    return judged(c, confidence).verdict


def test_verdict_example_from_the_issue():
    assert _verdict() == ("relu vs tanh: RMSE +4% [-2%, +10%], DM p = 0.31: no evidence of a "
                          "difference; volatility ratio 0.61 vs 0.83: relu flattens the forecast")


def test_verdict_accuracy_rules():
    assert "evidence that relu is less accurate" in _verdict(rel_lo=0.01, dm_p=0.01)
    assert "evidence that relu is more accurate" in _verdict(
        rel_diff=-0.1, rel_lo=-0.2, rel_hi=-0.05, dm_stat=-2.5, dm_p=0.02)
    assert "opposite ways" in _verdict(rel_lo=0.01, dm_stat=-2.5, dm_p=0.02)
    assert "(the seed interval excludes 0, the DM test does not reject)" in _verdict(rel_lo=0.01)
    assert "(the DM test rejects, the seed interval includes 0)" in _verdict(dm_p=0.001)
    assert "DM p < 0.001" in _verdict(dm_p=0.0001)
    # alpha follows the confidence level
    assert "evidence that" in _verdict(rel_lo=0.01, dm_p=0.07, confidence=0.9)
    assert "mixed" in _verdict(rel_lo=0.01, dm_p=0.07, confidence=0.95)


def test_verdict_volatility_rules():
    assert "relu flattens the forecast" in _verdict(vol_rel_lo=-0.4, vol_rel_hi=-0.1)
    assert "no clear difference in volatility" in _verdict(vol_rel_lo=-0.4, vol_rel_hi=0.1)
    assert "relu exaggerates the volatility" in _verdict(vol_ratio=1.0, vol_ratio_ref=0.8)
    assert "similar volatility" in _verdict(vol_ratio=0.80, vol_ratio_ref=0.83)


def test_verdict_too_few_runs():
    assert _verdict(n_pairs=2) == (
        "relu vs tanh: too few runs to judge (2 non-diverged seed pairs; at least 3 needed)"
    )


# ---------------------------------------------------------------- compare, summarize


def _arm(name, y, noise, scale, seeds, rng, diverged=()):
    forecasts = np.array([y.mean() + scale * (y - y.mean()) + noise * rng.normal(size=y.size)
                          for _ in seeds])
    rows = []
    for i, s in enumerate(seeds):
        f = forecasts[i]
        bad = s in diverged
        if bad:
            forecasts[i] = np.nan
        rows.append({"activation": name, "seed": s, "diverged": bad,
                     "rmse": np.nan if bad else np.sqrt(np.mean((y - f) ** 2)),
                     "vol_ratio": np.nan if bad else np.std(f) / np.std(y)})
    return pd.DataFrame(rows), forecasts


def test_compare_against_independent_computation():
    rng = np.random.default_rng(0)
    y = 100 + 30 * np.sin(np.arange(15))
    seeds = list(range(10))
    runs_a, fa = _arm("relu", y, noise=12.0, scale=0.5, seeds=seeds, rng=rng, diverged={3})
    runs_b, fb = _arm("tanh", y, noise=4.0, scale=0.95, seeds=seeds, rng=rng)
    c = stats.compare(runs_a, runs_b, fa, fb, y, activation="relu", reference="tanh",
                      confidence=0.95, n_boot=1000, seed=0)
    keep = [s for s in seeds if s != 3]
    ratios = runs_a.set_index("seed").loc[keep, "rmse"] / runs_b.set_index("seed").loc[keep, "rmse"]
    # The median of the 9 pairs' relative differences and its order-statistic interval:
    # (x_(2), x_(8)) covers the median with 1 - 2 P(Binomial(9, 1/2) <= 1) = 0.9609 >= 95%
    # (x_(3), x_(7) would cover 0.8203).
    r = np.sort(ratios.to_numpy() - 1)
    assert c.rel_diff == pytest.approx(np.median(r))
    assert (c.rel_lo, c.rel_hi) == (r[1], r[7])
    assert c.rel_level == pytest.approx(1 - 2 * sps.binom.cdf(1, 9, 0.5))
    assert c.rel_lo <= c.rel_diff <= c.rel_hi and c.rel_lo > 0
    med_a = np.median(np.delete(fa, 3, axis=0), axis=0)
    med_b = np.median(fb, axis=0)
    ref_stat, ref_p = _dm_by_formula(y - med_a, y - med_b, h=1)
    assert (c.dm_stat, c.dm_p) == pytest.approx((ref_stat, ref_p))
    assert c.vol_ratio == pytest.approx(np.median(runs_a["vol_ratio"].dropna()))
    assert c.vol_ratio_ref == pytest.approx(np.median(runs_b["vol_ratio"]))
    assert c.verdict.startswith("relu vs tanh: RMSE +")
    assert "relu flattens the forecast" in c.verdict
    assert (c.activation, c.reference, c.metric) == ("relu", "tanh", "rmse")
    # The verdict's parts, as data: 9 pairs (seed 3 diverged), the interval above 0.
    assert c.n_pairs == 9 and c.seed_interval == "above_zero"
    assert c.volatility == "flattens" and c.vol_rel_hi < 0
    assert c.accuracy == ("less_accurate" if ref_p < 0.05 else "mixed_seeds_only")

    # pairing is by seed, not by row order; and the result is deterministic
    order = rng.permutation(len(runs_b))
    c2 = stats.compare(runs_a, runs_b.iloc[order], fa, fb[order], y, activation="relu",
                       reference="tanh", confidence=0.95, n_boot=1000, seed=0)
    assert c2 == c


def test_compare_with_too_few_runs():
    rng = np.random.default_rng(1)
    y = np.arange(15.0)
    runs_a, fa = _arm("relu", y, 1.0, 1.0, [0, 1, 2], rng, diverged={0, 1})
    runs_b, fb = _arm("tanh", y, 1.0, 1.0, [0, 1, 2], rng)
    c = stats.compare(runs_a, runs_b, fa, fb, y, activation="relu", reference="tanh",
                      confidence=0.95, n_boot=200, seed=0)
    assert "too few runs to judge (1 non-diverged seed pair;" in c.verdict
    assert (c.n_pairs, c.accuracy, c.volatility) == (1, "too_few", "not_comparable")


@pytest.mark.parametrize(("kw", "accuracy", "volatility"), [
    ({}, "no_difference", "flattens"),
    ({"rel_lo": 0.01, "dm_p": 0.01}, "less_accurate", "flattens"),
    ({"rel_diff": -0.1, "rel_lo": -0.2, "rel_hi": -0.05, "dm_stat": -2.5, "dm_p": 0.02},
     "more_accurate", "flattens"),
    ({"rel_lo": 0.01, "dm_stat": -2.5, "dm_p": 0.02}, "mixed_opposite", "flattens"),
    ({"rel_lo": 0.01}, "mixed_seeds_only", "flattens"),
    ({"dm_p": 0.001}, "mixed_dm_only", "flattens"),
    ({"vol_rel_lo": -0.4, "vol_rel_hi": 0.1}, "no_difference", "unclear"),
    ({"vol_ratio": 1.0, "vol_ratio_ref": 0.8}, "no_difference", "exaggerates"),
    ({"vol_ratio": 0.80, "vol_ratio_ref": 0.83}, "no_difference", "similar"),
    ({"vol_ratio_ref": 0.0}, "no_difference", "not_comparable"),
])
def test_the_verdicts_parts_are_the_sentences_words(kw, accuracy, volatility):
    """The codes name the sentence's clauses, and verdict_words says them again, without
    the numbers, in the words of the sentence."""
    base = dict(rel_diff=0.04, rel_lo=-0.02, rel_hi=0.10, dm_stat=1.0, dm_p=0.31,
                vol_ratio=0.61, vol_ratio_ref=0.83, n_pairs=10)
    base = {**base, **kw}
    got_a = stats.judge_accuracy(**{k: base[k] for k in ("rel_lo", "rel_hi", "dm_stat",
                                                           "dm_p", "n_pairs")})
    got_v = stats.judge_volatility(**{k: base[k] for k in ("vol_ratio", "vol_ratio_ref",
                                                           "vol_rel_lo", "vol_rel_hi")
                                      if k in base})
    assert (got_a, got_v) == (accuracy, volatility)
    sentence = _verdict(**kw)
    c = Comparison("relu", "tanh", "rmse", base["rel_diff"], base["rel_lo"], base["rel_hi"],
                   base["dm_stat"], base["dm_p"], base["vol_ratio"], base["vol_ratio_ref"],
                   sentence, n_pairs=10, accuracy=got_a, volatility=got_v)
    words = stats.verdict_words(c)
    clauses = [part.rsplit(": ", 1)[1] for part in sentence.split("; ")]
    assert words == clauses[0][:1].upper() + clauses[0][1:] + "; " + clauses[1] + "."


def test_verdict_words_of_too_few_and_of_an_unrecorded_comparison():
    c = Comparison("relu", "tanh", "rmse", 0.1, -1, 1, 0, 1, 1, 1, _verdict(n_pairs=2),
                   n_pairs=2, accuracy="too_few", volatility="not_comparable")
    assert stats.verdict_words(c) == (
        "Too few runs to judge (2 non-diverged seed pairs; at least 3 needed).")
    old = Comparison("relu", "tanh", "rmse", 0.1, -1, 1, 0, 1, 1, 1, "free text: kept")
    assert stats.verdict_words(old) == "free text: kept"


def test_seed_interval():
    assert stats.seed_interval(0.01, 0.2) == "above_zero"
    assert stats.seed_interval(-0.2, -0.01) == "below_zero"
    assert stats.seed_interval(-0.2, 0.01) == "includes_zero"
    assert stats.seed_interval(np.nan, 0.01) == "unknown"


def test_summarize_excludes_diverged_and_matches_medians():
    rng = np.random.default_rng(2)
    rows = []
    for act in ("tanh", "relu"):
        for s in range(8):
            rows.append({"activation": act, "seed": s, "diverged": act == "relu" and s == 0,
                         **{m: rng.normal() for m in METRIC_COLUMNS}})
    frame = pd.DataFrame(rows)
    frame.loc[(frame.activation == "relu") & (frame.seed == 0), "rmse"] = 1e9  # must be ignored
    frame.loc[(frame.activation == "tanh") & (frame.seed == 5), "mase"] = np.nan
    out = stats.summarize(frame, n_boot=300, confidence=0.95, seed=0)
    assert list(out.columns) == ["activation", "metric", "median", "lo", "hi", "n"]
    assert list(out.activation.unique()) == ["tanh", "relu"]
    assert len(out) == 2 * len(METRIC_COLUMNS)
    got = out.set_index(["activation", "metric"])
    relu_rmse = frame[(frame.activation == "relu") & (frame.seed != 0)]["rmse"]
    assert got.loc[("relu", "rmse"), "median"] == pytest.approx(np.median(relu_rmse))
    assert got.loc[("relu", "rmse"), "n"] == 7
    assert got.loc[("tanh", "mase"), "n"] == 7
    assert (got["lo"] <= got["median"]).all() and (got["median"] <= got["hi"]).all()
    # the same seed gives the same table; another activation does not change tanh's rows
    pd.testing.assert_frame_equal(out, stats.summarize(frame, n_boot=300, seed=0))
    alone = stats.summarize(frame[frame.activation == "tanh"], n_boot=300, seed=0)
    pd.testing.assert_frame_equal(alone, out[out.activation == "tanh"].reset_index(drop=True))


def test_verdict_keeps_a_decimal_where_a_whole_percent_would_read_zero():
    text = _verdict("elu", rel_diff=0.003, rel_lo=0.001, rel_hi=0.006, dm_stat=2.5,
                    dm_p=0.02, vol_ratio=0.9, vol_ratio_ref=0.9, n_pairs=10)
    assert "RMSE +0.3% [+0.1%, +0.6%]" in text
    assert "evidence that elu is less accurate" in text


def test_verdict_shows_no_sign_on_a_difference_that_rounds_to_zero():
    text = _verdict("elu", rel_diff=-0.0004, rel_lo=-0.05, rel_hi=0.04,
                    dm_stat=0.1, dm_p=0.9, vol_ratio=0.9, vol_ratio_ref=0.9, n_pairs=10)
    assert "RMSE 0.0% [-5.0%, +4.0%]" in text
