"""The field's baselines (statsforecast's AutoETS and seasonal AutoARIMA, seasonal naive)
and every baseline's H-step paths, against independent computations: statsforecast's own
``cross_validation``, statsmodels' ``append``/``forecast`` loop, and hand-written rules.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest

from relulab import baselines
from relulab.config import StudyConfig, preset
from relulab.data.dates import frequency
from relulab.data.series import Series
from relulab.errors import RelulabError
from relulab.pooled import baselines as pooled_baselines
from relulab.study.jax_trainer import field_season
from relulab.study.pipeline import baseline_warnings, panel_warnings
from relulab.verdicts import baseline_words, panel_baseline_words

# AutoARIMA's candidates that stop early warn; statsforecast's own cross_validation (the
# reference here) does not silence them as relulab does.
pytestmark = pytest.mark.filterwarnings("ignore:possible convergence problem")


def _seasonal(n: int, m: int = 12, seed: int = 0) -> np.ndarray:
    """A trending seasonal series with AR(1) noise: something ETS and ARIMA can fit."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.5 * noise[i - 1] + rng.normal()
    return 200 + 0.3 * t + 12 * np.sin(2 * np.pi * t / m) + 3 * noise


def _cross_validation(y: np.ndarray, models: list, h: int, windows: int) -> pd.DataFrame:
    from statsforecast import StatsForecast

    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(y.size), "y": y})
    return StatsForecast(models=models, freq=1).cross_validation(
        df=frame, h=h, step_size=h, n_windows=windows, refit=False)


# --------------------------------------------------------------------- the H-step paths


def test_at_horizon_one_every_protocol_baseline_is_the_one_step_forecast():
    y = _seasonal(80, m=4)
    np.testing.assert_array_equal(baselines.naive(y, 70, horizon=1), y[69:79])
    np.testing.assert_array_equal(baselines.seasonal_naive(y, 70, 4, horizon=1), y[66:76])
    fit = baselines.arima(y, 70, order=(1, 1, 0), horizon=1)
    # statsmodels' own one-step predictions of the fitted model, parameters held fixed
    res = baselines._fit(y[:70], (1, 1, 0))
    want = res.append(y[70:], refit=False).predict(start=70, end=79)
    np.testing.assert_array_equal(fit.forecast, want)
    assert np.array_equal(baselines.arima(y, 70, order=(1, 1, 0)).forecast, fit.forecast)


def test_three_step_paths_tile_the_test_window_as_a_hand_rolled_loop_does():
    y = np.array([3.0, 5, 4, 8, 6, 9, 7, 12, 10, 13, 11, 15, 14, 17, 15, 20, 18])
    test_start, h, m = 9, 3, 4  # 8 test points: paths from 9, 12 and 15 (cut to 2)
    naive, seasonal = [], []
    for o in range(test_start, y.size, h):
        for t in range(o, min(o + h, y.size)):
            naive.append(y[o - 1])
            source = t - m
            while source >= o:  # the last actual of t's season before the origin
                source -= m
            seasonal.append(y[source])
    np.testing.assert_array_equal(baselines.naive(y, test_start, horizon=h), naive)
    np.testing.assert_array_equal(baselines.seasonal_naive(y, test_start, m, horizon=h),
                                  seasonal)
    # by hand: origin 9 forecasts y_9, y_10, y_11 all from y_8 = 10
    assert naive[:3] == [10.0, 10.0, 10.0] and len(naive) == 8
    # t = 10, origin 9: one season back is y_6 = 7
    assert seasonal[1] == 7.0


def test_arima_paths_are_statsmodels_forecasts_from_each_origin():
    y = _seasonal(90, m=4, seed=1)
    test_start, h, order = 76, 3, (1, 1, 1)  # 14 test points: the last path cut to 2
    got = baselines.arima(y, test_start, order=order, horizon=h).forecast
    res = baselines._fit(y[:test_start], order)
    want = []
    for o in range(test_start, y.size, h):
        # append the actuals up to the origin, parameters fixed, then forecast H steps
        at = res.append(y[test_start:o], refit=False) if o > test_start else res
        want.extend(np.asarray(at.forecast(steps=h))[: y.size - o])
    assert got.shape == (14,)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)


def test_run_baselines_keeps_one_forecast_per_test_point_at_any_horizon():
    y = _seasonal(60, m=4, seed=2)
    out = baselines.run_baselines(y, train_end=40, test_start=50, season=4, horizon=4)
    assert list(out) == ["naive", "seasonal_naive", "arima"]
    for entry in out.values():
        assert entry["forecast"].shape == (10,) and math.isfinite(entry["metrics"]["rmse"])
    assert "4-step paths" in out["arima"]["description"]
    with pytest.raises(RelulabError, match="horizon"):
        baselines.naive(y, 50, horizon=0)


# --------------------------------------------------------------- statsforecast's models


@pytest.mark.parametrize("h", [1, 3])
def test_autoets_autoarima_and_seasonal_naive_equal_statsforecasts_cross_validation(h):
    sf = pytest.importorskip("statsforecast.models")
    y = _seasonal(120)
    test_start = 105
    ets = baselines.auto_ets(y, test_start, 12, horizon=h)
    arima = baselines.auto_arima(y, test_start, 12, horizon=h)
    cv = _cross_validation(y, [sf.AutoETS(season_length=12),
                               sf.AutoARIMA(season_length=12, approximation=True),
                               sf.SeasonalNaive(season_length=12)], h, 15 // h)
    np.testing.assert_array_equal(ets.forecast, cv["AutoETS"].to_numpy())
    np.testing.assert_array_equal(arima.forecast, cv["AutoARIMA"].to_numpy())
    np.testing.assert_array_equal(baselines.seasonal_naive(y, test_start, 12, horizon=h),
                                  cv["SeasonalNaive"].to_numpy())
    assert ets.model.startswith("ETS(") and arima.model.startswith("ARIMA(")
    assert ets.season == arima.season == 12 and ets.note == ""


def test_at_horizon_one_autoets_is_its_own_forward_from_every_origin():
    sf = pytest.importorskip("statsforecast.models")
    y = _seasonal(100, seed=3)
    model = sf.AutoETS(season_length=12).fit(y[:85])
    want = [model.forward(y=y[:t], h=1)["mean"][0] for t in range(85, 100)]
    np.testing.assert_array_equal(baselines.auto_ets(y, 85, 12).forecast, want)
    # the first forecast is the fitted model's own forecast from the end of its data
    assert baselines.auto_ets(y, 85, 12).forecast[0] == model.predict(h=1)["mean"][0]


def test_a_cut_last_path_is_the_start_of_the_full_one():
    sf = pytest.importorskip("statsforecast.models")
    z = _seasonal(121, seed=4)
    y = z[:-1]  # 14 test points: the last 3-step path (origin 117) is cut to 2
    got = baselines.auto_arima(y, 106, 12, horizon=3).forecast
    cv = _cross_validation(z, [sf.AutoARIMA(season_length=12, approximation=True)], 3, 5)
    assert got.shape == (14,)
    # the paths use only the actuals before their origins, so the longer series gives the
    # same paths, its last one whole
    np.testing.assert_array_equal(got, cv["AutoARIMA"].to_numpy()[:14])


def test_run_baselines_with_the_field_describes_each_model_and_its_season():
    pytest.importorskip("statsforecast")
    y = _seasonal(120, seed=5)
    out = baselines.run_baselines(y, train_end=84, test_start=105,
                                  field=baselines.Season(12, "monthly dates"))
    assert list(out) == ["naive", "seasonal_naive", "arima", "auto_ets", "auto_arima"]
    assert all(out[k].get("unavailable") is None for k in out)
    np.testing.assert_array_equal(out["seasonal_naive"]["forecast"], y[93:108])
    for name, label in (("auto_ets", "AutoETS (statsforecast): ETS("),
                        ("auto_arima", "AutoARIMA (statsforecast): ARIMA(")):
        assert out[name]["description"].startswith(label)
        assert "season 12 from the monthly dates" in out[name]["description"]
        assert "\n" not in out[name]["description"]
    # the protocol's entries are those of a study without the field's
    plain = baselines.run_baselines(y, train_end=84, test_start=105)
    for k in plain:
        np.testing.assert_array_equal(plain[k]["forecast"], out[k]["forecast"])


def test_fewer_than_two_seasons_before_the_test_window_fits_without_a_season():
    pytest.importorskip("statsforecast")
    y = _seasonal(115, m=52, seed=6)  # 100 points before the test window: under 2 x 52
    out = baselines.run_baselines(y, train_end=80, test_start=100,
                                  field=baselines.Season(52, "weekly dates"))
    for name in ("auto_ets", "auto_arima"):
        words = out[name]["description"]
        assert "fewer than two seasons of 52 (100 points)" in words and "without a season" in words
    # seasonal naive needs one season only: it stays, with the weekly season
    np.testing.assert_array_equal(out["seasonal_naive"]["forecast"], y[48:63])
    assert baselines.auto_ets(y, 100, 52).season == 1


def test_the_hotel_weeks_are_too_short_for_two_seasons_of_52(shared_data):
    pytest.importorskip("statsforecast")
    frame = pd.read_csv(shared_data / "hotel_h1_weekly.csv")
    y = frame["cancellations"].to_numpy(float)
    season = baselines.season_of(None, frequency(frame["week_start"].tolist()))
    assert season == baselines.Season(52, "weekly dates")
    fit = baselines.auto_arima(y, 100, season.m)
    assert fit.season == 1 and "fewer than two seasons" in fit.note
    assert np.all(np.isfinite(fit.forecast))


def test_without_statsforecast_the_study_says_so_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import fails: not installed
    monkeypatch.setitem(sys.modules, "statsforecast.models", None)
    y = _seasonal(60, m=4, seed=7)
    out = baselines.run_baselines(y, train_end=40, test_start=50,
                                  field=baselines.Season(4, "quarterly dates"))
    for name in ("auto_ets", "auto_arima"):
        assert baselines.FIELD_EXTRA in out[name]["unavailable"]
        assert np.all(np.isnan(out[name]["forecast"]))
    assert math.isfinite(out["seasonal_naive"]["metrics"]["rmse"])
    (line,) = baseline_warnings(out)
    assert line == ("auto_ets and auto_arima baselines unavailable: AutoETS and AutoARIMA "
                    "need statsforecast: pip install 'relulab[forecast]'")


# ---------------------------------------------------------------------------- the season


@pytest.mark.parametrize(("spacing", "m"), [("monthly", 12), ("quarterly", 4), ("weekly", 52),
                                            ("daily", 7), ("yearly", 1)])
def test_the_season_comes_from_the_dates_spacing(spacing, m):
    assert baselines.season_of(None, spacing) == baselines.Season(m, f"{spacing} dates")


def test_the_configs_season_wins_and_no_dates_means_no_season():
    assert baselines.season_of(7, "monthly") == baselines.Season(7, "--season")
    assert baselines.season_of(None, None).m == 1
    assert baselines.season_of(None, "every 3 days").m == 1


def test_the_shared_data_seasons(shared_data):
    from relulab.data import load_panel

    for name, kw, m in (("us_employment_long.csv", {"series": 2}, 12),
                        ("visnights_wide.csv", {"columns": ["NSWMetro"]}, 4)):
        panel = load_panel(shared_data / name, **kw)
        for sid in panel:
            assert baselines.season_of(None, frequency(panel[sid].dates)).m == m


def test_the_trainer_asks_for_the_field_only_where_the_config_does():
    monthly = Series(np.arange(30.0), "s",
                     tuple(str(d.date()) for d in pd.date_range("2000-01-01", periods=30,
                                                                freq="MS")))
    assert field_season(preset("seed"), monthly) is None
    assert field_season(preset("seed", baselines="field"), monthly) == baselines.Season(
        12, "monthly dates")
    assert field_season(preset("seed", baselines="field", season=6), monthly).m == 6


def test_the_baselines_field_keeps_old_configs_and_their_keys():
    old = preset("seed").to_dict()
    del old["baselines"]  # a config stored before the field existed
    assert StudyConfig.from_dict(old) == preset("seed")
    assert StudyConfig.from_dict(old).key() == preset("seed").key()
    assert preset("seed", baselines="field").key() != preset("seed").key()
    with pytest.raises(RelulabError, match="--baselines"):
        preset("seed", baselines="strong")


# --------------------------------------------------------------- the verdict's words


def test_the_strongest_baseline_is_named_and_beaten_or_not():
    base = {"naive": 5.0, "arima": 4.5, "auto_arima": 3.92, "auto_ets": math.nan}
    assert baseline_words({"tanh": 4.1, "relu": 3.5}, base) == (
        "relu (median RMSE 3.50) beats the strongest baseline, auto_arima (3.92); tanh (4.10) "
        "does not.")
    assert baseline_words({"tanh": 4.1, "relu": 4.5}, base) == (
        "The strongest baseline, auto_arima (RMSE 3.92), beats every activation (the best "
        "median: tanh, 4.10).")
    assert baseline_words({"tanh": 3.1}, base).startswith("Every activation's median beats")
    assert baseline_words({"tanh": 3.1}, {"naive": math.nan}) == ""


def test_across_series_each_baseline_is_counted_against_each_activation():
    scores = pd.DataFrame({"tanh": [1.0, 2.0, 30.0, 4.0], "relu": [0.5, 3.0, 10.0, 5.0]},
                          index=list("abcd"))
    base = pd.DataFrame({"naive": [2.0, 2.0, 20.0, 8.0], "arima": [1.0, 1.0, 40.0, 4.0],
                         "auto_ets": [math.nan] * 4}, index=list("abcd"))
    rows = {b.baseline: b for b in pooled_baselines(scores, base)}
    # geometric means: naive (2*2*20*8)^(1/4) = 5.03, arima (1*1*40*4)^(1/4) = 3.56
    assert next(b.baseline for b in pooled_baselines(scores, base)) == "arima"
    assert rows["arima"].strongest and not rows["naive"].strongest
    assert rows["arima"].wins == {"tanh": (1, 4), "relu": (2, 4)}  # strictly below
    assert rows["naive"].wins == {"tanh": (2, 4), "relu": (3, 4)}
    assert rows["arima"].ratio_to_naive == pytest.approx((0.5 * 0.5 * 2 * 0.5) ** 0.25)
    assert rows["arima"].median == 2.5 and rows["auto_ets"].series == 0
    words = panel_baseline_words("arima", rows["arima"].ratio_to_naive, 4, 2.5,
                                 rows["arima"].wins)
    assert words == ("strongest baseline: arima (median RMSE 2.50 over 4 series, 0.71 of the "
                     "naive forecast's, geometric mean); tanh beats it on 1 of 4 series, relu "
                     "on 2 of 4: no activation beats it on most series")


def test_a_warning_every_series_gives_is_said_once():
    from relulab.study.pipeline import SeriesSummary

    def summary(sid, warnings):
        return SeriesSummary(sid, "", 10, {}, 0, [], warnings, {})

    missing = "auto_ets and auto_arima baselines unavailable: ..."
    done = {"a": summary("a", [missing, "x"]), "b": summary("b", [missing])}
    assert panel_warnings(done) == [f"every series: {missing}", "a: x"]
    assert panel_warnings({"a": summary("a", [missing])}) == [f"a: {missing}"]
