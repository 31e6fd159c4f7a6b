"""A study's analysis from its runs: summary, comparisons with the reference, diagnostics.

One pure function, :func:`analyse`, of the config, the runs and the series: cheap and
deterministic (every bootstrap is seeded from the config and the names involved), so the
study calls it once after training and the results store calls it again to fill in what
a database written by an older relulab lacks (:func:`complete_comparisons`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from relulab.config import StudyConfig
from relulab.diagnostics import diagnose, flat_seeds
from relulab.errors import RelulabError
from relulab.result import (
    Comparison,
    Diagnostics,
    FlatRun,
    RunRecord,
    runs_frame,
    study_activations,
)

__all__ = ["Analysis", "analyse", "comparisons", "complete_comparisons", "reference_of",
           "step_errors"]


@dataclass
class Analysis:
    """The analysed fields of a :class:`~relulab.result.StudyResult`."""

    summary: pd.DataFrame
    comparisons: list[Comparison]
    diagnostics: Diagnostics
    warnings: list[str] = field(default_factory=list)  # said about the analysis itself


def reference_of(config: StudyConfig) -> tuple[str, list[str]]:
    """The activation compared against, and a warning when the config's reference is not
    in the study (the first activation stands in for it)."""
    if config.reference in config.activations:
        return config.reference, []
    first = config.activations[0]
    return first, [f"reference activation {config.reference!r} is not in the study; "
                   f"comparing against {first!r} instead"]


def comparisons(config: StudyConfig, runs: Sequence[RunRecord], y_test: np.ndarray,
                reference: str, flat_runs: Sequence[FlatRun] = ()) -> list[Comparison]:
    """Every activation of the config but ``reference`` against ``reference``, their
    p-values adjusted over these comparisons (``config.correction``); ``flat_runs``
    (``Diagnostics.flat_runs``) are named in the comparisons they enter."""
    from relulab import stats

    ref_runs = [r for r in runs if r.activation == reference]
    out = []
    for activation in config.activations:
        if activation == reference:
            continue
        act_runs = [r for r in runs if r.activation == activation]
        out.append(stats.compare(
            act_runs, ref_runs, np.stack([r.forecast for r in act_runs]),
            np.stack([r.forecast for r in ref_runs]), y_test,
            activation=activation, reference=reference,
            confidence=config.confidence, n_boot=config.bootstrap, seed=0,
            equivalence_margin=config.equivalence_margin,
            flat_a=flat_seeds(flat_runs, activation), flat_b=flat_seeds(flat_runs, reference),
            horizon=config.horizon,
        ))
    return stats.adjust_comparisons(out, correction=config.correction,
                                    confidence=config.confidence)


def task_comparisons(config: StudyConfig, runs: Sequence[RunRecord], y_test: np.ndarray,
                     reference: str) -> list[Comparison]:
    """A supervised task's comparisons (:func:`relulab.stats.compare_task`): every
    activation but ``reference`` against it on the task's headline metric, the paired test
    on per-example losses, p-values adjusted over the family."""
    from relulab import stats
    from relulab.metrics import HEADLINE

    task = config.task
    classes = None
    if task == "classification":
        sizes = {r.forecast.size for r in runs if r.forecast.size}
        classes = sizes.pop() // y_test.size if sizes else 1

    def losses(arm: list[RunRecord]) -> np.ndarray:
        rows = []
        for r in arm:
            pred = r.forecast.reshape(-1, classes) if classes else r.forecast
            if r.diverged or not np.all(np.isfinite(pred)):
                rows.append(np.full(y_test.size, np.nan))
            else:
                rows.append(stats.example_losses(task, y_test, pred))
        return np.stack(rows) if rows else np.empty((0, y_test.size))

    ref_runs = [r for r in runs if r.activation == reference]
    out = [stats.compare_task(
        act_runs, ref_runs, losses(act_runs), losses(ref_runs), metric=HEADLINE[task],
        task=task, activation=activation, reference=reference,
        confidence=config.confidence, equivalence_margin=config.equivalence_margin)
        for activation in config.activations if activation != reference
        for act_runs in [[r for r in runs if r.activation == activation]]]
    return stats.adjust_comparisons(out, correction=config.correction,
                                    confidence=config.confidence)


def analyse(config: StudyConfig, runs: Sequence[RunRecord], values: np.ndarray,
            test_start: int) -> Analysis:
    """Summary over seeds, comparisons with the reference and diagnostics of ``runs``;
    ``values[test_start:]`` is the test region the forecasts (or, for a supervised task,
    the predictions) are scored on."""
    from relulab import stats
    from relulab.metrics import columns

    metric_columns = columns(config.task)
    summary = stats.summarize(runs_frame(list(runs), metric_columns), n_boot=config.bootstrap,
                              confidence=config.confidence, seed=0, columns=metric_columns)
    reference, warnings = reference_of(config)
    y_test = np.asarray(values)[test_start:]
    diagnostics = diagnose(runs, study_activations(config.activations, runs))
    if config.task == "forecast":
        found = comparisons(config, runs, y_test, reference, diagnostics.flat_runs)
    else:
        found = task_comparisons(config, runs, y_test, reference)
    return Analysis(summary=summary, comparisons=found, diagnostics=diagnostics,
                    warnings=warnings)


def step_errors(config: StudyConfig, runs: Sequence[RunRecord],
                baselines: dict[str, dict], values: np.ndarray, train_end: int,
                test_start: int) -> dict[str, dict[str, list[float]]]:
    """The error ``h`` steps ahead (``metrics.STEP_METRICS``, ``h = 1 .. horizon``) of each
    activation, the median over its converged seeds, and of each baseline that has a
    forecast: ``{name: {metric: [...]}}``; empty for one-step forecasts (nothing to split)
    and for supervised tasks."""
    from relulab.metrics import by_step, path_steps

    H = int(config.horizon)
    if H == 1 or config.task != "forecast":
        return {}
    v = np.asarray(values, dtype=np.float64)
    y = v[test_start:]
    steps = path_steps(y.size, H, config.test_size)
    context = {"y_train": v[:train_end], "season": config.season}
    out: dict[str, dict[str, list[float]]] = {}
    for activation in study_activations(config.activations, runs):
        each = [by_step(y, r.forecast, steps, H, **context) for r in runs
                if r.activation == activation and not r.diverged
                and np.all(np.isfinite(r.forecast))]
        if each:
            out[activation] = {m: [float(x) for x in np.median([e[m] for e in each], axis=0)]
                               for m in each[0]}
    for name, b in baselines.items():
        forecast = np.asarray(b.get("forecast", []), dtype=np.float64)
        if forecast.shape == y.shape and np.all(np.isfinite(forecast)):
            out[name] = {m: [float(x) for x in vals]
                         for m, vals in by_step(y, forecast, steps, H, **context).items()}
    return out


def complete_comparisons(config: StudyConfig, runs: Sequence[RunRecord], values: np.ndarray,
                         test_start: int, stored: Sequence[Comparison]) -> list[Comparison]:
    """``stored`` comparisons with the verdict's parts (``n_pairs``, the volatility
    interval, ``accuracy``, ``volatility``, ``seed_interval``) filled in where they were
    not recorded, recomputed from the runs; their stored numbers and sentence are kept."""
    if all(c.accuracy for c in stored) or config.task != "forecast":
        return list(stored)
    y_test = np.asarray(values)[test_start:]
    # The stored sentences read the unadjusted DM p (adjustment came later): the parts
    # filled in beside them must read it too, or a code would contradict its sentence.
    unadjusted = config.replace(correction="none")
    fresh: dict[tuple[str, str], Comparison] = {}
    for reference in dict.fromkeys(c.reference for c in stored if not c.accuracy):
        try:
            found = comparisons(unadjusted, runs, y_test, reference)
        except (RelulabError, ValueError):  # runs that cannot be compared: keep what is stored
            continue
        fresh.update({(f.activation, reference): f for f in found})
    out = []
    for c in stored:
        f = fresh.get((c.activation, c.reference))
        if c.accuracy or f is None:
            out.append(c)
            continue
        out.append(dataclasses.replace(
            c, n_pairs=f.n_pairs, vol_rel_lo=f.vol_rel_lo, vol_rel_hi=f.vol_rel_hi,
            accuracy=f.accuracy, volatility=f.volatility, seed_interval=f.seed_interval))
    return out


def diverged_warnings(diverged: dict[str, list[int]], runs: Sequence[RunRecord]) -> list[str]:
    """One warning per activation with diverged runs (``Diagnostics.diverged``: activation
    to seeds), naming the seeds and how many of the activation's runs they are."""
    out = []
    for activation, bad in diverged.items():
        total = sum(r.activation == activation for r in runs)
        out.append(
            f"{activation}: {len(bad)} of {total} runs diverged "
            f"(non-finite loss or forecast; seed{'s' if len(bad) > 1 else ''} "
            f"{', '.join(map(str, bad))}); they are left out of the statistics; "
            "a lower --learning-rate may help"
        )
    return out
