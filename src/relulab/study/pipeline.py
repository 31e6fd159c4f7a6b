"""The study pipeline: a plan over any number of series, run, stored and analysed.

There is one pipeline; a single series is a panel of one (as NeuralForecast's ``fit(df)``
takes one series or many), and ``--seeds auto`` runs it batch after batch
(:mod:`relulab.study.adaptive`). :func:`run_plan`:

1. opens every series' study in the store (:class:`~relulab.study.recorder.Recorder`) and
   drops from the plan the groups stored already (an interrupted study resumes);
2. hands the rest to the executor, which trains, scores and hands back each group (stored
   at once) and each series' baselines;
3. analyses a series the moment its last group and its baselines are in (pure:
   :func:`series_result`), stores the analysis, and keeps only its
   :class:`SeriesSummary` (and, among the ``keep`` series where the activations differ
   most, its whole result), so a panel's memory does not grow with its number of series;
4. pools the answer across series (:func:`relulab.pooled.pool`, pure): ranks, wins against
   the reference, Friedman's test, post-hoc tests and the critical difference.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from relulab import __version__
from relulab.config import StudyConfig
from relulab.result import PANEL_DETAIL, RunRecord, StudyResult
from relulab.study import events
from relulab.study.executor import Executor
from relulab.study.plan import GroupKey, Plan, SeriesPlan
from relulab.study.recorder import Recorder, timing

__all__ = ["PanelResult", "SeriesSummary", "baseline_scores", "run_one", "run_plan",
           "scores", "series_result"]



@dataclass
class SeriesSummary:
    """One series of a panel as the pooled answer, the report and the JSON use it: its
    whole result (runs, forecasts, diagnostics) is in the results store, and in
    :attr:`PanelResult.detail` for the series of largest spread."""

    series_id: str
    study_id: str
    n: int
    # over the converged seeds; NaN when every seed diverged. The task's headline metric
    # (relulab.metrics.HEADLINE): RMSE for a forecast, log loss for a classification.
    median_rmse: dict[str, float]
    diverged: int  # runs that diverged
    verdicts: list[str]
    warnings: list[str]
    timing: dict[str, float]
    # each baseline's test score on the same metric (NaN where it could not be fitted)
    baseline_rmse: dict[str, float] = field(default_factory=dict)
    # over paths of more than one step: each activation's (median over seeds) and each
    # baseline's RMSE h steps ahead (StudyResult.by_step), h = 1..H; empty at horizon 1
    step_rmse: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def of(cls, series_id: str, result: StudyResult, activations: Any) -> SeriesSummary:
        from relulab.metrics import HEADLINE

        frame = result.runs_frame
        headline = HEADLINE[result.task]
        med = frame[~frame["diverged"]].groupby("activation")[headline].median() \
            if len(frame) else pd.Series(dtype=float)
        return cls(series_id, result.study_id, int(result.values.size),
                   {a: float(med.get(a, np.nan)) for a in activations},
                   int(frame["diverged"].sum()) if len(frame) else 0,
                   [c.verdict for c in result.comparisons], list(result.warnings),
                   dict(result.timing),
                   {name: float(b.get("metrics", {}).get(headline, np.nan))
                    for name, b in result.baselines.items()},
                   {name: [float(v) for v in m.get("rmse", [])]
                    for name, m in result.by_step.items()})

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
    small multiples; every series' with ``keep=None``); every series' whole result is in
    the results store (``Store.load(summary.study_id)``, ``relulab report STUDY_ID``).
    """

    config: StudyConfig
    series: dict[str, SeriesSummary]
    detail: dict[str, StudyResult]
    pooled: Any  # relulab.pooled.Pooled, or None with fewer than two series
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    # a comparison of scopes (compared_scopes): the arms ("relu (global)") ranked in place
    # of the config's activations, and the scopes they come from; empty otherwise
    arms: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    @property
    def activations(self) -> list[str]:
        """What is ranked on each series: the config's activations, or a comparison's
        arms."""
        return list(self.arms or self.config.activations)

    def scores(self) -> pd.DataFrame:
        return scores(self.series, self.activations)

    def baselines(self) -> list[Any]:
        """Each baseline across the series against the activations
        (:func:`relulab.pooled.baselines`), strongest first."""
        from relulab.pooled import baselines

        return baselines(self.scores(), baseline_scores(self.series))

    def baseline_words(self) -> str:
        """The strongest baseline across the series and whether any activation beats it on
        most of them (:func:`relulab.verdicts.panel_baseline_words`); "" without one."""
        from relulab.verdicts import panel_baseline_words

        strongest = next((b for b in self.baselines() if b.strongest), None)
        if strongest is None:
            return ""
        return panel_baseline_words(strongest.baseline, strongest.ratio_to_naive,
                                    strongest.series, strongest.median, strongest.wins)

    def by_step(self) -> list[Any]:
        """The error by steps ahead over the series, relative to the naive path's
        (:func:`relulab.pooled.by_step`); empty at horizon 1."""
        from relulab.pooled import by_step

        if self.config.horizon <= 1:
            return []
        return by_step({sid: s.step_rmse for sid, s in self.series.items()},
                       self.activations, self.config.horizon)

    def spread(self) -> pd.Series:
        """Per series, how far apart the activations' median RMSEs lie
        (:attr:`SeriesSummary.spread`), largest first (ties in the panel's order, NaN last)."""
        return pd.Series({sid: s.spread for sid, s in self.series.items()},
                         dtype=float).sort_values(ascending=False, kind="stable")

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return float(v) if v is not None and math.isfinite(v) else None

        return {
            "config": self.config.to_dict(),
            "series": {sid: {"study_id": r.study_id, "n": r.n,
                             "median_rmse": {a: num(v) for a, v in r.median_rmse.items()},
                             "baseline_rmse": {b: num(v) for b, v in r.baseline_rmse.items()},
                             **({"step_rmse": {k: [num(v) for v in vs]
                                               for k, vs in r.step_rmse.items()}}
                                if r.step_rmse else {}),
                             "comparisons": r.verdicts}
                       for sid, r in self.series.items()},
            "baselines": [{k: (num(v) if isinstance(v, float) else v)
                           for k, v in vars(b).items()} for b in self.baselines()],
            "pooled": pooled_json(self.pooled),
            **({"by_step": [{"name": s.name, "baseline": s.baseline,
                             "ratio_to_naive": [num(v) for v in s.ratio_to_naive],
                             "series": s.series} for s in steps]}
               if (steps := self.by_step()) else {}),
            "warnings": self.warnings,
            "timing": {k: num(v) for k, v in self.timing.items()},
        }


def pooled_json(p: Any) -> dict[str, Any] | None:
    """A :class:`relulab.pooled.Pooled` as JSON (None for none)."""
    def num(v: float) -> float | None:
        return float(v) if v is not None and math.isfinite(v) else None

    if p is None:
        return None
    return {"reference": p.reference, "series": p.series,
            "friedman_stat": num(p.friedman_stat), "friedman_p": num(p.friedman_p),
            "friedman_f": num(p.friedman_f), "friedman_f_p": num(p.friedman_f_p),
            "critical_difference": num(p.critical_difference),
            "activations": [{k: (num(v) if isinstance(v, float) else v)
                             for k, v in vars(a).items()} for a in p.activations],
            "words": p.words}


def compared_scopes(results: dict[str, PanelResult]) -> PanelResult:
    """Local and global models as one panel of arms: on each series every scope's
    activations as arms (``"relu (global)"``), each with its median test RMSE and its error
    by steps ahead, the baselines of the first scope (the scopes share them); pooled as one
    comparison with the reference's first-scope model (``relulab.pooled.pool``: ranks,
    wins, Friedman) over the series where every arm has a score, None with fewer than two.
    Series studied in some scope only are left out; each series' study id is the first
    scope's."""
    from relulab.pooled import pool

    first = next(iter(results.values()))
    config = first.config

    def arm(a: str, scope: str) -> str:
        return f"{a} ({scope})"

    arms = tuple(arm(a, scope) for scope, r in results.items() for a in r.config.activations)
    series: dict[str, SeriesSummary] = {}
    for sid, own in first.series.items():
        if not all(sid in r.series for r in results.values()):
            continue
        median: dict[str, float] = {}
        steps = {k: v for k, v in own.step_rmse.items() if k not in config.activations}
        for scope, r in results.items():
            s = r.series[sid]
            for a in r.config.activations:
                median[arm(a, scope)] = s.median_rmse.get(a, np.nan)
                if a in s.step_rmse:
                    steps[arm(a, scope)] = s.step_rmse[a]
        series[sid] = SeriesSummary(
            sid, own.study_id, own.n, median,
            sum(r.series[sid].diverged for r in results.values()), [], [], {},
            dict(own.baseline_rmse), steps)
    table = scores(series, arms).dropna()
    pooled = (pool(table, arm(config.reference, next(iter(results))),
                   confidence=config.confidence, n_boot=config.bootstrap)
              if len(table) >= 2 else None)
    timing: dict[str, float] = {}
    for r in results.values():
        for k, v in r.timing.items():
            timing[k] = timing.get(k, 0.0) + v
    return PanelResult(config, series, {}, pooled,
                       [f"{scope}: {w}" for scope, r in results.items() for w in r.warnings],
                       timing, arms, tuple(results))


def scores(series: dict[str, SeriesSummary], activations: Any) -> pd.DataFrame:
    """Series x activation: the median test RMSE over the converged seeds (NaN when every
    seed of an activation diverged)."""
    rows = {sid: {a: s.median_rmse.get(a, np.nan) for a in activations}
            for sid, s in series.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(activations),
                                  dtype=float)


def baseline_scores(series: dict[str, SeriesSummary]) -> pd.DataFrame:
    """Series x baseline: each baseline's test RMSE (NaN where it was not fitted)."""
    rows = {sid: s.baseline_rmse for sid, s in series.items()}
    names = list(dict.fromkeys(b for s in series.values() for b in s.baseline_rmse))
    return pd.DataFrame.from_dict(rows, orient="index", columns=names, dtype=float)


def baseline_warnings(baselines: dict[str, dict[str, Any]]) -> list[str]:
    """One warning per reason a baseline could not be fitted, naming the baselines it
    stopped (AutoETS and AutoARIMA without statsforecast: one line)."""
    why: dict[str, list[str]] = {}
    for name, b in baselines.items():
        if b.get("unavailable"):
            why.setdefault(b["unavailable"], []).append(name)
    return [f"{' and '.join(names)} baseline{'s' if len(names) > 1 else ''} unavailable: "
            f"{reason}" for reason, names in why.items()]


def panel_warnings(done: dict[str, SeriesSummary]) -> list[str]:
    """Each series' warnings, named by series; one that every series of two or more says
    (a missing package) is said once, for every series."""
    shared = (set.intersection(*(set(s.warnings) for s in done.values()))
              if len(done) > 1 else set())
    said = [f"every series: {w}" for w in dict.fromkeys(
        w for s in done.values() for w in s.warnings if w in shared)]
    return [*said, *(f"{sid}: {w}" for sid, s in done.items()
                     for w in s.warnings if w not in shared)]


# An activation whose median RMSE is this many times the naive forecast's cannot follow the
# series: comparing such arms answers nothing.
FAR_BEHIND_NAIVE = 1.5


def behind_naive_warnings(summary: pd.DataFrame, baselines: dict[str, dict[str, Any]],
                          config: StudyConfig, values: np.ndarray | None = None,
                          train_end: int = 0, test_start: int = 0) -> list[str]:
    """One warning when every activation's median test RMSE is at least
    :data:`FAR_BEHIND_NAIVE` times the naive forecast's: the models do not follow the
    series, and which activation is better among them says nothing about the question.
    With the global scaler and a test region partly outside the train region's range (a
    trend), it names the scalers that follow one; otherwise it suggests training longer."""
    naive = baselines.get("naive", {}).get("metrics", {}).get("rmse")
    if config.task != "forecast" or naive is None or not math.isfinite(naive) or naive <= 0:
        return []
    rows = summary[summary["metric"] == "rmse"] if len(summary) else summary
    ratios = {r.activation: r.median / naive for r in rows.itertuples(index=False)}
    if not ratios or not all(math.isfinite(v) and v >= FAR_BEHIND_NAIVE
                             for v in ratios.values()):
        return []
    told = ", ".join(f"{a} {v:.1f}x" for a, v in ratios.items())
    outside = 0.0
    if values is not None and 0 < train_end < test_start < len(values):
        lo, hi = float(np.min(values[:train_end])), float(np.max(values[:train_end]))
        test = np.asarray(values[test_start:], dtype=float)
        outside = float(np.mean((test < lo) | (test > hi)))
    if config.scaler == "global" and outside >= 0.5:
        fix = (f"; {outside:.0%} of the test region lies outside the train region's range, "
               "which the global min-max scaling maps the models to: try --scaler "
               "window-minmax or --scaler diff")
    else:
        fix = "; more epochs or another learning rate may let them learn it"
    return [f"every activation is far behind the naive forecast (median RMSE {told} the "
            f"naive one's): the models do not follow this series, so the comparison of "
            f"activations answers nothing here{fix}"]


def series_result(config: StudyConfig, sp: SeriesPlan, runs: list[RunRecord],
                  baselines: dict[str, dict[str, Any]]) -> StudyResult:
    """Summaries, comparisons, diagnostics and warnings of one series' runs, with its
    baselines; the runs are listed by the config's activation order, then by seed.

    Pure and deterministic (every bootstrap draw is seeded from the study seed and the
    names involved): the same runs in any order give the same result, which is how a
    resumed study's analysis equals an uninterrupted one."""
    from relulab.analysis import analyse, diverged_warnings, step_errors
    from relulab.diagnostics import flat_warnings

    order = {a: i for i, a in enumerate(config.activations)}
    runs = sorted(runs, key=lambda r: (order.get(r.activation, len(order)), r.seed))
    values = np.asarray(sp.values, dtype=np.float64)
    analysis = analyse(config, runs, values, sp.test_start)
    series = sp.series
    return StudyResult(
        config=config, series_name=series.name, values=values,
        dates=list(series.dates) if series.dates else None, data_hash=series.content_hash(),
        train_end=sp.train_end, test_start=sp.test_start, runs=runs,
        summary=analysis.summary, comparisons=analysis.comparisons, baselines=baselines,
        timing={}, warnings=[*diverged_warnings(analysis.diagnostics.diverged, runs),
                             *(flat_warnings(analysis.diagnostics.flat_runs, runs)
                               if config.task == "forecast" else []),
                             *analysis.warnings, *baseline_warnings(baselines),
                             *behind_naive_warnings(analysis.summary, baselines, config,
                                                    values, sp.train_end, sp.test_start)],
        relulab_version=__version__, diagnostics=analysis.diagnostics,
        by_step=step_errors(config, runs, baselines, values, sp.train_end, sp.test_start),
    )


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


class _Series:
    """Each series' runs and baselines until both are complete; then its analysis, stored,
    and its summary (the pipeline's step 3)."""

    def __init__(self, plan: Plan, todo: Plan, recorder: Recorder, keep: int | None,
                 progress: events.ProgressFn) -> None:
        self.plan, self.recorder, self.progress = plan, recorder, progress
        config = plan.config
        self.missing: dict[str, set[GroupKey]] = {sid: set() for sid in plan.series}
        for g in todo.groups():
            self.missing[g.series_id].add(g)
        self.trained = {sid: len(m) for sid, m in self.missing.items()}
        self.cached = {sid: [a for a in config.activations
                             if GroupKey(sid, a) in todo.done] for sid in plan.series}
        self.runs: dict[str, list[RunRecord]] = {sid: [] for sid in plan.series}
        self.baselines: dict[str, dict[str, Any]] = {}
        self.summaries: dict[str, SeriesSummary] = {}
        self.largest = _Largest(keep, {sid: i for i, sid in enumerate(plan.series)})

    def group(self, key: GroupKey, runs: list[RunRecord]) -> None:
        self.recorder.group(key, runs)
        self.runs[key.series_id] += runs
        self.missing[key.series_id].discard(key)
        self._finish(key.series_id)

    def baseline(self, series_id: str, baselines: dict[str, Any]) -> None:
        self.baselines[series_id] = baselines
        self._finish(series_id)

    def _finish(self, sid: str) -> None:
        if self.missing[sid] or sid not in self.baselines or sid in self.summaries:
            return
        config = self.plan.config
        runs = self.runs.pop(sid) + self.recorder.stored_runs(sid, self.cached[sid])
        result = series_result(config, self.plan.series[sid], runs, self.baselines.pop(sid))
        result.timing = {"groups_trained": float(self.trained[sid]),
                         "groups_cached": float(len(self.cached[sid]))}
        self.recorder.analysis(sid, result)
        self.summaries[sid] = summary = SeriesSummary.of(sid, result, config.activations)
        self.largest.offer(summary, result)
        self.progress(events.SeriesDone(len(self.summaries), len(self.plan.series), sid))


def run_plan(plan: Plan, *, recorder: Recorder, executor: Executor,
             progress: events.ProgressFn = events.quiet,
             keep: int | None = PANEL_DETAIL) -> PanelResult:
    """Run ``plan`` (one series or many) through ``executor``, recording it with
    ``recorder``, analysing each series as it completes, then pool (module docstring).
    ``keep``: how many series keep their whole result in memory (``None``: all)."""
    t0 = time.perf_counter()
    config = plan.config
    todo = plan.without(recorder.open(plan))
    series = _Series(plan, todo, recorder, keep, progress)
    progress(events.Started(len(todo.units), len(todo.done), tuple(config.activations),
                            len(plan.series)))
    stats = executor.run(todo, series.group, series.baseline, progress)
    progress(events.Analysing())
    done = {sid: series.summaries[sid] for sid in plan.series if sid in series.summaries}
    pooled, said = _pooled(config, done)
    wall = time.perf_counter() - t0
    progress(events.Finished(wall))
    warnings = [*plan.warnings, *panel_warnings(done), *said]
    return PanelResult(config, done, series.largest.detail(), pooled, warnings,
                       timing(stats, wall, sum(series.trained.values()), len(todo.done)))


def run_one(plan: Plan, *, recorder: Recorder, executor: Executor,
            progress: events.ProgressFn = events.quiet) -> StudyResult:
    """:func:`run_plan` on a plan of one series: that series' whole result, carrying the
    run's timing (a single series is a panel of one)."""
    panel = run_plan(plan, recorder=recorder, executor=executor, progress=progress,
                     keep=None)
    (result,) = panel.detail.values()
    result.timing = panel.timing
    return result


def _pooled(config: StudyConfig, done: dict[str, SeriesSummary]) -> tuple[Any, list[str]]:
    """The answer across series (None for fewer than two) and what to say about it."""
    from relulab.pooled import pool

    table = scores(done, config.activations)
    complete = table.dropna()
    if len(config.activations) < 2 or len(complete) < 2:
        short = len(done) >= 2 and len(config.activations) < 2
        return None, ["no pooled answer: pass at least two activations"] if short else []
    reference = config.reference if config.reference in config.activations \
        else config.activations[0]
    said = []
    if len(complete) < len(table):
        said.append(f"{len(table) - len(complete)} series left out of the pooled answer: "
                    "every run of some activation diverged there")
    return pool(table, reference, confidence=config.confidence, n_boot=config.bootstrap), said
