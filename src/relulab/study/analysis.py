"""A study's result from its runs: :func:`relulab.analysis.analyse` around one series.

Pure and deterministic (every bootstrap draw is seeded from the study seed and the names
involved): run again on the same runs, in any order, it gives the same result, which is
how a resumed study's analysis equals an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relulab import __version__
from relulab.analysis import analyse, diverged_warnings
from relulab.config import StudyConfig
from relulab.diagnostics import flat_warnings
from relulab.result import RunRecord, StudyResult
from relulab.study.plan import SeriesPlan


def baseline_warnings(baselines: dict[str, dict[str, Any]]) -> list[str]:
    """One warning per baseline that could not be fitted, with why."""
    return [f"{name} baseline unavailable: {b['unavailable']}"
            for name, b in baselines.items() if b.get("unavailable")]


def study_result(config: StudyConfig, sp: SeriesPlan, runs: list[RunRecord],
                 baselines: dict[str, dict[str, Any]]) -> StudyResult:
    """Summaries, comparisons, diagnostics and warnings of one series' runs, with its
    baselines; the runs are listed by the config's activation order, then by seed."""
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
                             *flat_warnings(analysis.diagnostics.flat_runs, runs),
                             *analysis.warnings,
                             *baseline_warnings(baselines)],
        relulab_version=__version__, diagnostics=analysis.diagnostics,
    )
