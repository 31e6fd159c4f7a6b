"""A study over a panel: the same grid on every series, and the answer pooled across them.

Each series is a study of its own (:class:`~relulab.study.runner.Study`): stored as its own
study in the results store, so an interrupted panel study resumes with only the series
(and, within a series, the activation groups) it lacks, and ``relulab runs`` lists every
series. Series of the same length share their compiled programs (the compile cache keys on
shapes). The series a study cannot use (too short for its windows, a scale float32 cannot
carry) are left out with a warning each (:func:`relulab.data.fit_panel`).

Pooled (:func:`relulab.pooled.pool`, pure): each activation's median test RMSE per series
ranked across activations, wins against the reference, Friedman's test, post-hoc tests and
the critical difference, in words.

Not yet here: one compiled program for series of different lengths (padding and masks),
and a distributed executor; both plug into the plan/executor seam.
"""

from __future__ import annotations

import math
import time
import warnings
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

    ``on_series(index, total, series_id)`` is called before each series (for a progress
    display); ``progress`` receives each series' study events.
    """
    from relulab.data import fit_panel
    from relulab.pooled import pool
    from relulab.study.runner import Study

    kept, notes = fit_panel(panel, config)
    results: dict[str, StudyResult] = {}
    said: list[str] = list(notes)
    t0 = time.perf_counter()
    for i, (sid, series) in enumerate(kept.series.items()):
        if on_series is not None:
            on_series(i, len(kept), sid)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results[sid] = Study(config, series, executor=executor).run(store=store,
                                                                        progress=progress)
        said += [f"{sid}: {w.message}" for w in caught]
    table = scores(results, config.activations)
    reference = config.reference if config.reference in config.activations \
        else config.activations[0]
    pooled = None
    complete = table.dropna()
    if len(config.activations) >= 2 and len(complete) >= 2:
        pooled = pool(table, reference, confidence=config.confidence,
                      n_boot=config.bootstrap)
        if len(complete) < len(table):
            said.append(f"{len(table) - len(complete)} series left out of the pooled answer: "
                        "every run of some activation diverged there")
    elif len(kept) >= 2:
        said.append("no pooled answer: pass at least two activations")
    timing = {"wall_s": time.perf_counter() - t0,
              "compile_s": sum(r.timing.get("compile_s", 0.0) for r in results.values()),
              "train_s": sum(r.timing.get("train_s", 0.0) for r in results.values())}
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
    import json
    from pathlib import Path

    from relulab.errors import RelulabError
    from relulab.files import write_text

    kept = (f"; the results are stored in {written.db}, one study per series"
            if written.db is not None else "")
    if outputs.json is not None:
        path = Path(outputs.json)
        write_text(path, json.dumps(result.to_json(), indent=1, allow_nan=False),
                   what="the JSON", fix=f"choose a writable path{kept}")
        written.json = path
    if outputs.figures is not None:
        from relulab.panel_figures import save_panel_figures

        try:
            written.figures = save_panel_figures(result, outputs.figures)
        except OSError as exc:
            raise RelulabError(f"cannot write the figures to {outputs.figures} "
                               f"({exc.strerror or exc}); choose a writable folder{kept}"
                               ) from None
    if outputs.report is not None:
        from relulab.report import render_panel_report

        path = Path(outputs.report)
        write_text(path, render_panel_report(result, db=written.db), what="the report",
                   fix=f"choose a writable path{kept}")
        written.report = path
