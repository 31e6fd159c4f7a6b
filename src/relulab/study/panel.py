"""A study over a panel: the same grid on every series, and the answer pooled across them.

One plan covers every series and one executor runs it (in this process, or shards of
series on Ray); series of similar lengths share compiled programs, padded to shared row
counts. Each series is stored as a study of its own in the results store, so an
interrupted panel study resumes with only the series (and, within a series, the
activation groups) it lacks, and ``relulab runs`` lists every series. The series a study
cannot use (too short for its windows, a scale float32 cannot carry) are left out with a
warning each (:func:`relulab.data.fit_panel`).

Streaming: a series is analysed and stored as soon as its last group and its baselines are
in, and from then on only its :class:`SeriesSummary` stays in memory (its whole result too
while it is among the ``keep`` of largest spread), so a panel's memory does not grow with
its number of series.

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

__all__ = ["PanelResult", "SeriesSummary", "run_panel", "run_panel_study", "scores"]

# How many series' whole results a panel keeps in memory by default: the report's small
# multiples show this many (panel_figures.SMALL_MULTIPLES, which imports matplotlib;
# a test keeps the two equal).
KEEP_RESULTS = 12


@dataclass
class SeriesSummary:
    """One series of a panel as the pooled answer, the report and the JSON use it: its
    whole result (runs, forecasts, diagnostics) is in the results store, and in
    :attr:`PanelResult.detail` for the series of largest spread."""

    series_id: str
    study_id: str
    n: int
    median_rmse: dict[str, float]  # over the converged seeds; NaN when every seed diverged
    diverged: int  # runs that diverged
    verdicts: list[str]
    warnings: list[str]
    timing: dict[str, float]

    @classmethod
    def of(cls, series_id: str, result: StudyResult, activations: Any) -> SeriesSummary:
        frame = result.runs_frame
        med = frame[~frame["diverged"]].groupby("activation")["rmse"].median() \
            if len(frame) else pd.Series(dtype=float)
        return cls(series_id, result.study_id, int(result.values.size),
                   {a: float(med.get(a, np.nan)) for a in activations},
                   int(frame["diverged"].sum()) if len(frame) else 0,
                   [c.verdict for c in result.comparisons], list(result.warnings),
                   dict(result.timing))

    @property
    def spread(self) -> float:
        """How far apart the activations' median RMSEs lie: worst / best - 1 (NaN when
        none is finite)."""
        v = np.array([x for x in self.median_rmse.values() if math.isfinite(x)])
        if not v.size:
            return math.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(v.max() / v.min() - 1)


@dataclass
class PanelResult:
    """Every series' summary, the whole results of the series of largest spread, and the
    answer across them.

    ``series``: every series studied, in the panel's order. ``detail``: the whole
    :class:`StudyResult` of the ``keep`` series whose activations differ most (the report's
    small multiples); every series' whole result is in the results store
    (``Store.load(summary.study_id)``, ``relulab report STUDY_ID``). A panel holds only
    these in memory, whatever its number of series.
    """

    config: StudyConfig
    series: dict[str, SeriesSummary]
    detail: dict[str, StudyResult]
    pooled: Any  # relulab.pooled.Pooled, or None with fewer than two series
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)

    def scores(self) -> pd.DataFrame:
        return scores(self.series, self.config.activations)

    def spread(self) -> pd.Series:
        """Per series, how far apart the activations' median RMSEs lie
        (:attr:`SeriesSummary.spread`), largest first (ties in the panel's order, NaN last)."""
        return pd.Series({sid: s.spread for sid, s in self.series.items()},
                         dtype=float).sort_values(ascending=False, kind="stable")

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return float(v) if v is not None and math.isfinite(v) else None

        p = self.pooled
        return {
            "config": self.config.to_dict(),
            "series": {sid: {"study_id": r.study_id, "n": r.n,
                             "median_rmse": {a: num(v) for a, v in r.median_rmse.items()},
                             "comparisons": r.verdicts}
                       for sid, r in self.series.items()},
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


def scores(series: dict[str, SeriesSummary], activations: Any) -> pd.DataFrame:
    """Series x activation: the median test RMSE over the converged seeds (NaN when every
    seed of an activation diverged)."""
    rows = {sid: {a: s.median_rmse.get(a, np.nan) for a in activations}
            for sid, s in series.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(activations),
                                  dtype=float)


class _Largest:
    """The whole results of the ``keep`` series of largest spread seen so far (ties to the
    earlier series in the panel; NaN spreads last): the same ones in whatever order the
    series finish."""

    def __init__(self, keep: int | None, order: dict[str, int]) -> None:
        self.keep, self.order = keep, order
        self.results: dict[str, tuple[tuple[float, int], StudyResult]] = {}

    def offer(self, summary: SeriesSummary, result: StudyResult) -> None:
        s = summary.spread
        rank = (-s if math.isfinite(s) else math.inf, self.order[summary.series_id])
        self.results[summary.series_id] = (rank, result)
        if self.keep is not None and len(self.results) > self.keep:
            del self.results[max(self.results, key=lambda k: self.results[k][0])]

    def detail(self) -> dict[str, StudyResult]:
        return {sid: r for sid, (_, r) in sorted(self.results.items(),
                                                 key=lambda kv: self.order[kv[0]])}


def run_panel(config: StudyConfig, panel: Any, *, store: Any | None = None,
              progress: ProgressFn | None = None, executor: Executor | None = None,
              on_series: Any = None, keep: int | None = KEEP_RESULTS) -> PanelResult:
    """Run ``config`` on every series of ``panel`` that suits it, then pool.

    One plan covers every series, and one executor runs it: series of similar lengths
    share compiled programs (padded to shared row counts), and a distributed executor
    spreads the series over its workers. Each series is stored as its own study, every
    group the moment it arrives, so an interrupted panel resumes with only what it lacks.
    A series is analysed (and its analysis stored) as soon as its last group and its
    baselines are in; then only its summary stays in memory, and its whole result only
    while it is among the ``keep`` series of largest spread (``None``: every series').
    ``on_series(done, total, series_id)`` is called as each series is analysed (for a
    progress display); ``progress`` receives the executor's events.
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
    cached: dict[str, set[str]] = {sid: set() for sid in plan.series}
    if store is not None:
        for sid, sp in plan.series.items():
            series = sp.series
            study_ids[sid] = str(store.open_study(
                config, series_name=series.name, values=sp.values,
                dates=list(series.dates) if series.dates else None,
                data_hash=series.content_hash(), train_end=sp.train_end,
                test_start=sp.test_start))
            cached[sid] = store.completed_activations(study_ids[sid]) & set(config.activations)
    todo = plan.without(GroupKey(sid, a) for sid, acts in cached.items() for a in acts)
    n_cached = sum(map(len, cached.values()))
    emit("start", {"groups": len(todo.units), "cached": n_cached,
                   "activations": list(config.activations), "series": len(plan.series)})
    trained: dict[str, int] = dict.fromkeys(plan.series, 0)
    missing: dict[str, set[GroupKey]] = {sid: set() for sid in plan.series}
    for g in todo.groups():
        missing[g.series_id].add(g)
        trained[g.series_id] += 1
    # What waits for the rest of its series: runs trained (stored already) and baselines.
    runs: dict[str, list[Any]] = {sid: [] for sid in plan.series}
    baselines: dict[str, dict[str, Any]] = {}
    summaries: dict[str, SeriesSummary] = {}
    largest = _Largest(keep, {sid: i for i, sid in enumerate(plan.series)})

    def finish(sid: str) -> None:
        if missing[sid] or sid not in baselines or sid in summaries:
            return
        sp = plan.series[sid]
        got = runs.pop(sid)
        if cached[sid]:
            got += [r for r in store.load_runs(study_ids[sid]) if r.activation in cached[sid]]
        result = study_result(config, sp, got, baselines.pop(sid))
        result.study_id = study_ids.get(sid, "")
        result.timing = {"groups_trained": float(trained[sid]),
                         "groups_cached": float(len(config.activations) - trained[sid])}
        if store is not None:
            store.save_analysis(study_ids[sid], result)
        summaries[sid] = summary = SeriesSummary.of(sid, result, config.activations)
        largest.offer(summary, result)
        if on_series is not None:
            on_series(len(summaries) - 1, len(plan.series), sid)

    def keep_group(key: GroupKey, group: list[Any]) -> None:
        if store is not None:
            store.save_group(study_ids[key.series_id], key.activation, group)
        runs[key.series_id] += group
        missing[key.series_id].discard(key)
        finish(key.series_id)

    def keep_baselines(sid: str, b: dict[str, Any]) -> None:
        baselines[sid] = b
        finish(sid)

    stats = (executor or InProcessExecutor()).run(todo, keep_group, keep_baselines, emit)
    emit("analysis", {})
    series = {sid: summaries[sid] for sid in plan.series if sid in summaries}
    for sid, summary in series.items():
        said += [f"{sid}: {w}" for w in summary.warnings]
    table = scores(series, config.activations)
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
              "groups_trained": float(sum(trained.values())),
              "groups_cached": float(n_cached)}
    emit("done", {"wall_s": wall})
    return PanelResult(config, series, largest.detail(), pooled, said, timing)


def run_panel_study(config: StudyConfig, panel: Any, *, outputs: Any = None,
                    progress: ProgressFn | None = None, on_series: Any = None,
                    executor: Executor | None = None) -> tuple[PanelResult, Any]:
    """:func:`run_panel` against the results store ``outputs.db`` (one study per series),
    with the JSON ``outputs.json``, the panel report ``outputs.report`` and the panel
    figures ``outputs.figures`` written (:func:`write_panel_outputs`): the panel's one route
    from a config to results, as :func:`relulab.study.run_study` is one series'. Each
    series' own report is ``relulab report STUDY_ID``."""
    from pathlib import Path

    from relulab.study.outputs import Outputs, Written, prepare_outputs

    outputs = outputs or Outputs()
    folders = prepare_outputs(outputs)  # every destination, before any training
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
    written = Written(db=Path(outputs.db) if store is not None else None, folders=folders)
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

    kept = (f"the results are stored in {written.db}, one study per series (relulab "
            f"runs list --db {written.db})" if written.db is not None else "")
    write_files(outputs, written, kept=kept, to_json=result.to_json,
                save_figures=figures, render=report)
