"""The study: a plan, an executor that runs it, a store that keeps it, and the analysis.

``Study(config, series).run(store=...)`` is the whole pipeline:

1. **plan** (:mod:`relulab.study.plan`): the series is resolved and loaded once, checked,
   and split into work units; units whose group is already in the store are dropped
   (a resumed study computes only what is missing);
2. **execute** (:mod:`relulab.study.executor`): the executor trains the units and hands
   back each group's scored runs, which are stored at once, one transaction per group;
3. **analyse** (:mod:`relulab.study.analysis`): pure, runs in and a
   :class:`~relulab.result.StudyResult` out, stored with the study.

With ``config.folds = k > 1`` (rolling origin), each model is retrained at k origins and
its one-step forecasts over the k consecutive test windows are joined into one test
region of ``k * test_size`` points, each point forecast by a model that saw only data
before its window.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from relulab.config import StudyConfig
from relulab.data import DataSource, Series, load_series
from relulab.errors import RelulabError
from relulab.result import RunRecord, StudyResult
from relulab.study.analysis import study_result
from relulab.study.executor import Executor, InProcessExecutor, ProgressFn
from relulab.study.plan import GroupKey, Plan, make_plan


def resolve_series(config: StudyConfig, series: Any = None) -> Series:
    """The study's series: ``series`` (a :class:`Series` or anything ``load_series`` takes)
    or, without one, the source ``config.data`` names, loaded here and only here."""
    if series is not None:
        return series if isinstance(series, Series) else load_series(series)
    source = DataSource.from_config(config)
    if source is None:
        raise RelulabError(
            "no series: pass Study(config, series) or set StudyConfig(data=...) to a "
            "CSV path, 'bundled:sunspots' or 'dataset:hotel-h1'"
        )
    return source.load()


@dataclass(frozen=True)
class Study:
    """A study of ``config`` on ``series`` (a :class:`Series`, or anything ``load_series``
    takes); without a series, on the source ``config.data`` names.

    The series is loaded and the plan made when the study is created, so a wrong
    activation name, a series too short for the folds or a missing file fails here, before
    any training. ``executor`` runs the plan (in this process by default).

    >>> result = Study(StudyConfig(activations=("tanh", "relu"), seeds=5,
    ...                            data="bundled:sunspots")).run()
    >>> result.runs_frame.groupby("activation").rmse.median()
    """

    config: StudyConfig
    series: Any = None
    executor: Executor | None = field(default=None, compare=False)
    plan: Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A derived field, set once: the study itself never changes after this.
        object.__setattr__(self, "plan",
                           make_plan(self.config, resolve_series(self.config, self.series)))

    def run(self, *, store: Any | None = None, progress: ProgressFn | None = None) -> StudyResult:
        """Train every missing group, then score, compare and (if given) store everything.

        Groups already in ``store`` for this exact config and data are loaded, not retrained.
        """
        emit = progress or (lambda event, info: None)
        config, plan = self.config, self.plan
        (sp,) = plan.series.values()  # one series per study (a panel is more entries)
        t_start = time.perf_counter()

        study_id = ""
        done: dict[GroupKey, list[RunRecord]] = {}
        if store is not None:
            series = sp.series
            study_id = store.open_study(
                config, series_name=series.name, values=sp.values,
                dates=list(series.dates) if series.dates else None,
                data_hash=series.content_hash(), train_end=sp.train_end,
                test_start=sp.test_start,
            )
            finished = store.completed_activations(study_id)
            for run in store.load_runs(study_id):
                if run.activation in finished:
                    done.setdefault(GroupKey(sp.series_id, run.activation), []).append(run)
        todo = plan.without(done)
        emit("start", {"groups": len(todo.units), "cached": len(done),
                       "activations": list(config.activations)})

        def keep(key: GroupKey, runs: list[RunRecord]) -> None:
            done[key] = runs
            if store is not None:
                store.save_group(study_id, key.activation, runs)

        baselines: dict[str, dict[str, Any]] = {}
        executor = self.executor or InProcessExecutor()
        stats = executor.run(todo, keep, baselines.__setitem__, emit)

        emit("analysis", {})
        runs = [r for key in done for r in done[key]]
        result = study_result(config, sp, runs, baselines[sp.series_id])
        result.study_id = str(study_id)
        wall = time.perf_counter() - t_start
        result.timing = {
            "wall_s": wall,
            "compile_s": stats.compile_s,
            "train_s": stats.train_s,
            "model_steps": stats.model_steps,
            "model_steps_per_s": (stats.model_steps / stats.train_s
                                  if stats.train_s > 0 else float("nan")),
            "groups_trained": float(len(todo.units)),
            "groups_cached": float(len(todo.done)),
        }
        if store is not None:
            store.save_analysis(study_id, result)
        emit("done", {"wall_s": wall})
        for w in result.warnings:
            warnings.warn(w, stacklevel=2)
        return result
