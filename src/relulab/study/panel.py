"""A study over a panel: the same grid on every series, and the answer pooled across them.

One plan covers every series and one executor runs it (in this process, or shards of
series on Ray); series of similar lengths share compiled programs, padded to shared row
counts. Each series is stored as a study of its own in the results store, so an
interrupted panel study resumes with only the series (and, within a series, the
activation groups) it lacks, and ``relulab runs`` lists every series. The series a study
cannot use (too short for its windows, a scale float32 cannot carry) are left out with a
warning each (:func:`relulab.data.fit_panel`).

Pooled (:func:`relulab.pooled.pool`, pure): each activation's median test RMSE per series
ranked across activations, wins against the reference, Friedman's test, post-hoc tests and
the critical difference, in words.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from relulab.config import StudyConfig
from relulab.result import StudyResult
from relulab.study.executor import Executor, ProgressFn

__all__ = ["PanelResult", "run_panel", "run_panel_study", "scores"]


@dataclass
class PanelResult:
    """Every series' study, and the answer across them."""

    config: StudyConfig
    results: dict[str, StudyResult]
    pooled: Any  # relulab.pooled.Pooled, or None with fewer than two series
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)

    def scores(self) -> pd.DataFrame:
        return scores(self.results, self.config.activations)

    def spread(self) -> pd.Series:
        """Per series, how far apart the activations' median RMSEs lie: worst / best - 1."""
        s = self.scores()
        return (s.max(axis=1) / s.min(axis=1) - 1).sort_values(ascending=False)

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return float(v) if v is not None and math.isfinite(v) else None

        p = self.pooled
        return {
            "config": self.config.to_dict(),
            "series": {sid: {"study_id": r.study_id, "n": int(r.values.size),
                             "median_rmse": {a: num(v) for a, v in
                                             self.scores().loc[sid].items()},
                             "comparisons": [c.verdict for c in r.comparisons]}
                       for sid, r in self.results.items()},
            "pooled": None if p is None else {
                "reference": p.reference, "series": p.series,
                "friedman_stat": num(p.friedman_stat), "friedman_p": num(p.friedman_p),
                "critical_difference": num(p.critical_difference),
                "activations": [{k: (num(v) if isinstance(v, float) else v)
                                 for k, v in vars(a).items()} for a in p.activations],
                "words": p.words},
            "warnings": self.warnings,
            "timing": {k: num(v) for k, v in self.timing.items()},
        }


def scores(results: dict[str, StudyResult], activations: Any) -> pd.DataFrame:
    """Series x activation: the median test RMSE over the converged seeds (NaN when every
    seed of an activation diverged)."""
    rows = {}
    for sid, r in results.items():
        frame = r.runs_frame
        good = frame[~frame["diverged"]]
        med = good.groupby("activation")["rmse"].median()
        rows[sid] = {a: float(med.get(a, np.nan)) for a in activations}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(activations))


def run_panel(config: StudyConfig, panel: Any, *, store: Any | None = None,
              progress: ProgressFn | None = None, executor: Executor | None = None,
              on_series: Any = None) -> PanelResult:
    """Run ``config`` on every series of ``panel`` that suits it, then pool.

    One plan covers every series, and one executor runs it: series of similar lengths
    share compiled programs (padded to shared row counts), and a distributed executor
    spreads the series over its workers. Each series is stored as its own study, every
    group the moment it arrives, so an interrupted panel resumes with only what it lacks.
    ``on_series(done, total, series_id)`` is called as each series' last group is stored
    (for a progress display); ``progress`` receives the executor's events.
    """
    from relulab.data import fit_panel
    from relulab.pooled import pool
    from relulab.study.analysis import study_result
    from relulab.study.executor import InProcessExecutor
    from relulab.study.plan import GroupKey, make_plan

    emit = progress or (lambda event, info: None)
    kept, notes = fit_panel(panel, config)
    said: list[str] = list(notes)
    t0 = time.perf_counter()
    plan = make_plan(config, dict(kept.series))
    study_ids: dict[str, str] = {}
    done: dict[GroupKey, list[Any]] = {}
    if store is not None:
        for sid, sp in plan.series.items():
            series = sp.series
            study_ids[sid] = str(store.open_study(
                config, series_name=series.name, values=sp.values,
                dates=list(series.dates) if series.dates else None,
                data_hash=series.content_hash(), train_end=sp.train_end,
                test_start=sp.test_start))
            finished = store.completed_activations(study_ids[sid])
            for run in store.load_runs(study_ids[sid]):
                if run.activation in finished:
                    done.setdefault(GroupKey(sid, run.activation), []).append(run)
    todo = plan.without(done)
    cached = len(done)
    emit("start", {"groups": len(todo.units), "cached": cached,
                   "activations": list(config.activations), "series": len(plan.series)})
    trained: dict[str, int] = dict.fromkeys(plan.series, 0)
    missing: dict[str, set[GroupKey]] = {sid: set() for sid in plan.series}
    for g in todo.groups():
        missing[g.series_id].add(g)
        trained[g.series_id] += 1
    complete = [0]

    def keep(key: GroupKey, runs: list[Any]) -> None:
        done[key] = runs
        if store is not None:
            store.save_group(study_ids[key.series_id], key.activation, runs)
        missing[key.series_id].discard(key)
        if not missing[key.series_id] and on_series is not None:
            complete[0] += 1
            on_series(complete[0] - 1, len(plan.series), key.series_id)

    baselines: dict[str, dict[str, Any]] = {}
    stats = (executor or InProcessExecutor()).run(todo, keep, baselines.__setitem__, emit)
    emit("analysis", {})
    results: dict[str, StudyResult] = {}
    for sid, sp in plan.series.items():
        runs = [r for a in config.activations for r in done.get(GroupKey(sid, a), [])]
        result = study_result(config, sp, runs, baselines[sid])
        result.study_id = study_ids.get(sid, "")
        result.timing = {"groups_trained": float(trained[sid]),
                         "groups_cached": float(len(config.activations) - trained[sid])}
        if store is not None:
            store.save_analysis(study_ids[sid], result)
        results[sid] = result
        said += [f"{sid}: {w}" for w in result.warnings]
    table = scores(results, config.activations)
    reference = config.reference if config.reference in config.activations \
        else config.activations[0]
    pooled = None
    complete_rows = table.dropna()
    if len(config.activations) >= 2 and len(complete_rows) >= 2:
        pooled = pool(table, reference, confidence=config.confidence,
                      n_boot=config.bootstrap)
        if len(complete_rows) < len(table):
            said.append(f"{len(table) - len(complete_rows)} series left out of the pooled "
                        "answer: every run of some activation diverged there")
    elif len(kept) >= 2:
        said.append("no pooled answer: pass at least two activations")
    wall = time.perf_counter() - t0
    timing = {"wall_s": wall, "compile_s": stats.compile_s, "train_s": stats.train_s,
              "model_steps": stats.model_steps,
              "model_steps_per_s": (stats.model_steps / stats.train_s
                                    if stats.train_s > 0 else float("nan")),
              "groups_trained": float(sum(trained.values())), "groups_cached": float(cached)}
    emit("done", {"wall_s": wall})
    return PanelResult(config, results, pooled, said, timing)


def run_panel_study(config: StudyConfig, panel: Any, *, outputs: Any = None,
                    progress: ProgressFn | None = None, on_series: Any = None,
                    executor: Executor | None = None) -> tuple[PanelResult, Any]:
    """:func:`run_panel` against the results store ``outputs.db`` (one study per series),
    with the JSON ``outputs.json``, the panel report ``outputs.report`` and the panel
    figures ``outputs.figures`` written (:func:`write_panel_outputs`): the panel's one route
    from a config to results, as :func:`relulab.study.run_study` is one series'. Each
    series' own report is ``relulab report STUDY_ID``."""
    from pathlib import Path

    from relulab.study.outputs import Outputs, Written

    outputs = outputs or Outputs()
    store = None
    if outputs.db is not None:
        from relulab.store import Store

        store = Store(outputs.db)
    try:
        result = run_panel(config, panel, store=store, progress=progress,
                           on_series=on_series, executor=executor)
    finally:
        if store is not None:
            store.close()
    written = Written(db=Path(outputs.db) if store is not None else None)
    write_panel_outputs(result, outputs, written)
    return result, written


def write_panel_outputs(result: PanelResult, outputs: Any, written: Any) -> None:
    """Write the JSON, the panel figures (PNG) and the panel report that ``outputs`` names,
    recording each in ``written`` (whose ``db`` says where the series are stored, for the
    report's hint and the error messages)."""
    from relulab.study.outputs import write_files

    def figures(directory: Any) -> Any:
        from relulab.panel_figures import save_panel_figures  # matplotlib, only when asked

        return save_panel_figures(result, directory)

    def report() -> str:
        from relulab.report import render_panel_report

        return render_panel_report(result, db=written.db)

    kept = (f"; the results are stored in {written.db}, one study per series"
            if written.db is not None else "")
    write_files(outputs, written, kept=kept, to_json=result.to_json,
                save_figures=figures, render=report)
