"""The analysis of a study: its runs in, a :class:`~relulab.result.StudyResult` out.

Pure and deterministic (every bootstrap draw is seeded from the study seed and the names
involved): summaries over seeds, each activation compared with the reference, the
baselines beside them, and the warnings a reader must see (diverged runs, a reference
that is not in the study). Run again on the same runs, it gives the same result, which is
how a resumed study's analysis equals an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relulab import __version__
from relulab.config import StudyConfig
from relulab.result import RunRecord, StudyResult
from relulab.study.plan import SeriesPlan


def diverged_warnings(config: StudyConfig, runs: list[RunRecord]) -> list[str]:
    """One warning per activation with diverged runs, naming the seeds."""
    out = []
    for activation in config.activations:
        group = [r for r in runs if r.activation == activation]
        bad = [r.seed for r in group if r.diverged]
        if bad:
            out.append(
                f"{activation}: {len(bad)} of {len(group)} runs diverged "
                f"(non-finite loss or forecast; seed{'s' if len(bad) > 1 else ''} "
                f"{', '.join(map(str, bad))}); they are left out of the statistics; "
                "a lower --learning-rate may help"
            )
    return out


def analyse(config: StudyConfig, sp: SeriesPlan, runs: list[RunRecord],
            baselines: dict[str, dict[str, Any]]) -> StudyResult:
    """Summaries, comparisons against the reference and baselines of one series' runs.

    ``runs`` may come in any order; the result lists them by the config's activation
    order, then by seed.
    """
    from relulab import stats

    order = {a: i for i, a in enumerate(config.activations)}
    runs = sorted(runs, key=lambda r: (order.get(r.activation, len(order)), r.seed))
    warn = diverged_warnings(config, runs)
    values = np.asarray(sp.values, dtype=np.float64)
    series = sp.series
    result = StudyResult(
        config=config, series_name=series.name, values=values,
        dates=list(series.dates) if series.dates else None, data_hash=series.content_hash(),
        train_end=sp.train_end, test_start=sp.test_start, runs=runs, summary=None,
        comparisons=[], baselines={}, timing={}, warnings=warn, relulab_version=__version__,
    )
    result.summary = stats.summarize(result.runs_frame, n_boot=config.bootstrap,
                                     confidence=config.confidence, seed=0)
    reference = config.reference
    if reference not in config.activations:
        warn.append(f"reference activation {reference!r} is not in the study; "
                    f"comparing against {config.activations[0]!r} instead")
        reference = config.activations[0]
    y_test = values[sp.test_start:]
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
