"""The work a plan's units stand for: train, forecast and score, fit the baselines.

These functions are what any executor runs, in this process or on a worker elsewhere:
each takes plain data (the config, one series' plan, arrays) and returns plain data
(training outputs, :class:`~relulab.result.RunRecord` lists, baseline forecasts).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relulab.config import StudyConfig
from relulab.result import METRIC_COLUMNS, RunRecord
from relulab.study.plan import SeriesPlan


def train_data(prepared: Any) -> Any:
    """The arrays one fold's models train on."""
    from relulab.training import TrainData

    return TrainData.from_prepared(prepared)


def compile_units(config: StudyConfig, activations: list[str], sp: SeriesPlan) -> None:
    """Compile every activation's training program for every fold's shapes, in parallel
    threads (XLA compiles outside the GIL); the programs are cached, so training starts at
    once afterwards."""
    from relulab.training import TrainSpec, compile_groups

    spec = TrainSpec.from_config(config)
    for prep in sp.prepared:
        compile_groups(spec, activations, train_data(prep), config.seeds)


def program(config: StudyConfig, activation: str, prepared: Any) -> tuple[Any, Any]:
    """The compiled training program of ``activation`` for one fold's shapes (a cache lookup
    after :func:`compile_units`), and the fold's arrays: ``(train, data)``."""
    from relulab.training import TrainSpec, compile_many

    data = train_data(prepared)
    return compile_many(TrainSpec.from_config(config), activation, data, config.seeds), data


def train_unit(config: StudyConfig, train: Any, data: Any) -> tuple[Any, int]:
    """Run one unit's program over every seed: ``(TrainOutput, model_steps)``."""
    seeds = np.asarray(config.seed_list)
    out = train(data, seeds)
    out.loss.block_until_ready()
    return out, seeds.size * config.epochs * steps_per_epoch(data, config)


def steps_per_epoch(data: Any, config: StudyConfig) -> int:
    from relulab.training import TrainSpec, steps_per_epoch

    return steps_per_epoch(TrainSpec.from_config(config), int(data.X_fit.shape[0]))


def score_group(config: StudyConfig, activation: str, sp: SeriesPlan,
                outs: list[Any]) -> list[RunRecord]:
    """Forecasts in original units and their metrics: one RunRecord per seed.

    ``outs`` holds one TrainOutput per fold. Test forecasts of every fold are joined;
    validation forecasts, losses and per-epoch statistics come from the last fold (the
    protocol's split).
    """
    from relulab import metrics
    from relulab.models import ModelSpec
    from relulab.training import predict_many

    values, preps = sp.values, sp.prepared
    model = ModelSpec.from_config(config)

    def forecast(out: Any, prep: Any, windows: Any) -> np.ndarray:
        scaled = np.asarray(predict_many(model, activation, out.params, windows.X))
        return prep.scaler.inverse(scaled)

    forecasts = np.concatenate([forecast(o, p, p.test) for o, p in zip(outs, preps,
                                                                          strict=True)], axis=1)
    last, out = preps[-1], outs[-1]
    val_forecast = forecast(out, last, last.validation)
    diverged = np.logical_or.reduce([np.asarray(o.diverged) for o in outs])
    y_test = values[preps[0].split.test_start:]
    # The joined test region is contiguous: the naive-anchored MDA's first anchor is the
    # actual value just before it.
    y_prev = float(values[preps[0].split.test_start - 1])
    y_train = values[:last.split.train_end]
    val_y = values[last.split.train_end:last.split.test_start]
    val_prev = float(values[last.split.train_end - 1])
    loss = np.asarray(out.loss, dtype=np.float64)
    val_loss = np.asarray(out.val_loss, dtype=np.float64)
    best = np.asarray(out.best_epoch)
    stats = {k: np.asarray(v, dtype=np.float64) for k, v in out.epoch_stats.items()}
    units = {k: np.asarray(v) for k, v in out.unit_stats.items()}
    runs = []
    for i, seed in enumerate(config.seed_list):
        bad = bool(diverged[i]) or not np.all(np.isfinite(forecasts[i]))
        if bad:
            m = dict.fromkeys(METRIC_COLUMNS, float("nan"))
            vm = dict(m)
        else:
            m = metrics.score(y_test, forecasts[i], y_prev=y_prev, y_train=y_train,
                              season=config.season)
            vm = metrics.score(val_y, val_forecast[i], y_prev=val_prev, y_train=y_train,
                               season=config.season)
        runs.append(RunRecord(
            activation=activation, seed=int(seed), diverged=bad,
            metrics={k: float(v) for k, v in m.items()},
            val_metrics={k: float(v) for k, v in vm.items()},
            forecast=forecasts[i], val_forecast=val_forecast[i], loss=loss[i],
            val_loss=val_loss[i], best_epoch=int(best[i]),
            epoch_stats={k: v[i] for k, v in stats.items()},
            unit_stats={k: v[i] for k, v in units.items()},
        ))
    return runs


def fit_baselines(sp: SeriesPlan, season: int | None) -> dict[str, dict[str, Any]]:
    """The naive, seasonal-naive and ARIMA forecasts of one series' test region."""
    from relulab import stats  # noqa: F401  (imports statsmodels here, off the main thread)
    from relulab.baselines import run_baselines

    return run_baselines(sp.values, train_end=sp.train_end, test_start=sp.test_start,
                         season=season)
