"""The study: many seeds × several activations, trained, scored, compared.

This module orchestrates; the numbers come from pure modules (``windows``, ``training``,
``metrics``, ``stats``, ``baselines``). Runs are grouped by activation: all seeds of one
activation train in one compiled program, and a group is the unit the results store
writes atomically, so an interrupted study resumes by computing only the missing groups.

With ``config.folds = k > 1`` (rolling origin), each model is retrained at k origins and
its one-step forecasts over the k consecutive test windows are joined into one test
region of ``k * test_size`` points, each point forecast by a model that saw only data
before its window.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from relulab import __version__
from relulab.config import StudyConfig
from relulab.data import Series, check_length, load_series, load_source
from relulab.errors import RelulabError
from relulab.result import METRIC_COLUMNS, RunRecord, StudyResult

# A progress callback receives events: ("start", {"groups": n, "cached": m}),
# ("group_start", {"activation", "fold", "index", "total"}), ("group_done", {..., "seconds"}),
# ("analysis", {}) and ("done", {}).
ProgressFn = Callable[[str, dict[str, Any]], None]


@dataclass
class Study:
    """A study of ``config`` on ``series`` (a :class:`Series`, or anything `load_series`
    takes); without a series, on ``config.data``.

    >>> result = Study(StudyConfig(activations=("tanh", "relu"), seeds=5,
    ...                            data="bundled:sunspots")).run()
    >>> result.runs_frame.groupby("activation").rmse.median()
    """

    config: StudyConfig
    series: Any = None

    def __post_init__(self) -> None:
        if self.series is None:
            if not self.config.data:
                raise RelulabError(
                    "no series: pass Study(config, series) or set StudyConfig(data=...) to a "
                    "CSV path, 'bundled:sunspots' or 'dataset:hotel-h1'"
                )
            self.series = load_source(self.config.data, column=self.config.column,
                                      date_column=self.config.date_column)
        elif not isinstance(self.series, Series):
            self.series = load_series(self.series)
        check_length(self.series, self.config)
        _splits(len(self.series.values), self.config)  # folds too short: fail before training
        from relulab.activations import get

        # Fail before any training when a name is wrong.
        for name in (*self.config.activations, self.config.recurrent_activation):
            get(name)

    def run(self, *, store: Any | None = None, progress: ProgressFn | None = None) -> StudyResult:
        """Train every missing group, then score, compare and (if given) store everything.

        Groups already in ``store`` for this exact config and data are loaded, not retrained.
        """
        emit = progress or (lambda event, info: None)
        config, series = self.config, self.series
        values = np.asarray(series.values, dtype=np.float64)
        splits = _splits(values.size, config)
        train_end, test_start = splits[-1].train_end, splits[0].test_start
        t_start = time.perf_counter()

        study_id = ""
        done: dict[str, list[RunRecord]] = {}
        if store is not None:
            study_id = store.open_study(
                config, series_name=series.name, values=values,
                dates=list(series.dates) if series.dates else None,
                data_hash=series.content_hash(), train_end=train_end, test_start=test_start,
            )
            finished = store.completed_activations(study_id)
            for run in store.load_runs(study_id):
                if run.activation in finished:
                    done.setdefault(run.activation, []).append(run)

        todo = [a for a in config.activations if a not in done]
        emit("start", {"groups": len(todo) * len(splits), "cached": len(done),
                       "activations": list(config.activations)})
        timing = {"compile_s": 0.0, "train_s": 0.0, "model_steps": 0.0}
        warn: list[str] = []
        total = len(todo) * len(splits)
        preps = _prepare(values, splits, config)
        # Work that does not wait for training runs beside it on a second thread: the
        # baselines (and the statsmodels import, over a second) and each group's forecasts
        # and scores, while the next group trains.
        with ThreadPoolExecutor(max_workers=1) as side:
            if todo:
                emit("compile", {"activations": todo})
                t_c = time.perf_counter()
                _compile(config, todo, preps)
                timing["compile_s"] += time.perf_counter() - t_c
            # After compilation, which already keeps both cores of a small machine busy.
            baselines = side.submit(_baselines, values, train_end, test_start, config.season)
            pending: list[tuple[str, Future[list[RunRecord]]]] = []

            def keep(wait: bool) -> None:
                # Store every scored group in order; the store writes each in one transaction.
                while pending and (wait or pending[0][1].done()):
                    name, fut = pending.pop(0)
                    done[name] = fut.result()
                    if store is not None:
                        store.save_group(study_id, name, done[name])

            try:
                for i, activation in enumerate(todo):
                    outs = _train_group(config, activation, preps, timing, emit,
                                        index=i * len(splits), total=total)
                    pending.append((activation, side.submit(_score_group, config, activation,
                                                            values, preps, outs)))
                    keep(wait=False)
            finally:
                # Also on Ctrl-C during a later group: every group trained so far is kept.
                keep(wait=True)
            baselines = baselines.result()

        emit("analysis", {})
        runs = [r for a in config.activations for r in sorted(done[a], key=lambda r: r.seed)]
        for activation in config.activations:
            bad = [r.seed for r in done[activation] if r.diverged]
            if bad:
                warn.append(
                    f"{activation}: {len(bad)} of {len(done[activation])} runs diverged "
                    f"(non-finite loss or forecast; seed{'s' if len(bad) > 1 else ''} "
                    f"{', '.join(map(str, bad))}); they are left out of the statistics; "
                    "a lower --learning-rate may help"
                )
        result = _analyse(config, series, values, splits, runs, warn, baselines)
        result.study_id = str(study_id)
        wall = time.perf_counter() - t_start
        result.timing = {
            "wall_s": wall,
            "compile_s": timing["compile_s"],
            "train_s": timing["train_s"],
            "model_steps": timing["model_steps"],
            "model_steps_per_s": (timing["model_steps"] / timing["train_s"]
                                  if timing["train_s"] > 0 else float("nan")),
            "groups_trained": float(len(todo) * len(splits)),
            "groups_cached": float(len(config.activations) - len(todo)),
        }
        if store is not None:
            store.save_analysis(study_id, result)
        emit("done", {"wall_s": wall})
        for w in warn:
            warnings.warn(w, stacklevel=2)
        return result


def _splits(n: int, config: StudyConfig) -> list[Any]:
    from relulab.windows import rolling_folds, split

    if config.folds > 1:
        return rolling_folds(n, config)
    return [split(n, test_size=config.test_size, train_fraction=config.train_fraction,
                  lookback=config.lookback)]


def _prepare(values: np.ndarray, splits: list[Any], config: StudyConfig) -> list[Any]:
    from relulab.windows import prepare

    # Each fold sees only its own points, so its scaler is fitted on its own train region.
    return [prepare(values[:sp.n], config) for sp in splits]


def _compile(config: StudyConfig, activations: list[str], preps: list[Any]) -> None:
    """Compile every group's program up front, in parallel threads (XLA compiles outside
    the GIL); the programs are cached, so training below starts at once."""
    from relulab.training import TrainData, TrainSpec, compile_groups

    for prep in preps:
        compile_groups(TrainSpec.from_config(config), activations, TrainData.from_prepared(prep),
                       config.seeds)


def _train_group(config: StudyConfig, activation: str, preps: list[Any],
                 timing: dict[str, float], emit: ProgressFn, *, index: int,
                 total: int) -> list[Any]:
    """Train all seeds of one activation on every fold: one TrainOutput per fold."""
    from relulab.training import TrainData, TrainSpec, compile_many

    seeds = np.asarray(config.seed_list)
    spec = TrainSpec.from_config(config)
    outs = []
    for k, prep in enumerate(preps):
        emit("group_start", {"activation": activation, "fold": k, "index": index + k,
                             "total": total})
        t0 = time.perf_counter()
        data = TrainData.from_prepared(prep)
        t_c = time.perf_counter()
        train = compile_many(spec, activation, data, seeds.size)  # cached by _compile
        timing["compile_s"] += time.perf_counter() - t_c
        t_r = time.perf_counter()
        out = train(data, seeds)
        out.loss.block_until_ready()
        timing["train_s"] += time.perf_counter() - t_r
        timing["model_steps"] += seeds.size * config.epochs * _steps_per_epoch(data, config)
        outs.append(out)
        emit("group_done", {"activation": activation, "fold": k, "index": index + k,
                            "total": total, "seconds": time.perf_counter() - t0})
    return outs


def _score_group(config: StudyConfig, activation: str, values: np.ndarray, preps: list[Any],
                 outs: list[Any]) -> list[RunRecord]:
    """Forecasts in original units and their metrics: one RunRecord per seed.

    Test forecasts of every fold are joined; validation forecasts, losses and per-epoch
    statistics come from the last fold (the protocol's split).
    """
    from relulab import metrics
    from relulab.models import ModelSpec
    from relulab.training import predict_many

    def forecast(out: Any, prep: Any, windows: Any) -> np.ndarray:
        scaled = np.asarray(predict_many(ModelSpec.from_config(config), activation, out.params,
                                         windows.X))
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
        ))
    return runs


def _baselines(values: np.ndarray, train_end: int, test_start: int,
               season: int | None) -> dict[str, dict[str, Any]]:
    from relulab import stats  # noqa: F401  (imports statsmodels here, off the main thread)
    from relulab.baselines import run_baselines

    return run_baselines(values, train_end=train_end, test_start=test_start, season=season)


def _steps_per_epoch(data: Any, config: StudyConfig) -> int:
    from relulab.training import TrainSpec, steps_per_epoch

    return steps_per_epoch(TrainSpec.from_config(config), int(data.X_fit.shape[0]))


def _analyse(config: StudyConfig, series: Series, values: np.ndarray, splits: list[Any],
             runs: list[RunRecord], warn: list[str],
             baselines: dict[str, dict[str, Any]]) -> StudyResult:
    """Summaries, comparisons against the reference and baselines: cheap and deterministic."""
    from relulab import stats

    last = splits[-1]
    test_start = splits[0].test_start
    result = StudyResult(
        config=config, series_name=series.name, values=values,
        dates=list(series.dates) if series.dates else None, data_hash=series.content_hash(),
        train_end=last.train_end, test_start=test_start, runs=runs, summary=None,
        comparisons=[], baselines={}, timing={}, warnings=warn, relulab_version=__version__,
    )
    frame = result.runs_frame
    result.summary = stats.summarize(frame, n_boot=config.bootstrap,
                                     confidence=config.confidence, seed=0)
    reference = config.reference
    if reference not in config.activations:
        warn.append(f"reference activation {reference!r} is not in the study; "
                    f"comparing against {config.activations[0]!r} instead")
        reference = config.activations[0]
    y_test = values[test_start:]
    ref_runs = [r for r in runs if r.activation == reference]
    for activation in config.activations:
        if activation == reference:
            continue
        act_runs = [r for r in runs if r.activation == activation]
        result.comparisons.append(stats.compare(
            act_runs, ref_runs, np.stack([r.forecast for r in act_runs]),
            np.stack([r.forecast for r in ref_runs]), y_test,
            activation=activation, reference=reference,
            confidence=config.confidence, n_boot=config.bootstrap, seed=0,
        ))
    result.baselines = baselines
    return result


__all__ = ["Study", "StudyConfig"]
