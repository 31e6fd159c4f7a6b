"""Split, scaler, windows and folds against hand-computed cases and the real hotel series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.windows import (
    MinMaxScaler,
    Split,
    check_length,
    check_scale,
    check_series,
    keras_split_at,
    min_length,
    prepare,
    prepare_folds,
    rolling_folds,
    split,
)

SEED = StudyConfig()  # the seed preset's data settings are StudyConfig's defaults


# ------------------------------------------------------------------------ split


def test_split_of_the_hotel_series_is_80_20_15():
    assert split(115, test_size=15, train_fraction=0.8, lookback=5) == Split(115, 80, 100)


def test_split_floors_the_train_fraction():
    # 0.5 * 25 = 12.5 -> 12 points (the reference's int()); validation 13, test 5.
    assert split(30, test_size=5, train_fraction=0.5, lookback=1) == Split(30, 12, 25)


def test_split_guards_floating_point_in_the_fraction():
    # 0.29 * 100 is 28.999999999999996 in binary; 29% of 100 points is 29.
    assert split(110, test_size=10, train_fraction=0.29, lookback=1).train_end == 29


@pytest.mark.parametrize(
    ("n", "kwargs", "match"),
    [
        (15, dict(test_size=15, train_fraction=0.8, lookback=5), "too short"),
        (20, dict(test_size=15, train_fraction=0.8, lookback=5), "--lookback or --test-size"),
        (100, dict(test_size=0, train_fraction=0.8, lookback=5), "test size must be"),
        (100, dict(test_size=10, train_fraction=1.0, lookback=5), "train fraction"),
        (100, dict(test_size=10, train_fraction=0.8, lookback=0), "lookback must be"),
    ],
)
def test_split_rejects_impossible_settings(n, kwargs, match):
    with pytest.raises(RelulabError, match=match):
        split(n, **kwargs)


# ------------------------------------------------------------ Keras' validation split


@pytest.mark.parametrize(
    ("samples", "fraction", "expected"),
    [(75, 0.2, 60), (10, 0.25, 7), (3, 0.2, 2), (2, 0.5, 1), (40, 0.0, 40)],
)
def test_keras_split_index_by_hand(samples, fraction, expected):
    # floor(75 * 0.8) = 60, floor(7.5) = 7, floor(2.4) = 2, floor(1.0) = 1; 0 means no split.
    assert keras_split_at(samples, fraction) == expected


@pytest.mark.parametrize(("samples", "fraction"), [(1, 0.2), (2, 0.6), (1, 0.5)])
def test_keras_split_that_leaves_a_part_empty_is_refused(samples, fraction):
    with pytest.raises(RelulabError, match="cannot be split"):
        keras_split_at(samples, fraction)


def test_keras_split_matches_keras_itself(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    slicing = pytest.importorskip("keras.src.trainers.data_adapters.array_slicing")
    for samples in (5, 7, 13, 60, 75, 101):
        for fraction in (0.1, 0.2, 0.3, 1 / 3):
            fit, val = slicing.train_validation_split(np.arange(samples), fraction)
            assert keras_split_at(samples, fraction) == len(fit)
            assert np.array_equal(val, np.arange(len(fit), samples))  # the tail, unshuffled


# -------------------------------------------------------------- length requirements


def test_min_length_of_the_seed_preset_is_24():
    # lookback 5 + 2 training windows (Keras' split of 2 at 0.2 leaves 1 + 1) = 7 train points;
    # floor(0.8 * 9) = 7 is the first to reach 7, so 9 points before a 15-point test: 24.
    assert min_length(SEED) == 24
    prepared = prepare(np.arange(24.0) % 7, SEED)
    assert (len(prepared.fit), len(prepared.val_loss)) == (1, 1)


def test_min_length_grows_with_a_larger_validation_split():
    # At 0.6, 2 windows give floor(0.8) = 0, 3 give floor(1.2) = 1: train points 5 + 3 = 8;
    # floor(0.8 * 10) = 8, so 10 + 15 = 25.
    assert min_length(SEED.replace(validation_split=0.6)) == 25


def test_check_length_says_what_exists_what_is_needed_and_what_to_lower():
    with pytest.raises(RelulabError) as info:
        check_length(23, SEED, what="series 'x'")
    message = str(info.value)
    for part in ("series 'x'", "23 points", "at least 24", "--lookback", "--test-size"):
        assert part in message
    check_length(24, SEED)


# ---------------------------------------------------------------------- scaler


def test_min_max_scaler_by_hand():
    scaler = MinMaxScaler.fit([2.0, 6.0, 4.0])
    assert (scaler.lo, scaler.hi) == (2.0, 6.0)
    np.testing.assert_array_equal(scaler.transform(np.array([2.0, 4.0, 6.0, 8.0])),
                                  [0.0, 0.5, 1.0, 1.5])
    np.testing.assert_array_equal(scaler.inverse(np.array([0.0, 0.25, 1.5])), [2.0, 3.0, 8.0])


def test_min_max_scaler_refuses_a_constant_region():
    with pytest.raises(RelulabError, match="constant"):
        MinMaxScaler.fit([3.0, 3.0, 3.0])


# ------------------------------------------------------------------ windows by hand


TINY = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], dtype=float)
TINY_CONFIG = SEED.replace(lookback=2, test_size=3, train_fraction=0.5, validation_split=0.5)


def test_tiny_series_windows_by_hand():
    # 12 points: test [9, 12), 9 before it, train [0, 4) = 3 1 4 1 (min 1, max 4: z = (y-1)/3),
    # validation [4, 9). Training targets t = 2, 3; Keras' split at floor(2 * 0.5) = 1.
    p = prepare(TINY, TINY_CONFIG)
    assert p.split == Split(12, 4, 9)
    assert (p.scaler.lo, p.scaler.hi) == (1.0, 4.0)
    np.testing.assert_array_equal(p.train_targets.target_index, [2, 3])
    np.testing.assert_allclose(p.fit.X, [[2 / 3, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(p.fit.y, [1.0])
    np.testing.assert_allclose(p.val_loss.X, [[0.0, 1.0]])
    np.testing.assert_allclose(p.val_loss.y, [0.0])
    np.testing.assert_array_equal(p.validation.target_index, [4, 5, 6, 7, 8])
    np.testing.assert_allclose(p.validation.X[0], [1.0, 0.0])  # y[2], y[3] = 4, 1
    np.testing.assert_allclose(p.validation.y[:2], [4 / 3, 8 / 3], rtol=1e-6)  # 5, 9: above 1
    np.testing.assert_array_equal(p.test.target_index, [9, 10, 11])
    np.testing.assert_array_equal(p.test.y_prev, [5.0, 3.0, 5.0])  # y[8], y[9], y[10]
    np.testing.assert_allclose(p.test.X[-1], [2 / 3, 4 / 3], rtol=1e-6)  # y[9], y[10] = 3, 5
    assert p.fit.X.dtype == np.float32 and p.fit.y.dtype == np.float32
    assert p.test.y_prev.dtype == np.float64
    np.testing.assert_array_equal(p.values, TINY)


def test_no_validation_split_trains_on_every_training_window():
    p = prepare(TINY, TINY_CONFIG.replace(validation_split=0.0))
    assert (len(p.fit), len(p.val_loss)) == (2, 0)
    assert p.val_loss.X.shape == (0, 2)


def test_scaler_sees_only_the_train_region():
    changed = TINY.copy()
    changed[4:] = [100, -50, 7, 0, 1e6, 3, 2, 1]  # validation and test values only
    a, b = prepare(TINY, TINY_CONFIG), prepare(changed, TINY_CONFIG)
    assert a.scaler == b.scaler
    for part in ("fit", "val_loss"):
        np.testing.assert_array_equal(getattr(a, part).X, getattr(b, part).X)
        np.testing.assert_array_equal(getattr(a, part).y, getattr(b, part).y)


def test_prepare_rejects_bad_values():
    with pytest.raises(RelulabError, match="NaN"):
        prepare(np.where(np.arange(30) == 7, np.nan, np.arange(30.0)), SEED)
    with pytest.raises(RelulabError, match="1-D"):
        prepare(np.ones((30, 2)), SEED)
    with pytest.raises(RelulabError, match="at least 24"):
        prepare(np.arange(20.0), SEED)


# -------------------------------------------------------------- the real series


def test_hotel_series_gives_the_protocols_counts(shared_data):
    y = pd.read_csv(shared_data / "hotel_h1_weekly.csv")["cancellations"].to_numpy(float)
    p = prepare(y, SEED)
    assert p.split == Split(115, 80, 100)
    counts = [len(w) for w in (p.train_targets, p.fit, p.val_loss, p.validation, p.test)]
    assert counts == [75, 60, 15, 20, 15]
    np.testing.assert_array_equal(p.fit.target_index, np.arange(5, 65))
    np.testing.assert_array_equal(p.val_loss.target_index, np.arange(65, 80))
    np.testing.assert_array_equal(p.validation.target_index, np.arange(80, 100))
    np.testing.assert_array_equal(p.test.target_index, np.arange(100, 115))
    lo, hi = min(y[:80].tolist()), max(y[:80].tolist())
    assert (p.scaler.lo, p.scaler.hi) == (lo, hi)
    # Weeks 95..99 of the file (2017 weeks 17-21) hold 104, 106, 167, 106, 79 cancellations.
    expected = [(v - lo) / (hi - lo) for v in (104, 106, 167, 106, 79)]
    np.testing.assert_allclose(p.test.X[0], expected, rtol=1e-6)
    assert p.test.y_prev[0] == 79.0
    assert p.test.X.shape == (15, 5)


# ------------------------------------------------------------------ rolling folds


def test_rolling_folds_move_the_test_window_back_by_test_size():
    folds = rolling_folds(115, SEED.replace(folds=3))
    # n = 85, 100, 115; train ends floor(0.8 * 70) = 56, floor(0.8 * 85) = 68, 80.
    assert folds == [Split(85, 56, 70), Split(100, 68, 85), Split(115, 80, 100)]
    assert folds[-1] == split(115, test_size=15, train_fraction=0.8, lookback=5)
    assert rolling_folds(115, SEED) == [folds[-1]]


def test_too_many_folds_name_the_option():
    rolling_folds(115, SEED.replace(folds=7))  # earliest fold: 115 - 90 = 25 >= 24 points
    with pytest.raises(RelulabError, match="--folds"):
        rolling_folds(115, SEED.replace(folds=8))  # 10 points


def test_prepare_folds_fits_each_scaler_on_its_own_train_region():
    y = np.arange(40.0) ** 2
    first, last = prepare_folds(y, SEED.replace(folds=2, test_size=5))
    # Fold 1: 35 points, train [0, 24): max 23^2; fold 2: 40 points, train [0, 28): max 27^2.
    assert (first.scaler.hi, last.scaler.hi) == (529.0, 729.0)
    np.testing.assert_array_equal(first.test.target_index, np.arange(30, 35))
    np.testing.assert_array_equal(last.test.target_index, np.arange(35, 40))


def _assert_same_windows(a, b):
    assert (a.split, a.scaler) == (b.split, b.scaler)
    for part in ("fit", "val_loss", "validation", "test", "train_targets"):
        for name in ("X", "y", "target_index", "y_prev"):
            x, y = getattr(getattr(a, part), name), getattr(getattr(b, part), name)
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("folds", [1, 3])
def test_prepare_folds_is_prepare_on_each_folds_own_points(folds):
    y = 50 + 10 * np.sin(np.arange(90) / 4) + np.random.default_rng(5).normal(0, 2, 90)
    config = SEED.replace(folds=folds, test_size=8)
    got = prepare_folds(y, config)
    splits = rolling_folds(90, config)
    assert len(got) == folds and [p.split for p in got] == splits
    for p, s in zip(got, splits, strict=True):
        _assert_same_windows(p, prepare(y[: s.n], config))
    assert not got[-1].values.flags.writeable  # nobody can change what a study scores on


def test_prepare_folds_checks_every_fold_first_and_names_the_series():
    config = StudyConfig(lookback=3, test_size=5, folds=3)
    for n, why in ((11, "at least 12"), (20, "too few for 3 rolling folds")):
        with pytest.raises(RelulabError, match=rf"^series 'x' has {n} points.*{why}"):
            prepare_folds(np.arange(float(n)), config, what="series 'x'")
    # Only the earliest fold's train region is nearly constant around a large level: the
    # last fold alone (prepare) would pass, every fold is refused, naming the series.
    y = np.r_[1e8 + np.arange(40.0) % 3, 1e8 + 1e4 * np.sin(np.arange(20.0))]
    prepare(y, config)
    with pytest.raises(RelulabError, match=r"^series 'x' varies by 2 .*subtract a constant"):
        prepare_folds(y, config, what="series 'x'")


# --------------------------------------------------------------------- float32 scale


def _walk(n=60, seed=0):
    return 100 + 10 * np.random.default_rng(seed).normal(size=n).cumsum()


def test_float32_overflows_where_the_scale_check_draws_its_line():
    # The reason for the check, from NumPy alone: a float32 forecast z mapped back with a
    # float64 scaler stays float32 (NEP 50) and overflows once the result passes 3.4e38.
    z = np.float32(1.5)
    with np.errstate(over="ignore"):
        assert np.isinf(MinMaxScaler(0.0, 1e39).inverse(z))
    assert np.isfinite(MinMaxScaler(0.0, 1e30).inverse(np.float32(3e8)))  # the headroom
    # and it resolves only float32 steps: 2**-23 * 2**26 = 8 near 1e8
    assert MinMaxScaler(1e8, 1e8 + 120).inverse(np.float32(0.5)) in (1e8 + 56, 1e8 + 64)


@pytest.mark.parametrize("values, problem, fix", [
    (_walk() * 1e300, "values as large as 1.68e+302", "divide it by 1e299"),
    (_walk() * 1e29, "values as large as 1.68e+31", "divide it by 1e28"),
    (_walk() * 1e-300, "varies by only", "multiply it by 1e"),
    (_walk() * 1e-34, "varies by only", "multiply it by 1e"),
    (_walk() + 1e8, "resolves only steps of 8", "subtract a constant from the series first"),
])
def test_a_scale_float32_cannot_carry_is_refused_in_one_line(values, problem, fix):
    config = StudyConfig(lookback=3, test_size=5)
    for call in (lambda: check_scale(values, 40, what="series 'x'"),
                 lambda: check_series(values, config, what="series 'x'"),
                 lambda: prepare(values, config)):
        with pytest.raises(RelulabError) as err:
            call()
        message = str(err.value)
        assert problem in message and fix in message and "\n" not in message


def test_scales_float32_carries_are_accepted():
    config = StudyConfig(lookback=3, test_size=5, folds=3)
    for values in (_walk() * 1e27, _walk() * 1e-30, _walk() + 1e6, -_walk() * 1e20):
        check_series(values, config)
        prepare(values, config)
    # A constant train region is the scaler's to explain.
    check_scale(np.r_[np.ones(10), 2.0], 10)
    with pytest.raises(RelulabError, match="train region is constant"):
        prepare(np.r_[np.ones(50), np.arange(10.0)], config)


# ------------------------------------------------------------------------ scalers


def _trend(n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(n, dtype=float)
    return 100.0 + 2.0 * t + 5.0 * np.sin(t / 3.0) + rng.normal(0.0, 1.0, n)


def _by_hand(window: list[float], scaler: str) -> tuple[float, float]:
    """NeuralForecast's TemporalNorm statistics of one window, written from its
    definitions with the statistics module (not relulab's vectorised code)."""
    import statistics

    std = statistics.pstdev(window)
    if scaler == "window-minmax":
        loc, scale = min(window), max(window) - min(window)
    elif scaler == "window-standard":
        loc, scale = statistics.fmean(window), std
    else:
        loc = statistics.median(window)
        scale = statistics.median([abs(x - loc) for x in window]) or std * 0.6744897501960817
    return loc, (scale or 1.0) + 1e-6


@pytest.mark.parametrize("scaler", ["window-minmax", "window-standard", "robust"])
def test_window_scalers_follow_temporal_normalisation(scaler):
    v = _trend()
    v[20:26] = v[20]  # a constant window: its scale falls back to 1 (+ eps)
    prep = prepare(v, StudyConfig(scaler=scaler))
    for w in (prep.fit, prep.validation, prep.test):
        for i, t in enumerate(w.target_index):
            loc, scale = _by_hand(list(v[t - 5:t]), scaler)
            assert w.loc[i] == pytest.approx(loc, rel=1e-12, abs=1e-12)
            assert w.scale[i] == pytest.approx(scale, rel=1e-12)
            np.testing.assert_allclose(w.X[i], (v[t - 5:t] - loc) / scale, rtol=1e-6,
                                       atol=1e-6)
            assert w.y[i] == pytest.approx((v[t] - loc) / scale, rel=1e-6, abs=1e-6)
    assert any(s == pytest.approx(1.0 + 1e-6) for s in prep.fit.scale)  # the constant one


@pytest.mark.parametrize("scaler", ["global", "window-minmax", "window-standard", "robust",
                                    "diff"])
def test_every_scaler_returns_its_targets_to_the_series_units(scaler):
    """The inverse of each window's scaling, applied to its own scaled target, is the
    actual value: forecasts come back in the series' units."""
    v = _trend()
    prep = prepare(v, StudyConfig(scaler=scaler))
    for w in (prep.fit, prep.val_loss, prep.validation, prep.test):
        back = prep.forecasts(w.y[None, :], w)[0]  # a leading axis, as the seeds'
        np.testing.assert_allclose(back, v[w.target_index], rtol=1e-5)


def test_diff_windows_are_scaled_differences_one_point_further_back():
    v = _trend()
    config = StudyConfig(scaler="diff")
    prep = prepare(v, config)
    d = np.diff(v[:prep.split.train_end])
    lo, hi = d.min(), d.max()
    assert prep.train_targets.target_index[0] == 6  # lookback 5 differences need 6 points
    for w in (prep.fit, prep.test):
        for i, t in enumerate(w.target_index):
            np.testing.assert_allclose(w.X[i], (np.diff(v[t - 6:t]) - lo) / (hi - lo),
                                       rtol=1e-6, atol=1e-7)
            assert w.y[i] == pytest.approx((v[t] - v[t - 1] - lo) / (hi - lo), abs=1e-6)
    assert min_length(config) == min_length(StudyConfig()) + 1
    with pytest.raises(RelulabError, match="differences are constant"):
        prepare(np.arange(40.0), config)


def test_the_default_scaler_is_the_protocols_and_leaves_keys_alone():
    assert StudyConfig().scaler == "global"
    assert "scaler" not in StudyConfig()._hashed()  # a stored study's key is unchanged
    assert StudyConfig(scaler="robust").key() != StudyConfig().key()
    prep, same = prepare(_trend(), StudyConfig()), prepare(_trend(), StudyConfig())
    assert prep.test.loc is None and np.array_equal(prep.test.X, same.test.X)
    with pytest.raises(RelulabError, match="unknown scaler 'zscore'; choose one of: global"):
        StudyConfig(scaler="zscore")
