"""The one writer of studies to a results store, and the timing of a run.

Every study, whatever its size or its stopping rule, reaches the store through a
:class:`Recorder`: it opens each series' study (the store's id for it), says which groups
are stored already (a rerun resumes with the rest), writes each group the moment it is
trained (one transaction each, so a kill loses at most the group in flight), reads stored
groups back when their series is analysed, and writes each series' analysis. The store is
a :class:`relulab.store.Store` (a SQLite file) or a :class:`relulab.store.NullStore`
(nothing kept): the recorder never asks which.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from relulab.config import StudyConfig
from relulab.result import RunRecord, StudyResult
from relulab.store import StudyStore
from relulab.study.plan import GroupKey, Plan, SeriesPlan


class Recorder:
    """Writes the studies of a plan (or of several, one after another) to ``store``."""

    def __init__(self, store: StudyStore) -> None:
        self.store = store
        self.ids: dict[str, str] = {}  # series id -> study id, for the plan now recorded

    def open(self, plan: Plan) -> set[GroupKey]:
        """Open every series' study of ``plan``; the groups the store holds already."""
        self.ids = {}
        done: set[GroupKey] = set()
        for sid, sp in plan.series.items():
            self.ids[sid] = self._open(plan.config, sp)
            stored = self.store.completed_activations(self.ids[sid])
            done |= {GroupKey(sid, a) for a in plan.config.activations if a in stored}
        return done

    def _open(self, config: StudyConfig, sp: SeriesPlan) -> str:
        """The store's id of the study of ``config`` on ``sp``'s series (made if new)."""
        series = sp.series
        return str(self.store.open_study(
            config, series_name=series.name, values=sp.values,
            dates=list(series.dates) if series.dates else None,
            data_hash=series.content_hash(), train_end=sp.train_end,
            test_start=sp.test_start))

    def group(self, key: GroupKey, runs: list[RunRecord]) -> None:
        """Store one trained group (every seed and fold of one activation on one series)."""
        self.store.save_group(self.ids[key.series_id], key.activation, runs)

    def stored_runs(self, series_id: str, activations: Iterable[str]) -> list[RunRecord]:
        """The stored runs of ``activations`` on ``series_id`` (groups stored before)."""
        wanted = set(activations)
        if not wanted:
            return []
        return [r for r in self.store.load_runs(self.ids[series_id]) if r.activation in wanted]

    def analysis(self, series_id: str, result: StudyResult) -> None:
        """Store ``result`` as ``series_id``'s analysis (its study id set on it)."""
        result.study_id = self.ids[series_id]
        self.store.save_analysis(result.study_id, result)

    def whole(self, sp: SeriesPlan, result: StudyResult) -> None:
        """Store ``result`` (its config, its runs and its analysis) as one study, as a
        study of that config run at once would be: how ``--seeds auto`` stores the study
        of every seed it trained in batches."""
        config = result.config
        study_id = self._open(config, sp)
        stored = self.store.completed_activations(study_id)
        for activation in config.activations:
            if activation not in stored:
                self.store.save_group(study_id, activation,
                                      [r for r in result.runs if r.activation == activation])
        result.study_id = study_id
        self.store.save_analysis(study_id, result)


def timing(stats: Any, wall_s: float, groups_trained: int, groups_cached: int
           ) -> dict[str, float]:
    """A run's timing as every result carries it: wall, compile and training seconds,
    model-steps (and per second), and how many groups were trained and found stored."""
    return {"wall_s": wall_s, "compile_s": stats.compile_s, "train_s": stats.train_s,
            "model_steps": stats.model_steps,
            "model_steps_per_s": (stats.model_steps / stats.train_s if stats.train_s > 0
                                  else math.nan),
            "groups_trained": float(groups_trained), "groups_cached": float(groups_cached)}


def add_timing(total: dict[str, float], part: dict[str, float]) -> dict[str, float]:
    """Two runs' timings as one (sums; the rate recomputed from the sums)."""
    out = {k: total.get(k, 0.0) + float(v) for k, v in part.items()
           if k != "model_steps_per_s"}
    out["model_steps_per_s"] = (out["model_steps"] / out["train_s"]
                                if out.get("train_s") else math.nan)
    return out
