"""relulab.diagnostics: dead hidden units and flat forecasts, judged from hand-made runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from relulab.diagnostics import (
    FLAT_RATIO,
    dead_curves,
    dead_share_at_kept,
    diagnose,
    flat_run,
    flat_seeds,
    flat_warnings,
)
from relulab.result import RunRecord


def run(activation: str, seed: int, *, dead: list[float] | None = None, best_epoch: int = 3,
        vol_ratio: float = 0.8, diverged: bool = False) -> RunRecord:
    stats = {} if dead is None else {"dead_fraction": np.array(dead, dtype=float)}
    return RunRecord(activation=activation, seed=seed, diverged=diverged,
                     metrics={"vol_ratio": math.nan if diverged else vol_ratio},
                     val_metrics={}, forecast=np.zeros(3), val_forecast=np.zeros(2),
                     loss=np.ones(4), val_loss=np.ones(4), best_epoch=best_epoch,
                     epoch_stats=stats)


def test_dead_share_is_read_at_the_kept_epoch() -> None:
    assert dead_share_at_kept(run("relu", 0, dead=[0, 0.25, 0.5, 0.75], best_epoch=1)) == 0.25
    # an early stop recorded fewer epochs than best_epoch points at: the last one counts
    assert dead_share_at_kept(run("relu", 0, dead=[0, 0.5], best_epoch=3)) == 0.5
    assert math.isnan(dead_share_at_kept(run("relu", 0)))


def test_flat_runs_and_their_reason() -> None:
    assert flat_run(run("relu", 0, dead=[0, 1, 1, 1], vol_ratio=0.0)).reason == "all_units_dead"
    nearly = flat_run(run("tanh", 1, vol_ratio=FLAT_RATIO / 2))
    assert (nearly.reason, nearly.vol_ratio, math.isnan(nearly.dead_share)) == (
        "nearly_constant", FLAT_RATIO / 2, True)
    assert flat_run(run("tanh", 1, vol_ratio=FLAT_RATIO)) is None  # at the line: not flat
    assert flat_run(run("relu", 0, dead=[1, 1, 1, 1], diverged=True)) is None


def test_diagnose_summarises_dead_units_per_activation() -> None:
    runs = [run("relu", 0, dead=[0, 0.25, 0.25, 0.25]), run("relu", 1, dead=[0, 0, 0.5, 1.0]),
            run("relu", 2, dead=[0, 0, 0, 0]), run("relu", 3, dead=[1, 1, 1, 1], diverged=True),
            run("tanh", 0, dead=[0, 0, 0, 0]), run("tanh", 1, dead=[0, 0]),
            run("elu", 0)]
    d = diagnose(runs, ["tanh", "relu", "elu"])
    assert list(d.dead_units) == ["tanh", "relu"]  # elu records nothing; study order
    relu = d.dead_units["relu"]
    assert (relu.seeds, relu.seeds_with_dead, relu.ever_dead) == (3, 2, True)
    assert relu.median_share == pytest.approx(0.25) and relu.max_share == 1.0
    assert not d.dead_units["tanh"].ever_dead
    assert d.dead_share["relu"] == {0: 0.25, 1: 1.0, 2: 0.0}  # diverged seed 3 left out
    assert [(f.activation, f.seed, f.reason) for f in d.flat_runs] == [
        ("relu", 1, "all_units_dead")]
    assert d.any_dead is True
    assert diagnose([run("tanh", 0, dead=[0, 0])], ["tanh"]).any_dead is False
    assert diagnose([run("tanh", 0)], ["tanh"]).any_dead is None


def test_dead_curves_pad_an_early_stop_with_nan() -> None:
    rows = dead_curves([run("relu", 0, dead=[0, 0.5, 0.5]), run("relu", 1, dead=[0.25])],
                       "relu")
    np.testing.assert_array_equal(rows, [[0, 0.5, 0.5], [0.25, np.nan, np.nan]])
    assert dead_curves([run("relu", 0)], "relu") is None


def test_json_round_trip_keeps_nan() -> None:
    from relulab.result import Diagnostics

    d = diagnose([run("relu", 0, dead=[1, 1, 1, 1], vol_ratio=math.nan)], ["relu"])
    back = Diagnostics.from_json(d.to_json())
    assert back.dead_units == d.dead_units and back.dead_share == d.dead_share
    assert math.isnan(back.flat_runs[0].vol_ratio) and back.flat_runs[0].seed == 0


def test_flat_runs_are_worded_once_per_activation() -> None:
    runs = [run("relu", 0, dead=[0, 1, 1, 1], vol_ratio=0.0), run("relu", 1),
            run("relu", 2, vol_ratio=0.01), run("relu", 3, dead=[1, 1, 1, 1], diverged=True),
            run("tanh", 0, vol_ratio=0.03), run("tanh", 1)]
    d = diagnose(runs, ["tanh", "relu"])
    assert flat_warnings(d.flat_runs, runs) == [
        "tanh: 1 of 2 runs forecast a flat line: on seed 0 the forecast is nearly constant "
        "(volatility ratio 0.0300); it counts in the metrics and the comparisons like any run",
        "relu: 2 of 4 runs forecast a flat line: on seed 0 every hidden unit is dead (its "
        "output is 0 on every training sample), so the model forecasts a constant (volatility "
        "ratio 0.00); on seed 2 the forecast is nearly constant (volatility ratio 0.0100); they "
        "count in the metrics and the comparisons like any run; a lower --learning-rate, or an "
        "activation without a zero slope (leaky_relu, elu), keeps units alive"]
    assert flat_warnings(diagnose(runs[1:2], ["relu"]).flat_runs, runs[1:2]) == []
    assert flat_seeds(d.flat_runs, "relu") == [0, 2] and flat_seeds(d.flat_runs, "elu") == []
