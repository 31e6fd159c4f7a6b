"""A study of one series: its series resolved and loaded once, its plan made, and the one
pipeline (:mod:`relulab.study.pipeline`) run on it as on a panel of one.

``Study(config, series).run(store=...)``: the plan (:mod:`relulab.study.plan`) checks the
series and lists the work units; the pipeline drops what the store holds, hands the rest
to the executor, stores each group as it arrives, and analyses.

With ``config.folds = k > 1`` (rolling origin), each model is retrained at k origins and
its one-step forecasts over the k consecutive test windows are joined into one test
region of ``k * test_size`` points, each point forecast by a model that saw only data
before its window.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from relulab.config import StudyConfig
from relulab.data import DataSource, Series, load_series
from relulab.errors import RelulabError
from relulab.result import StudyResult
from relulab.store import get_store
from relulab.study.events import ProgressFn, quiet
from relulab.study.executor import Executor, get_executor
from relulab.study.pipeline import run_one
from relulab.study.plan import Plan, make_plan
from relulab.study.recorder import Recorder


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

    def run(self, *, store: Any = None, progress: ProgressFn = quiet) -> StudyResult:
        """Train every missing group, then score, compare and store everything.

        ``store``: a :class:`relulab.store.Store`, a database path, or None to keep
        nothing (:func:`relulab.store.get_store`). Groups already in it for this exact
        config and data are loaded, not retrained. The single series is a panel of one
        (:func:`relulab.study.pipeline.run_one`)."""
        result = run_one(self.plan, recorder=Recorder(get_store(store)),
                         executor=get_executor(self.executor), progress=progress)
        for w in result.warnings:
            warnings.warn(w, stacklevel=2)
        return result
