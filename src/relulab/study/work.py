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
from relulab.study.plan import Call, Plan, SeriesPlan


def train_data(prepared: Any) -> Any:
    """The arrays one fold's models train on."""
    from relulab.training import TrainData

    return TrainData.from_prepared(prepared)


def program_group(config: StudyConfig, activation: str) -> tuple[str, ...]:
    """The activations of ``config`` that share ``activation``'s compiled program."""
    from relulab.training import program_groups

    return next(g for g in program_groups(config.activations) if activation in g)


def call_programs(config: StudyConfig, plan: Plan, call: Call, activations: list[str],
                  share: bool = True) -> dict[str, Any]:
    """The compiled-program handle (``training.Program``) of each activation for ``call``'s
    shapes, from the shapes alone (nothing is stacked or compiled here). ``share=False``
    gives every activation a program of its own (the former design, kept to measure the
    shared one against)."""
    from relulab.training import Program, TrainSpec

    spec = TrainSpec.from_config(config)
    preps = [plan.series[s].prepared[call.fold] for s in call.series]
    window = tuple(preps[0].fit.X.shape[1:])
    shapes = ((call.rows, *window), (call.rows,), (call.val_rows, *window), (call.val_rows,))
    padded = any(p.fit.X.shape[0] != call.rows or p.val_loss.X.shape[0] != call.val_rows
                 for p in preps)
    return {a: Program(spec, program_group(config, a) if share else (a,), shapes,
                       len(call.series),
                       config.seeds, padded) for a in activations}


def call_batch(plan: Plan, call: Call) -> Any:
    """``call``'s series' windows of its fold, stacked and padded (``training.Batch``)."""
    from relulab.training import make_batch

    return make_batch([train_data(plan.series[s].prepared[call.fold]) for s in call.series],
                      call.rows, call.val_rows)


def model_steps(config: StudyConfig, prepared: Any) -> int:
    """Optimiser updates of one fold's models over every seed (padding steps not counted)."""
    from relulab.training import TrainSpec, steps_per_epoch

    n = int(prepared.fit.X.shape[0])
    return config.seeds * config.epochs * steps_per_epoch(TrainSpec.from_config(config), n)


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
    group = program_group(config, activation)

    def forecast(out: Any, prep: Any, windows: Any) -> np.ndarray:
        scaled = np.asarray(predict_many(model, activation, out.params, windows.X, group))
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


def fit_baselines(values: Any, train_end: int, test_start: int,
                  season: int | None) -> dict[str, dict[str, Any]]:
    """The naive, seasonal-naive and ARIMA forecasts of one series' test region. Plain
    arguments, so that a worker process receives a series' values only."""
    from relulab import stats  # noqa: F401  (imports statsmodels here, off the main thread)
    from relulab.baselines import run_baselines

    return run_baselines(values, train_end=train_end, test_start=test_start, season=season)
