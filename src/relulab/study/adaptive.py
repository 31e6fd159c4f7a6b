"""Seeds until the answer is precise: ``--seeds auto --target-width W``.

How many seeds a comparison needs depends on how much the seeds disagree, which is known
only after training some. :func:`run_adaptive` trains seeds in batches (each batch one
compiled program per activation, the same program for every batch), and after each batch
analyses every seed so far; it stops when every comparison's interval of the relative
RMSE difference is narrower than ``target_width`` (e.g. 0.05: the interval spans less
than 5 percentage points), or when ``max_seeds`` is reached.

**It stops on precision, never on significance.** Stopping as soon as a test rejects (or
as soon as an interval excludes 0) is optional stopping: checked after every batch, a true
null is eventually "rejected" far more often than the nominal 5% (Armitage, McPherson &
Rowe 1969). The width of an interval does not depend on where it lies, so stopping when it
is narrow enough picks no side, and the final interval, test and verdict keep close to
their usual meaning (Kruschke 2013 recommends the same "precision as the goal" rule). The
verdicts still adjust for the study's several comparisons (relulab.stats).

A model's numbers do not depend on the batch it trains in, so the runs of seeds 0-29
trained in three batches equal those of one 30-seed study: each batch is stored as its own
study (an interrupted run resumes batch by batch), and the result is stored as the study
with every seed, exactly as if it had been run with that many seeds.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.result import RunRecord, StudyResult
from relulab.store import get_store
from relulab.study.events import ProgressFn, quiet
from relulab.study.executor import Executor, get_executor
from relulab.study.pipeline import run_one, series_result
from relulab.study.plan import make_plan
from relulab.study.recorder import Recorder, add_timing
from relulab.study.runner import resolve_series

__all__ = ["run_adaptive", "widest_interval"]


def widest_interval(result: StudyResult) -> float:
    """The widest interval of the relative RMSE difference over the comparisons (inf when
    one has no interval yet)."""
    widths = [c.rel_hi - c.rel_lo for c in result.comparisons]
    return max((w if math.isfinite(w) else math.inf for w in widths), default=math.inf)


def check_policy(config: StudyConfig, target_width: float, batch: int, max_seeds: int
                 ) -> None:
    """Refuse, in one line, a stopping rule that cannot work."""
    if not (math.isfinite(target_width) and target_width > 0):
        raise RelulabError(f"--target-width must be a positive number, got {target_width}; "
                           "pass e.g. 0.05 (intervals narrower than 5 percentage points)")
    if batch < 2 or max_seeds < batch:
        raise RelulabError(f"--seed-batch must be at least 2 and --max-seeds at least the "
                           f"batch, got {batch} and {max_seeds}")
    if len(config.activations) < 2:
        raise RelulabError("--seeds auto stops when the comparisons are precise; pass at "
                           "least two activations (--activations tanh,relu)")


def run_adaptive(config: StudyConfig, series: Any = None, *, target_width: float,
                 batch: int = 10, max_seeds: int = 100, store: Any = None,
                 progress: ProgressFn = quiet,
                 executor: Executor | None = None) -> StudyResult:
    """Train ``batch`` seeds at a time until every comparison's interval is narrower than
    ``target_width`` or ``max_seeds`` seeds have trained (module docstring). The result is
    the study of every seed trained, with ``result.adaptive`` saying how it got there.
    Each batch is one run of the study pipeline (:func:`relulab.study.pipeline.run_one`),
    stored as a study of its own (so an interrupted run resumes batch by batch)."""
    check_policy(config, target_width, batch, max_seeds)
    loaded = resolve_series(config, series)  # loaded once, for every batch
    recorder, executor = Recorder(get_store(store)), get_executor(executor)
    runs: list[RunRecord] = []
    log: list[dict[str, Any]] = []
    n, first = 0, config.seed_offset
    timing: dict[str, float] = {}
    while True:
        size = min(batch, max_seeds - n)
        plan = make_plan(config.replace(seeds=size, seed_offset=first + n), loaded)
        part = run_one(plan, recorder=recorder, executor=executor, progress=progress)
        timing = add_timing(timing, part.timing)
        runs += part.runs
        n += size
        (sp,) = plan.series.values()
        result = series_result(config.replace(seeds=n, seed_offset=first), sp, runs,
                               part.baselines)
        widest = widest_interval(result)
        log.append({"seeds": n, "widest": None if math.isinf(widest) else widest})
        if widest < target_width or n >= max_seeds:
            stopped = "precise" if widest < target_width else "max_seeds"
            break
    result.adaptive = {"target_width": target_width, "batch": batch, "max_seeds": max_seeds,
                       "seeds": n, "stopped": stopped, "batches": log}
    if stopped == "max_seeds":
        result.warnings.append(
            f"--seeds auto stopped at --max-seeds {max_seeds} with the widest interval "
            f"{widest:.1%} wide, not yet under the target {target_width:.1%}; raise "
            "--max-seeds or accept a wider --target-width")
    result.timing = timing
    recorder.whole(sp, result)
    for w in result.warnings:
        warnings.warn(w, stacklevel=2)
    return result
