"""Studies of a supervised task (a user's PyTorch or Keras model, relulab's MLP on a table)
through the one study pipeline.

An *engine* (:class:`relulab.tasks.Engine`) trains every seed of one activation on a
:class:`relulab.tasks.TaskData`; :class:`TaskTrainer` makes it a trainer of the seam
(:mod:`relulab.study.trainer`), so the plan, the executor, the recorder (store and resume),
the analysis, the verdicts and the report are the forecasts' own. :func:`run_task_study`
is the route from an engine, its data and a config to a stored, analysed result and the
files asked for, as :func:`relulab.study.outputs.run_study` is for a series;
``relulab.torch.study``, ``relulab.keras.study`` and ``relulab study --table`` call it.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from relulab.config import StudyConfig
from relulab.result import RunRecord, StudyResult
from relulab.study.events import ProgressFn, quiet
from relulab.study.plan import GroupKey, Plan, make_task_plan
from relulab.study.trainer import Piece, Step
from relulab.tasks import TaskData, baselines, run_record

__all__ = ["TaskTrainer", "model_id", "run_task_study"]


class TaskTrainer:
    """An engine as a :class:`relulab.study.trainer.Trainer`: one piece per activation (so
    each activation's seeds are stored the moment they are trained: a killed study loses
    at most the activation in flight), nothing to compile, the task's metrics to score,
    the class prior or training mean as baselines. ``said`` collects what the engine says
    about how it trained (seeds looped, and why)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.said: list[str] = []

    # An engine's fit already uses every core (PyTorch's and XLA's own threads).
    concurrent = False

    def pieces(self, plan: Plan, per_call: int, available: int | None = None,
               held_series: int = 1, workers: int = 1) -> list[Piece]:
        return [Piece((u.series_id,), u.activation) for u in plan.units]

    def programs(self, plan: Plan, pieces: list[Piece]) -> list[Any]:
        return []

    def steps(self, plan: Plan, piece: Piece) -> Iterator[Step]:
        config = plan.config
        (sid,) = piece.series
        data: TaskData = plan.series[sid].series
        key = GroupKey(sid, piece.work)

        def run() -> dict[GroupKey, Any]:
            fitted = self.engine.fit(key.activation, config.seed_list, data, config)
            why = self.engine.describe().get("why", "")
            if why and why not in self.said:
                self.said.append(why)
            return {key: fitted}

        batches = math.ceil(len(data.y_train) / config.batch_size)
        yield Step(key.activation, 0, (key,), float(config.seeds * config.epochs * batches),
                   run)

    def score(self, plan: Plan, key: GroupKey, outputs: list[Any]) -> list[RunRecord]:
        data = plan.series[key.series_id].series
        (fitted,) = outputs
        return [run_record(data, key.activation, f) for f in fitted]

    def baselines(self, plan: Plan, series_id: str
                  ) -> tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]:
        return baselines, (plan.series[series_id].series,)


def model_id(description: dict[str, Any], names: Any = ()) -> str:
    """What identifies a user's model in a study's key: its framework, its architecture
    text and parameter count (``description``, an engine's ``describe()``) and the
    definitions of the activations it is studied with (``names``: name -> text). Two
    studies of different models on the same data never resume each other's runs."""
    text = "|".join([str(description.get(k, "")) for k in ("framework", "model",
                                                              "parameters")]
                    + [f"{k}={v}" for k, v in dict(names).items()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(description: dict[str, Any]) -> str:
    """A user's model in words, for the config (``model_description``) and the report."""
    head = ", ".join(p for p in (
        str(description.get("framework", "")),
        (f"{description['backend']} backend" if description.get("backend") else ""),
        (f"{int(description['parameters']):,} parameters"
         if description.get("parameters") is not None else "")) if p)
    return f"{head}\n{description.get('model', '')}".strip()


def run_task_study(engine: Any, data: TaskData, config: StudyConfig, *, db: Any = None,
                   report: Any = None, json: Any = None, figures: Any = None,
                   progress: ProgressFn = quiet, executor: Any = None
                   ) -> tuple[StudyResult, Any]:
    """Train every activation of ``config`` over its seeds on ``data`` with ``engine``,
    store each activation as it finishes (``db``: a path, or None to keep nothing; a rerun
    resumes what is stored), analyse, and write the report, JSON and figures asked for.
    Returns the result and what was written (:class:`relulab.study.outputs.Written`).
    What the engine said about its training (seeds looped, and why) joins the result's
    warnings (and its report) without being raised as a Python warning."""
    from relulab.study.outputs import Outputs, _session, _write_all
    from relulab.study.pipeline import run_one

    trainer = TaskTrainer(engine)
    plan = make_task_plan(config, data, trainer)
    outputs = Outputs(db=db, json=json, report=report, figures=figures)
    with _session(outputs, executor, plan) as (recorder, executor, written):
        result = run_one(plan, recorder=recorder, executor=executor, progress=progress)
        if trainer.said:
            result.warnings = [*trainer.said, *result.warnings]
            recorder.store.save_analysis(result.study_id, result)
    for w in result.warnings:
        if w not in trainer.said:  # how it trained is information, kept in the result
            warnings.warn(w, stacklevel=3)
    written.study_id = result.study_id
    _write_all(result, outputs, written)
    return result, written
