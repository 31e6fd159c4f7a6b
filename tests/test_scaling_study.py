"""--scaler in a study: the forecasts come back in the series' units per window, the CLI
takes the flag, and a study whose every arm is far behind the naive forecast says so."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import relulab
from relulab.cli import main
from relulab.config import StudyConfig, preset
from relulab.study.pipeline import FAR_BEHIND_NAIVE, behind_naive_warnings
from relulab.windows import prepare


def _trend(n: int = 70) -> np.ndarray:
    rng = np.random.default_rng(5)
    t = np.arange(n, dtype=float)
    return 50.0 + 3.0 * t + 4.0 * np.sin(t / 2.0) + rng.normal(0.0, 1.0, n)


def _summary(medians: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"activation": a, "metric": "rmse", "median": m, "lo": m, "hi": m,
                          "n": 5} for a, m in medians.items()])


NAIVE = {"naive": {"metrics": {"rmse": 2.0}}}


def test_far_behind_naive_is_said_only_when_every_arm_is():
    config = StudyConfig()
    trend = np.arange(100.0)  # the test region (80..99) lies above the train region (0..59)
    words = behind_naive_warnings(_summary({"tanh": 3.0, "relu": 5.0}), NAIVE, config,
                                  trend, 60, 80)
    assert len(words) == 1
    assert "tanh 1.5x, relu 2.5x" in words[0]
    assert "100% of the test region lies outside" in words[0]
    assert "--scaler window-minmax" in words[0]
    flat = np.tile([1.0, 2.0, 3.0, 4.0], 25)
    words = behind_naive_warnings(_summary({"tanh": 3.0}), NAIVE, config, flat, 60, 80)
    assert "--scaler" not in words[0] and "more epochs" in words[0]
    assert behind_naive_warnings(_summary({"tanh": 2.9, "relu": 5.0}), NAIVE, config) == []
    assert behind_naive_warnings(_summary({"tanh": 3.0}), {}, config) == []
    robust = behind_naive_warnings(_summary({"tanh": 9.0}), NAIVE,
                                   StudyConfig(scaler="robust"), trend, 60, 80)
    assert robust and "--scaler" not in robust[0]
    assert FAR_BEHIND_NAIVE == 1.5


@pytest.mark.parametrize("scaler", ["window-minmax", "diff"])
def test_a_study_with_a_window_scaler_scores_forecasts_in_the_series_units(scaler):
    values = _trend()
    config = preset("seed", activations=("tanh", "relu"), seeds=2, epochs=3, batch_size=8,
                    scaler=scaler)
    result = relulab.Study(config, values).run()
    prep = prepare(values, config)
    y = values[prep.split.test_start:]
    for run in result.runs:
        assert run.forecast.shape == y.shape and np.all(np.isfinite(run.forecast))
        rmse = math.sqrt(float(np.mean((y - run.forecast) ** 2)))
        assert run.metrics["rmse"] == pytest.approx(rmse, rel=1e-9)
    # Per-window scaling puts the forecasts near the recent level, not near the train
    # region's range: every forecast lies within the test region's neighbourhood.
    spread = values[-30:].max() - values[-30:].min()
    assert all(np.all(np.abs(r.forecast - y) < 2 * spread) for r in result.runs)
    assert result.config.scaler == scaler


def test_the_cli_takes_the_scaler_and_refuses_an_unknown_one(tmp_path, capsys):
    path = tmp_path / "trend.csv"
    path.write_text("value\n" + "\n".join(f"{v:.3f}" for v in _trend()) + "\n")
    code = main(["study", "--data", str(path), "--scaler", "robust", "--seeds", "2",
                 "--epochs", "2", "--batch-size", "8", "--json", str(tmp_path / "r.json"),
                 "--no-db", "--report", str(tmp_path / "r.html"), "--quiet"])
    assert code == 0, capsys.readouterr()
    assert json.loads((tmp_path / "r.json").read_text())["config"]["scaler"] == "robust"
    capsys.readouterr()
    code = main(["study", "--data", str(path), "--scaler", "zscore", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "unknown scaler 'zscore'" in err


def test_a_panel_scales_each_window_unless_told_otherwise():
    import argparse

    from relulab.cli.study import PANEL_SCALER, config_from_args

    assert PANEL_SCALER == "window-standard"
    panel = argparse.Namespace(preset="seed", panel="p.csv")
    assert config_from_args(panel).scaler == "window-standard"
    told = argparse.Namespace(preset="seed", panel="p.csv", scaler="global")
    assert config_from_args(told).scaler == "global"
    one = argparse.Namespace(preset="seed", panel=None)
    assert config_from_args(one).scaler == "global"  # one series: the protocol's
