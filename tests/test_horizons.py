"""Forecasts of several steps (--horizon, --strategy): windows, paths, metrics and the
Diebold-Mariano test at h = H, each against a hand computation or a hand-rolled loop."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relulab import metrics, models, stats, windows
from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.study.jax_trainer import forecasts_of, train_spec

SCALERS = ("global", "window-standard", "window-minmax", "robust", "diff")


def _series(n: int = 70, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.3 * t + 8 * np.sin(t / 3) + rng.normal(0, 2, n)


def _config(**kw) -> StudyConfig:
    base = dict(model="mlp", units=3, lookback=4, test_size=10, seeds=3, epochs=3,
                activations=("tanh", "relu"), horizon=3)
    return StudyConfig(**{**base, **kw})


def _scale(values: np.ndarray, prep: windows.Prepared, kind: str, raw: np.ndarray):
    """A window's model inputs and the inverse of its output, written out by hand."""
    if kind == "global":
        lo, hi = values[: prep.split.train_end].min(), values[: prep.split.train_end].max()
        return ((raw - lo) / (hi - lo)).astype(np.float32), lambda z: z * (hi - lo) + lo
    if kind == "diff":
        d = np.diff(values[: prep.split.train_end])
        lo, hi = d.min(), d.max()
        x = ((np.diff(raw) - lo) / (hi - lo)).astype(np.float32)
        return x, lambda z: raw[-1] + float(z) * (hi - lo) + lo
    if kind == "window-standard":
        loc, scale = raw.mean(), raw.std()
    elif kind == "window-minmax":
        loc, scale = raw.min(), raw.max() - raw.min()
    else:
        loc = np.median(raw)
        scale = np.median(np.abs(raw - loc)) or raw.std() * 0.6744897501960817
    scale = (scale or 1.0) + 1e-6
    return ((raw - loc) / scale).astype(np.float32), lambda z: float(z) * scale + loc


# -------------------------------------------------------------------------- windows


@pytest.mark.parametrize("kind", ["global", "window-standard", "diff"])
def test_direct_training_windows_hold_the_next_h_values_as_targets(kind):
    v = _series()
    config = _config(scaler=kind)
    prep = windows.prepare(v, config)
    H, R = 3, prep.reach
    w = prep.train_targets
    assert w.y.shape == (len(w), H)
    # Every target of every window lies in the train region, the last window's last one
    # on its last point.
    assert w.target_index[-1] + H - 1 == prep.split.train_end - 1
    for i, t in enumerate(w.target_index):
        x, _ = _scale(v, prep, kind, v[t - R:t])
        np.testing.assert_allclose(w.X[i], x, rtol=1e-6, atol=1e-6)
        if kind == "diff":
            d = np.diff(v[: prep.split.train_end])
            expect = (v[t:t + H] - v[t - 1:t + H - 1] - d.min()) / (d.max() - d.min())
        else:
            raw = v[t - R:t]
            loc, scale = ((v[: prep.split.train_end].min(),
                           np.ptp(v[: prep.split.train_end])) if kind == "global"
                          else (raw.mean(), raw.std() + 1e-6))
            expect = (v[t:t + H] - loc) / scale
        np.testing.assert_allclose(w.y[i], expect, rtol=1e-5, atol=1e-6)


def test_the_test_region_is_tiled_by_paths_cut_at_the_end():
    prep = windows.prepare(_series(), _config(horizon=4))
    test = prep.test
    start, n = prep.split.test_start, prep.split.n
    np.testing.assert_array_equal(test.target_index, [start, start + 4, start + 8])
    assert test.points == n - start == 10
    # Three paths of 4 steps cover 12 points: the last one is cut to 2.
    np.testing.assert_array_equal(test.paths(np.arange(12).reshape(3, 4)), np.arange(10))
    np.testing.assert_array_equal(metrics.path_steps(10, 4), [0, 1, 2, 3] * 2 + [0, 1])
    # Two folds of 10 points: each fold's region tiled from its own start.
    np.testing.assert_array_equal(metrics.path_steps(20, 4, 10)[10:], [0, 1, 2, 3] * 2 + [0, 1])


def test_a_direct_horizon_needs_h_minus_1_more_training_points():
    one = windows.min_length(_config(horizon=1))
    assert windows.min_length(_config(horizon=4)) > one
    # The recursive model trains on one-step windows: it needs no more.
    assert windows.min_length(_config(horizon=4, strategy="recursive")) == one
    need = windows.min_length(_config(horizon=4))
    windows.prepare(_series(need), _config(horizon=4))
    with pytest.raises(RelulabError, match="steps ahead"):
        windows.prepare(_series(need - 1), _config(horizon=4))


def test_the_config_refuses_a_horizon_it_cannot_forecast():
    with pytest.raises(RelulabError, match="raise --test-size to at least 16"):
        _config(horizon=16, test_size=15)
    with pytest.raises(RelulabError, match="horizon must be at least 1"):
        _config(horizon=0)
    with pytest.raises(RelulabError, match="unknown strategy"):
        _config(strategy="multi")
    with pytest.raises(RelulabError, match="applies to forecasts"):
        StudyConfig(task="regression", model="mlp", horizon=2)


def test_one_step_keeps_the_key_of_studies_stored_before_horizons():
    plain = StudyConfig()
    assert StudyConfig(horizon=1, strategy="recursive").key() == plain.key()
    assert StudyConfig(horizon=2, test_size=15).key() != plain.key()
    assert (StudyConfig(horizon=2, strategy="recursive").key()
            != StudyConfig(horizon=2).key())


# -------------------------------------------------------------------------- paths


def _params(config: StudyConfig, n_seeds: int = 2):
    spec = train_spec(config).model
    keys = jax.random.split(jax.random.key(7), n_seeds)
    return jax.vmap(lambda k: models.get(spec, "tanh").init(k, config.lookback))(keys)


def _one(params, s: int):
    return jax.tree.map(lambda a: a[s], params)


@pytest.mark.parametrize("kind", SCALERS)
def test_direct_paths_equal_a_hand_rolled_loop(kind):
    v = _series()
    config = _config(scaler=kind, horizon=4)
    prep = windows.prepare(v, config)
    params = _params(config)
    got = forecasts_of(config, "tanh", params, prep, prep.test)
    model = models.get(train_spec(config).model, "tanh")
    start, n = prep.split.test_start, prep.split.n
    for s in range(2):
        expect = []
        for o in range(start, n, 4):
            x, invert = _scale(v, prep, kind, v[o - prep.reach:o])
            z = np.asarray(model.apply(_one(params, s), jnp.asarray(x[None])))[0]
            assert z.shape == (4,)
            if kind == "diff":  # the last actual value plus the cumulated differences
                d = np.diff(v[: prep.split.train_end])
                path = v[o - 1] + np.cumsum(z * (d.max() - d.min()) + d.min())
            else:
                path = [invert(zj) for zj in z]
            expect.extend(path)
        np.testing.assert_allclose(got[s], np.array(expect)[: n - start], rtol=2e-6)


@pytest.mark.parametrize("kind", SCALERS)
def test_recursive_paths_feed_each_seed_its_own_forecasts(kind):
    v = _series()
    config = _config(scaler=kind, horizon=4, strategy="recursive")
    prep = windows.prepare(v, config)
    params = _params(config)
    got = forecasts_of(config, "tanh", params, prep, prep.test)
    model = models.get(train_spec(config).model, "tanh")
    start, n = prep.split.test_start, prep.split.n
    for s in range(2):
        expect = []
        for o in range(start, n, 4):
            history = list(v[:o])
            for _ in range(4):
                raw = np.array(history[-prep.reach:])
                x, invert = _scale(v, prep, kind, raw)
                z = float(np.asarray(model.apply(_one(params, s), jnp.asarray(x[None])))[0])
                history.append(float(invert(z)))
            expect.extend(history[o:])
        np.testing.assert_allclose(got[s], np.array(expect)[: n - start], rtol=2e-6)
    # The first step of every path is the one-step forecast, bit for bit.
    one = windows.prepare(v, config.replace(horizon=1))
    first = forecasts_of(config.replace(horizon=1), "tanh", params, one, one.test)
    np.testing.assert_array_equal(got[:, ::4], first[:, ::4])


# -------------------------------------------------------------------------- metrics


def test_path_direction_is_read_from_the_paths_own_previous_forecast():
    y = np.array([10.0, 12.0, 11.0, 13.0])
    yhat = np.array([11.0, 10.5, 12.0, 12.5])
    steps = np.array([0, 1, 0, 1])
    # Path 1 from y_prev = 9: up (11 > 9, y 10 > 9: hit), then down (10.5 < 11, y up: miss).
    # Path 2 from y_1 = 12: 12.0 - 12 = 0 vs y down: miss; then 12.5 > 12.0, y up: hit.
    assert metrics.mda_naive(y, yhat, 9.0, steps) == 0.5
    # One-step forecasts read every point from the actual value before it.
    assert metrics.mda_naive(y, yhat, 9.0) == metrics.mda_naive(y, yhat, 9.0, np.zeros(4))


def test_error_by_step_is_the_metric_of_the_points_that_far_ahead():
    rng = np.random.default_rng(1)
    y, yhat = rng.normal(size=11), rng.normal(size=11)
    steps = metrics.path_steps(11, 3)
    train = rng.normal(size=30)
    got = metrics.by_step(y, yhat, steps, 3, y_train=train, season=None)
    for h in range(3):
        at = np.arange(11) % 3 == h
        assert got["rmse"][h] == pytest.approx(np.sqrt(np.mean((y[at] - yhat[at]) ** 2)))
        assert got["mae"][h] == pytest.approx(np.mean(np.abs(y[at] - yhat[at])))
        assert got["mase"][h] == pytest.approx(np.mean(np.abs(y[at] - yhat[at]))
                                               / np.mean(np.abs(np.diff(train))))


def test_the_comparison_tests_h_step_paths_at_h():
    rng = np.random.default_rng(2)
    y = rng.normal(size=15)
    fa, fb = y + rng.normal(0, 1, (4, 15)), y + rng.normal(0, 1.3, (4, 15))
    import pandas as pd

    def frame(f):
        return pd.DataFrame({"seed": range(4), "diverged": False,
                             "rmse": np.sqrt(np.mean((f - y) ** 2, axis=1)),
                             "vol_ratio": f.std(axis=1) / y.std()})

    c = stats.compare(frame(fa), frame(fb), fa, fb, y, activation="a", reference="b",
                      horizon=4)
    expect = stats.diebold_mariano(y - np.median(fa, axis=0), y - np.median(fb, axis=0), h=4)
    assert (c.dm_stat, c.dm_p) == pytest.approx(expect)
    one = stats.compare(frame(fa), frame(fb), fa, fb, y, activation="a", reference="b")
    assert one.dm_p != pytest.approx(c.dm_p)


# -------------------------------------------------------------------------- a study


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:every activation is far behind")
@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_a_study_of_paths_scores_reports_and_stores_them(tmp_path, strategy):
    from relulab.data.series import Series
    from relulab.report import render_report
    from relulab.store import Store
    from relulab.study import Study

    v = _series(80)
    config = _config(horizon=4, strategy=strategy, folds=2, epochs=20)
    study = Study(config, series=Series(values=v, name="ramp"))
    result = study.run(store=Store(tmp_path / "r.db"))
    n_test = 20
    assert all(r.forecast.shape == (n_test,) for r in result.runs)
    # Every metric reads the paths: RMSE of each run is that of its joined paths.
    r = result.runs[0]
    y = v[-n_test:]
    assert r.metrics["rmse"] == pytest.approx(np.sqrt(np.mean((y - r.forecast) ** 2)))
    steps = metrics.path_steps(n_test, 4, 10)
    assert r.metrics["mda_naive"] == metrics.mda_naive(y, r.forecast, v[-n_test - 1], steps)
    # The error by step: the activations' medians over seeds, and the baselines.
    assert set(result.by_step) >= {"tanh", "relu", "naive"}
    tanh = [metrics.by_step(y, q.forecast, steps, 4, y_train=v[:result.train_end],
                            season=None)["rmse"] for q in result.runs if q.activation == "tanh"]
    np.testing.assert_allclose(result.by_step["tanh"]["rmse"], np.median(tanh, axis=0))
    # Stored and loaded, the same numbers; the JSON and the report carry them.
    loaded = Store(tmp_path / "r.db").load(result.study_id)
    assert loaded.by_step == result.by_step
    assert json.loads(json.dumps(result.to_json()))["by_step"]["relu"]["rmse"]
    html = render_report(result)
    assert 'id="horizon"' in html and "paths of 4 steps" in html


# -------------------------------------------------------------------------- baselines


def test_baselines_forecast_the_same_paths_as_the_networks():
    from relulab import baselines

    v = _series(60)
    start, n, H = 45, 60, 4
    # By hand: paths from origins 45, 49, 53, 57 (the last cut to 3 points).
    naive = [v[o - 1] for o in range(start, n, H) for _ in range(min(H, n - o))]
    np.testing.assert_array_equal(baselines.naive(v, start, H), naive)
    m = 3
    seasonal = [v[t - m * int(np.ceil((t - o + 1) / m))]
                for o in range(start, n, H) for t in range(o, min(o + H, n))]
    np.testing.assert_array_equal(baselines.seasonal_naive(v, start, m, H), seasonal)
    # Rolling folds of 10 test points: each fold's region tiled from its own start.
    np.testing.assert_array_equal(baselines.origins(40, 60, 4, 10),
                                  [40] * 4 + [44] * 4 + [48] * 2 + [50] * 4 + [54] * 4
                                  + [58] * 2)
    # One step: the protocol's forecasts, unchanged.
    np.testing.assert_array_equal(baselines.naive(v, start, 1), v[start - 1:n - 1])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_arima_paths_are_its_h_step_forecasts_from_each_origin_parameters_fixed():
    from statsmodels.tsa.arima.model import ARIMA

    from relulab import baselines

    v = _series(60)
    start, H = 45, 4
    fit = baselines.arima(v, start, order=(1, 1, 0), horizon=H)
    res = ARIMA(v[:start], order=(1, 1, 0)).fit(method="innovations_mle")
    expect = []
    for o in range(start, 60, H):
        run = res.apply(v[:o])  # the fitted parameters, the data up to the origin
        expect.extend(run.forecast(min(H, 60 - o)))
    np.testing.assert_allclose(fit.forecast, expect, rtol=1e-4)
    one = baselines.arima(v, start, order=(1, 1, 0))
    np.testing.assert_allclose(fit.forecast[::H], one.forecast[::H], rtol=1e-9)
