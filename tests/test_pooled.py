"""Pooling over series: ranks, wins, Friedman and the critical difference, each checked
against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
from scipy.stats import friedmanchisquare, wilcoxon
from statsmodels.stats.proportion import proportion_confint

from relulab.errors import RelulabError
from relulab.pooled import critical_difference, critical_difference_groups, pool


def test_ranks_wins_and_tests_against_hand_and_scipy() -> None:
    scores = pd.DataFrame({"tanh": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
                           "relu": [9.0, 21.0, 30.0, 38.0, 49.0, 61.0],
                           "elu": [11.0, 19.0, 31.0, 39.0, 52.0, 58.0]},
                          index=[f"s{i}" for i in range(6)])
    p = pool(scores, "tanh", n_boot=500)
    # Series s2: tanh and relu tie at 30 (rank 1.5 each), elu 31 (rank 3).
    assert p.ranks.loc["s2"].tolist() == [1.5, 1.5, 3.0]
    relu = p.of("relu")
    # relu beats tanh on s0, s3, s4; ties on s2 (half); loses on s1, s5.
    assert relu.wins == 3.5 and relu.series == 6
    assert (relu.ties, relu.losses) == (1, 2)
    low, high = proportion_confint(3.5, 6, alpha=0.05, method="wilson")
    assert (relu.win_low, relu.win_high) == pytest.approx((low, high))
    assert p.friedman_p == pytest.approx(friedmanchisquare(*scores.T.to_numpy()).pvalue)
    assert relu.wilcoxon_p == pytest.approx(wilcoxon(scores.relu - scores.tanh).pvalue)
    assert p.of("tanh").mean_rank == pytest.approx(p.ranks["tanh"].mean())
    assert p.of("relu").rank_low <= p.of("relu").mean_rank <= p.of("relu").rank_high
    assert p.words[0].startswith("relu beats tanh on 3.5 of 6 series (58%")


def test_critical_difference_matches_demsar_s_table() -> None:
    # Demsar (2006), Table 5(a): q_0.05 = 2.343 for k = 3, 2.569 for k = 4.
    for k, q in ((3, 2.343), (4, 2.569)):
        assert critical_difference(k, 20) == pytest.approx(
            q * math.sqrt(k * (k + 1) / (6 * 20)), rel=1e-3)


def test_identical_activations_rank_alike_and_a_clear_winner_is_found() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(10, 100, 40)
    same = pd.DataFrame({"tanh": base * rng.lognormal(0, 0.05, 40),
                         "relu": base * rng.lognormal(0, 0.05, 40),
                         "elu": base * rng.lognormal(0, 0.05, 40)})
    assert pool(same, "tanh").friedman_p > 0.01
    better = same.assign(relu=same.tanh * 0.9)
    p = pool(better, "tanh")
    assert p.friedman_p < 0.001 and p.of("relu").win_share == 1.0
    assert p.of("relu").wilcoxon_p_adjusted < 0.001
    assert "against tanh, by the signed-rank test: relu better" in p.words[-2]
    # relu's mean rank is 1.0, tanh's about 2.5: more than the critical difference apart
    gap = p.of("tanh").mean_rank - p.of("relu").mean_rank
    assert gap > p.critical_difference
    assert p.words[-1].endswith("(best: relu); relu (better) more than that from tanh")
    assert "more than that" not in pool(same, "tanh").words[-1]


def test_bad_input_is_one_clear_error() -> None:
    scores = pd.DataFrame({"tanh": [1.0, 2.0], "relu": [1.5, 1.0]})
    with pytest.raises(RelulabError, match="reference 'elu'"):
        pool(scores, "elu")
    with pytest.raises(RelulabError, match="two series"):
        pool(scores.iloc[:1], "tanh")
    two = pool(pd.DataFrame({"tanh": [1.0, 2.0, 3.0], "relu": [0.5, 1.0, 1.5]}), "tanh")
    assert math.isnan(two.friedman_stat) and two.of("relu").wins == 3


def test_critical_difference_groups_join_what_the_nemenyi_test_cannot_tell_apart() -> None:
    ranks = {"d": 3.0, "a": 1.0, "c": 2.6, "b": 1.5}
    # By hand: a..b span 0.5, b..c 1.1, c..d 0.4, a..c 1.6.
    assert critical_difference_groups(ranks, 1.2) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert critical_difference_groups(ranks, 0.5) == [("a", "b"), ("c", "d")]
    assert critical_difference_groups(ranks, 0.3) == []
    assert critical_difference_groups(ranks, 2.0) == [("a", "b", "c", "d")]
    assert critical_difference_groups(ranks, 1.6) == [("a", "b", "c"), ("b", "c", "d")]
    assert critical_difference_groups(ranks, math.nan) == []


def test_the_rank_interval_is_the_percentile_bootstrap_over_series() -> None:
    """Resampled in blocks (bounded memory over many series), and equal to resampling
    every series n_boot times at once from the same stream, which this recomputes."""
    import zlib

    rng = np.random.default_rng(5)
    scores = pd.DataFrame(rng.normal(size=(300, 3)), columns=["tanh", "relu", "elu"])
    p = pool(scores, "tanh", n_boot=700, seed=3)  # several blocks and a partial one
    ranks = scores.rank(axis=1).to_numpy()
    draws = np.random.default_rng([3, zlib.crc32(b"pooled")]).integers(0, 300, size=(700, 300))
    lo, hi = np.quantile(ranks[draws].mean(axis=1), [0.025, 0.975], axis=0)
    for i, a in enumerate(scores.columns):
        assert (p.of(a).rank_low, p.of(a).rank_high) == (lo[i], hi[i])


def test_iman_davenport_reproduces_demsars_example():
    """Demšar (2006), section 3.2.2: chi2_F = 9.28 over 14 data sets and 4 classifiers
    gives F_F = 3.69, p = 0.0198 (F with 3 and 39 degrees of freedom)."""
    from relulab.pooled import iman_davenport

    ff, p = iman_davenport(9.28, 14, 4)
    assert ff == pytest.approx(3.69, abs=0.005)
    assert p == pytest.approx(0.0198, abs=0.0005)
    assert iman_davenport(42.0, 14, 4) == (math.inf, 0.0)  # every series ranks alike
    assert all(math.isnan(v) for v in iman_davenport(math.nan, 14, 2))


def test_pooled_reports_iman_davenport_beside_the_tie_corrected_chi_square():
    rng = np.random.default_rng(2)
    scores = pd.DataFrame(rng.normal(size=(12, 3)) + np.array([0.0, 0.3, 0.6]),
                          columns=["tanh", "relu", "gelu"])
    p = pool(scores, "tanh")
    stat = friedmanchisquare(*scores.T.to_numpy()).statistic
    assert p.friedman_stat == pytest.approx(stat)
    ff = (12 - 1) * stat / (12 * 2 - stat)
    assert p.friedman_f == pytest.approx(ff)
    assert p.friedman_f_p == pytest.approx(sps.f.sf(ff, 2, 22))
    assert any("chi-square, tie-corrected" in w and "Iman-Davenport" in w for w in p.words)


def test_sign_test_splits_ties_as_demsar_does():
    """10 wins, 2 losses, 2 ties: Demšar's sign test counts 11 of 14 (exact two-sided
    p = 0.0574), where dropping the ties would test 10 of 12 (p = 0.0386)."""
    ref = np.arange(14, dtype=float) + 10
    diff = np.array([-1.0] * 10 + [1.0] * 2 + [0.0] * 2)
    scores = pd.DataFrame({"tanh": ref, "relu": ref + diff})
    relu = pool(scores, "tanh").of("relu")
    assert (relu.wins, relu.ties, relu.losses) == (11.0, 2, 2)
    assert relu.sign_p == pytest.approx(sps.binomtest(11, 14).pvalue)
    assert relu.sign_p == pytest.approx(0.0574, abs=5e-5)
    # An odd tie is left out: 10 wins, 2 losses, 3 ties tests 11 of 14 as well.
    scores3 = pd.DataFrame({"tanh": np.append(ref, 40.0),
                            "relu": np.append(ref + diff, 40.0)})
    assert pool(scores3, "tanh").of("relu").sign_p == pytest.approx(relu.sign_p)
