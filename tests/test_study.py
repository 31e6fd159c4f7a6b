"""The study engine end to end: small real trainings, checked against independent facts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from relulab.config import StudyConfig, preset
from relulab.errors import RelulabError
from relulab.result import METRIC_COLUMNS
from relulab.study import Study


def _series(n: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 20 * np.sin(2 * np.pi * t / 13) + rng.normal(0, 3, n)


def _small(**kw) -> StudyConfig:
    base = dict(activations=("tanh", "relu"), seeds=3, epochs=8, test_size=10)
    return preset("seed", **{**base, **kw})


@pytest.fixture(scope="module")
def small_result():
    return Study(_small(), _series()).run()


def test_result_shape_and_metrics_recomputed_independently(small_result):
    r = small_result
    frame = r.runs_frame
    assert sorted(frame.activation.unique()) == ["relu", "tanh"]
    assert len(frame) == 6 and set(frame.seed) == {0, 1, 2}
    values = r.values
    y = values[r.test_start:]
    assert r.test_start == values.size - 10
    for run in r.runs:
        assert run.forecast.shape == (10,)
        assert run.loss.shape == (8,) and run.val_loss.shape == (8,)
        if run.diverged:
            continue
        e = y - run.forecast
        assert math.isclose(run.metrics["rmse"], float(np.sqrt(np.mean(e**2))), rel_tol=1e-9)
        assert math.isclose(run.metrics["mfe"], float(np.mean(e)), rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(run.metrics["vol_ratio"],
                            float(np.std(run.forecast) / np.std(y)), rel_tol=1e-6)


def test_summary_comparisons_baselines(small_result):
    r = small_result
    s = r.summary
    assert set(s.metric) >= set(METRIC_COLUMNS)
    row = s[(s.activation == "relu") & (s.metric == "rmse")].iloc[0]
    rmses = r.runs_frame.query("activation == 'relu' and not diverged").rmse
    assert math.isclose(row["median"], float(np.median(rmses)), rel_tol=1e-12)
    assert row["lo"] <= row["median"] <= row["hi"]
    assert [c.activation for c in r.comparisons] == ["relu"]
    assert r.comparisons[0].reference == "tanh"
    assert "relu vs tanh" in r.comparisons[0].verdict
    naive = r.baselines["naive"]["forecast"]
    np.testing.assert_array_equal(naive, r.values[r.test_start - 1:-1])
    assert "arima" in r.baselines


def test_json_has_the_documented_keys(small_result):
    doc = json.loads(json.dumps(small_result.to_json(), allow_nan=False))
    for key in ("config", "runs", "summary", "comparisons", "baselines", "timing"):
        assert key in doc
    run = doc["runs"][0]
    for key in ("activation", "seed", "rmse", "mae", "mfe", "mda", "vol_ratio", "diverged",
                "forecast"):
        assert key in run
    for key in ("wall_s", "compile_s", "model_steps_per_s"):
        assert doc["timing"][key] is not None and doc["timing"][key] > 0


def test_same_seed_same_config_is_bit_identical(small_result):
    again = Study(_small(), _series()).run()
    for a, b in zip(small_result.runs, again.runs, strict=True):
        assert a.forecast.tobytes() == b.forecast.tobytes()
        assert a.loss.tobytes() == b.loss.tobytes()


def test_diverging_runs_are_flagged_not_fatal():
    config = _small(activations=("relu", "tanh"), learning_rate=1e12, epochs=5)
    with pytest.warns(UserWarning, match="diverged"):
        r = Study(config, _series()).run()
    div = r.runs_frame.diverged
    assert div.any()
    # Aggregates never contain NaN from a diverged run: either finite or absent.
    s = r.summary
    assert np.isfinite(s["median"].dropna()).all()
    assert any("diverged" in w for w in r.warnings)


def test_rolling_origin_folds_join_test_windows():
    r = Study(_small(folds=2, seeds=2, activations=("tanh",)), _series(100)).run()
    assert r.test_start == 100 - 2 * 10
    assert r.runs[0].forecast.shape == (20,)


def test_mlp_model_runs():
    r = Study(_small(model="mlp", units=8, activations=("relu", "tanh")), _series()).run()
    assert np.isfinite(r.runs_frame.rmse).all()


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(RelulabError, match="relux"):
        Study(_small(activations=("tanh", "relux")), _series())


def test_series_too_short_is_a_clear_error():
    with pytest.raises(RelulabError, match=r"lookback|test"):
        Study(_small(), _series(14))


def test_study_from_config_alone_loads_config_data(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("y\n" + "\n".join(str(v) for v in _series()) + "\n")
    config = _small(activations=("tanh",), seeds=2, data=str(path))
    r = Study(config).run()
    np.testing.assert_allclose(r.values, _series(), rtol=1e-12)
    # Where the data lies is recorded but is not part of the study's identity.
    assert config.key() == _small(activations=("tanh",), seeds=2).key()
    with pytest.raises(RelulabError, match="no series"):
        Study(_small())


def test_a_flat_run_is_a_warning_and_named_in_its_comparison():
    # A one-unit ReLU MLP at a learning rate of 0.3 loses its unit on every seed here: the
    # model forecasts a constant. Such runs count in the statistics, so the study says so.
    config = _small(model="mlp", units=1, learning_rate=0.3, seeds=4, epochs=20)
    with pytest.warns(UserWarning, match="forecast a flat line"):
        r = Study(config, _series()).run()
    flat = {a: [f.seed for f in r.diagnostics.flat_runs if f.activation == a]
            for a in config.activations}
    assert flat["relu"], "the setting no longer kills ReLU's unit"
    for activation, seeds in flat.items():
        said = [w for w in r.warnings if w.startswith(f"{activation}: ")]
        assert bool(said) == bool(seeds)
        if seeds:
            assert said[0].startswith(f"{activation}: {len(seeds)} of 4 runs forecast a flat "
                                      "line: ")
            assert all(f"on seed {s} " in said[0] for s in seeds)
    (c,) = r.comparisons
    assert c.flat_seeds == {a: s for a, s in flat.items() if s}
    assert f"relu forecast a flat line on seed{'s' if len(flat['relu']) > 1 else ''} " in (
        c.verdict)

    from rich.console import Console

    from relulab.cli.render import show_result

    console = Console(record=True, width=400)
    show_result(console, r)
    printed = console.export_text()
    assert f"warning: relu: {len(flat['relu'])} of 4 runs forecast a flat line" in printed
