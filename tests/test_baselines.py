"""Baselines against hand-built series and the AR(1) one-step formula."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from relulab import baselines
from relulab.errors import RelulabError
from relulab.result import METRIC_COLUMNS


def _ar1(n, phi, mu, seed):
    rng = np.random.default_rng(seed)
    y = np.empty(n)
    y[0] = mu + rng.normal() / math.sqrt(1 - phi**2)
    for t in range(1, n):
        y[t] = mu + phi * (y[t - 1] - mu) + rng.normal()
    return y


def test_naive_by_hand():
    values = np.array([5.0, 7, 6, 9, 8])
    # test window = indices 3, 4 -> forecasts y_2, y_3 = 6, 9
    np.testing.assert_array_equal(baselines.naive(values, 3), [6.0, 9.0])


def test_seasonal_naive_by_hand():
    values = np.array([1.0, 2, 3, 4, 11, 12, 13, 14])
    # m = 4, test window = indices 6, 7 -> forecasts y_2, y_3 = 3, 4
    np.testing.assert_array_equal(baselines.seasonal_naive(values, 6, 4), [3.0, 4.0])
    np.testing.assert_array_equal(baselines.seasonal_naive(values, 6, 1), [12.0, 13.0])
    with pytest.raises(RelulabError, match="season"):
        baselines.seasonal_naive(values, 3, 4)
    with pytest.raises(RelulabError, match="test_start"):
        baselines.naive(values, 8)


def test_arima_ar1_recovers_phi_and_uses_the_one_step_formula():
    phi, mu = 0.7, 50.0
    y = _ar1(200, phi, mu, seed=0)
    test_start = 170
    fit = baselines.arima(y, test_start, order=(1, 0, 0))
    c, ar = fit.params["const"], fit.params["ar.L1"]  # statsmodels: const is the mean
    # independent estimate: least squares of y_t on (1, y_{t-1}) over the fitting points
    X = np.column_stack([np.ones(test_start - 1), y[: test_start - 1]])
    (a, b), *_ = np.linalg.lstsq(X, y[1:test_start], rcond=None)
    assert ar == pytest.approx(phi, abs=0.15)
    assert ar == pytest.approx(b, abs=0.05)
    assert c == pytest.approx(a / (1 - b), abs=0.5)
    # for a stationary AR(1) the one-step prediction from y_0..y_{t-1} is exactly
    # mean + phi (y_{t-1} - mean), with the parameters fixed at their fitted values
    expected = c + ar * (y[test_start - 1 : -1] - c)
    np.testing.assert_allclose(fit.forecast, expected, rtol=0, atol=1e-8)
    assert fit.order == (1, 0, 0) and fit.fit_end == test_start


def test_arima_fit_on_train_part_only():
    y = _ar1(150, 0.5, 10.0, seed=1)
    fit = baselines.arima(y, 130, train_end=100, order=(1, 0, 0))
    assert fit.fit_end == 100
    c, ar = fit.params["const"], fit.params["ar.L1"]
    # parameters from points 0..99, yet each forecast still uses every actual value before it
    np.testing.assert_allclose(fit.forecast, c + ar * (y[129:-1] - c), atol=1e-8)
    with pytest.raises(RelulabError, match="train_end"):
        baselines.arima(y, 130, train_end=140)


def test_arima_has_no_look_ahead():
    y = _ar1(115, 0.6, 80.0, seed=2)
    test_start = 100
    base = baselines.arima(y, test_start)
    # t = 100 changes the whole test window, and the order search must not notice;
    # later t (with the chosen order, to keep the test fast) check the filter itself.
    for t, order in ((100, None), (106, base.order), (113, base.order)):
        k = t - test_start
        changed = y.copy()
        changed[t:] += 1000.0 * np.arange(1, y.size - t + 1)  # y_t and everything after
        forecast = baselines.arima(changed, test_start, order=order).forecast
        # forecasts up to and including t use only y_0..y_{t-1}: unchanged
        np.testing.assert_allclose(forecast[: k + 1], base.forecast[: k + 1], rtol=0, atol=1e-9)
        assert not np.allclose(forecast[k + 1 :], base.forecast[k + 1 :])


def test_order_selection():
    order, _ = baselines.select_order(_ar1(115, 0.8, 20.0, seed=3)[:100])
    assert order[1] == 0 and order[0] >= 1  # stationary with AR structure
    walk = 100 + np.random.default_rng(4).normal(size=115).cumsum()
    order, _ = baselines.select_order(walk[:100])
    assert order[1] == 1  # KPSS rejects level stationarity of a random walk
    with pytest.raises(RelulabError, match="non-constant"):
        baselines.select_order(np.ones(50))


def test_arima_order_search_is_fast():
    y = 90 + 40 * _ar1(115, 0.6, 0.0, seed=5)
    baselines.arima(y, 100, order=(1, 0, 0))  # imports and first-call setup
    start = time.process_time()  # CPU time: robust to other processes on a shared machine
    baselines.arima(y, 100)
    assert time.process_time() - start < 2.0


def test_run_baselines():
    y = _ar1(115, 0.6, 100.0, seed=6)
    out = baselines.run_baselines(y, train_end=80, test_start=100, season=52)
    assert list(out) == ["naive", "seasonal_naive", "arima"]
    for entry in out.values():
        assert tuple(entry["metrics"]) == METRIC_COLUMNS
        assert entry["forecast"].shape == (15,)
        assert entry["description"]
    # naive RMSE over the window, written out: sqrt(mean((y_t - y_{t-1})²)), t = 100..114
    assert out["naive"]["metrics"]["rmse"] == pytest.approx(
        math.sqrt(np.mean(np.diff(y)[99:] ** 2))
    )
    # naive-anchored MDA of the naive forecast: ŷ_t - y_{t-1} = 0 never matches a move
    assert out["naive"]["metrics"]["mda_naive"] == 0.0
    np.testing.assert_array_equal(out["seasonal_naive"]["forecast"], y[48:63])
    assert out["arima"]["description"].startswith("ARIMA(")
    assert "seasonal_naive" not in baselines.run_baselines(y, train_end=80, test_start=100)


def test_run_baselines_survives_a_failed_arima():
    y = np.concatenate([np.full(30, 5.0), [6.0, 4.0, 7.0]])
    out = baselines.run_baselines(y, train_end=24, test_start=30)
    assert out["arima"]["description"].startswith("ARIMA: not fitted")
    assert np.all(np.isnan(out["arima"]["forecast"]))
    np.testing.assert_array_equal(out["naive"]["forecast"], [5.0, 6.0, 4.0])


def test_hotel_series_baselines(shared_data):
    y = pd.read_csv(shared_data / "hotel_h1_weekly.csv")["cancellations"].to_numpy(float)
    out = baselines.run_baselines(y, train_end=80, test_start=100)
    assert all(np.isfinite(out[k]["metrics"]["rmse"]) for k in out)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_a_series_statsmodels_cannot_fit_makes_arima_unavailable_not_an_error(scale):
    # KPSS's automatic lag count is int(NaN) on these scales: a ValueError inside statsmodels
    y = scale * _ar1(60, 0.5, 100.0, seed=7)
    with np.errstate(over="ignore"):  # the naive RMSE of 1e300-sized errors is inf, honestly
        out = baselines.run_baselines(y, train_end=40, test_start=50)
    assert list(out) == ["naive", "arima"]
    why = out["arima"]["unavailable"]
    assert "KPSS" in why and "\n" not in why
    assert out["arima"]["description"] == f"ARIMA: not fitted ({why})"
    assert np.all(np.isnan(out["arima"]["forecast"])) and out["arima"]["forecast"].shape == (10,)
    assert all(math.isnan(v) for v in out["arima"]["metrics"].values())
    np.testing.assert_array_equal(out["naive"]["forecast"], y[49:59])
    assert out["naive"].get("unavailable") is None


def test_an_unfittable_arima_says_why():
    y = np.concatenate([np.full(30, 5.0), [6.0, 4.0, 7.0]])
    out = baselines.run_baselines(y, train_end=24, test_start=30)
    assert "non-constant" in out["arima"]["unavailable"]
