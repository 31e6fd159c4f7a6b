"""How many seeds a study trains: a stopping rule over the one pipeline.

:func:`run_seeds` runs the study pipeline (:func:`relulab.study.pipeline.run_one`) on
batches of seeds until its policy says stop. :class:`FixedSeeds` is one batch of the
config's seeds (a study as the config says). :class:`UntilPrecise` is ``--seeds auto
--target-width W``: how many seeds a comparison needs depends on how much the seeds
disagree, which is known only after training some, so it trains seeds in batches (each
batch one compiled program per activation group, the same program for every batch),
analyses every seed so far after each batch, and stops when every comparison's interval
of the relative RMSE difference is narrower than ``target_width`` (e.g. 0.05: the
interval spans less than 5 percentage points), or when ``max_seeds`` is reached.

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
from typing import Any, NamedTuple, Protocol

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

__all__ = ["FixedSeeds", "SeedPolicy", "UntilPrecise", "run_adaptive", "run_seeds",
           "widest_interval"]


def widest_interval(result: StudyResult) -> float:
    """The widest interval of the relative RMSE difference over the comparisons (inf when
    one has no interval yet)."""
    widths = [c.rel_hi - c.rel_lo for c in result.comparisons]
    return max((w if math.isfinite(w) else math.inf for w in widths), default=math.inf)


class SeedPolicy(Protocol):
    """When a study has trained seeds enough: the first batch's size, then after each
    batch the next one's (0: stop), from the result of every seed so far."""

    def check(self, config: StudyConfig) -> None: ...

    def first(self, config: StudyConfig) -> int: ...

    def next(self, seeds: int, result: StudyResult) -> int: ...

    def record(self, seeds: int, result: StudyResult, log: list[dict[str, Any]]) -> bool:
        """Say on ``result`` how it stopped; True when that changed it (so the study of
        every seed is stored anew)."""
        ...


class FixedSeeds(NamedTuple):
    """The config's seeds, in one batch."""

    def check(self, config: StudyConfig) -> None:
        return None

    def first(self, config: StudyConfig) -> int:
        return config.seeds

    def next(self, seeds: int, result: StudyResult) -> int:
        return 0

    def record(self, seeds: int, result: StudyResult, log: list[dict[str, Any]]) -> bool:
        return False


class UntilPrecise(NamedTuple):
    """Batches of ``batch`` seeds until every comparison's interval is narrower than
    ``target_width``, at most ``max_seeds`` (the module docstring)."""

    target_width: float
    batch: int = 10
    max_seeds: int = 100

    def check(self, config: StudyConfig) -> None:
        """Refuse, in one line, a stopping rule that cannot work."""
        if not (math.isfinite(self.target_width) and self.target_width > 0):
            raise RelulabError(f"--target-width must be a positive number, got "
                               f"{self.target_width}; pass e.g. 0.05 (intervals narrower "
                               "than 5 percentage points)")
        if self.batch < 2 or self.max_seeds < self.batch:
            raise RelulabError(f"--seed-batch must be at least 2 and --max-seeds at least "
                               f"the batch, got {self.batch} and {self.max_seeds}")
        if len(config.activations) < 2:
            raise RelulabError("--seeds auto stops when the comparisons are precise; pass "
                               "at least two activations (--activations tanh,relu)")

    def first(self, config: StudyConfig) -> int:
        return min(self.batch, self.max_seeds)

    def next(self, seeds: int, result: StudyResult) -> int:
        if widest_interval(result) < self.target_width:
            return 0
        return min(self.batch, self.max_seeds - seeds)

    def record(self, seeds: int, result: StudyResult, log: list[dict[str, Any]]) -> bool:
        """How it stopped, on ``result.adaptive`` (and a warning when it hit the cap)."""
        widest = widest_interval(result)
        precise = widest < self.target_width
        result.adaptive = {"target_width": self.target_width, "batch": self.batch,
                           "max_seeds": self.max_seeds, "seeds": seeds,
                           "stopped": "precise" if precise else "max_seeds", "batches": log}
        if not precise:
            result.warnings.append(
                f"--seeds auto stopped at --max-seeds {self.max_seeds} with the widest "
                f"interval {widest:.1%} wide, not yet under the target "
                f"{self.target_width:.1%}; raise --max-seeds or accept a wider "
                "--target-width")
        return True


def run_seeds(config: StudyConfig, series: Any, policy: SeedPolicy, *, recorder: Recorder,
              executor: Executor, progress: ProgressFn = quiet) -> StudyResult:
    """The study of ``config`` on ``series`` with as many seeds as ``policy`` says: one run
    of the pipeline per batch, each stored as a study of its own (an interrupted run
    resumes batch by batch); a model's numbers do not depend on its batch, so several
    batches give the study of every seed, stored as such (exactly as if run at once)."""
    policy.check(config)
    runs: list[RunRecord] = []
    log: list[dict[str, Any]] = []
    timing: dict[str, float] = {}
    n, size, first = 0, policy.first(config), config.seed_offset
    while size:
        plan = make_plan(config.replace(seeds=size, seed_offset=first + n), series)
        part = run_one(plan, recorder=recorder, executor=executor, progress=progress)
        timing = add_timing(timing, part.timing)
        runs += part.runs
        n += size
        (sp,) = plan.series.values()
        result = part if n == size else series_result(
            config.replace(seeds=n, seed_offset=first), sp, runs, part.baselines)
        widest = widest_interval(result)
        log.append({"seeds": n, "widest": None if math.isinf(widest) else widest})
        size = policy.next(n, result)
    if policy.record(n, result, log) or len(log) > 1:
        result.timing = timing
        recorder.whole(sp, result)
    return result


def run_adaptive(config: StudyConfig, series: Any = None, *, target_width: float,
                 batch: int = 10, max_seeds: int = 100, store: Any = None,
                 progress: ProgressFn = quiet,
                 executor: Executor | None = None) -> StudyResult:
    """:func:`run_seeds` with :class:`UntilPrecise`: batches of ``batch`` seeds until every
    comparison's interval is narrower than ``target_width`` or ``max_seeds`` seeds have
    trained. The result is the study of every seed trained, with ``result.adaptive``
    saying how it got there."""
    policy = UntilPrecise(target_width, batch, max_seeds)
    policy.check(config)
    result = run_seeds(config, resolve_series(config, series), policy,
                       recorder=Recorder(get_store(store)), executor=get_executor(executor),
                       progress=progress)
    for w in result.warnings:
        warnings.warn(w, stacklevel=2)
    return result
