"""Executors: where a plan's work units run.

An executor takes a :class:`~relulab.study.plan.Plan` and hands back, as each finishes,
every group's scored runs (``on_group``) and every series' baselines (``on_baselines``).
The study stores a group the moment it is handed over, so an executor must hand over
every group it finished, in the order it finished them, also when it is interrupted
(Ctrl-C): whatever it trained is kept.

:class:`InProcessExecutor` runs in this process: one compiled program per activation
and fold (all seeds ``vmap``-ed in it), compiled up front in parallel threads, groups
trained one after another on the calling thread, and each finished group's forecasts and
scores, and the baselines, computed on one side thread while the next group trains.
A distributed executor implements the same :class:`Executor` protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from relulab.result import RunRecord
from relulab.study import work
from relulab.study.plan import GroupKey, Plan

# A progress callback receives events: ("start", {"groups", "cached", "activations"}),
# ("compile", {"activations"}), ("group_start", {"activation", "fold", "index", "total"}),
# ("group_done", {..., "seconds"}), ("analysis", {}) and ("done", {"wall_s"}); the Ray
# executor's ("ray", {"shards", "cpus", "in_flight", "address"}), ("shard_done", {"shard",
# "shards", "series", "units", "seconds"}) and ("shard_failed", {..., "reason"}). A display
# ignores the events it does not know.
ProgressFn = Callable[[str, dict[str, Any]], None]
GroupSink = Callable[[GroupKey, list[RunRecord]], None]
BaselineSink = Callable[[str, dict[str, dict[str, Any]]], None]


@dataclass
class ExecutionStats:
    """Where an executor's time went: compiling, training, and how much it trained."""

    compile_s: float = 0.0
    train_s: float = 0.0
    model_steps: float = 0.0


class Executor(Protocol):
    def run(self, plan: Plan, on_group: GroupSink, on_baselines: BaselineSink,
            progress: ProgressFn) -> ExecutionStats:
        """Run every unit of ``plan`` and the baselines of every series in it."""
        ...


def _quiet(event: str, info: dict[str, Any]) -> None:
    return None


class InProcessExecutor:
    """Every unit in this process (see the module docstring)."""

    def run(self, plan: Plan, on_group: GroupSink, on_baselines: BaselineSink,
            progress: ProgressFn = _quiet) -> ExecutionStats:
        config = plan.config
        stats = ExecutionStats()
        groups = plan.groups()
        total = len(plan.units)
        # Work that does not wait for training runs beside it on a second thread: the
        # baselines (and the statsmodels import, over a second) and each group's forecasts
        # and scores, while the next group trains.
        with ThreadPoolExecutor(max_workers=1) as side:
            if groups:
                todo = list(dict.fromkeys(g.activation for g in groups))
                progress("compile", {"activations": todo})
                t_c = time.perf_counter()
                for sid in dict.fromkeys(g.series_id for g in groups):
                    work.compile_units(config, [g.activation for g in groups
                                                if g.series_id == sid], plan.series[sid])
                stats.compile_s += time.perf_counter() - t_c
            # After compilation, which already keeps both cores of a small machine busy.
            baselines = {sid: side.submit(work.fit_baselines, sp, config.season)
                         for sid, sp in plan.series.items()}
            pending: list[tuple[GroupKey, Future[list[RunRecord]]]] = []

            def hand_over(wait: bool) -> None:
                # Every scored group, in order; the study stores each as it arrives.
                while pending and (wait or pending[0][1].done()):
                    key, fut = pending.pop(0)
                    on_group(key, fut.result())

            index = 0
            try:
                for key in groups:
                    sp = plan.series[key.series_id]
                    outs = []
                    for unit in plan.units_of(key):
                        info = {"activation": key.activation, "fold": unit.fold,
                                "index": index, "total": total}
                        progress("group_start", info)
                        t0 = time.perf_counter()
                        out, steps = self._train(config, key.activation,
                                                 sp.prepared[unit.fold], stats)
                        stats.model_steps += steps
                        outs.append(out)
                        progress("group_done", {**info, "seconds": time.perf_counter() - t0})
                        index += 1
                    pending.append((key, side.submit(work.score_group, config, key.activation,
                                                     sp, outs)))
                    hand_over(wait=False)
            finally:
                # Also on Ctrl-C during a later group: every group trained so far is kept.
                hand_over(wait=True)
            for sid, fut in baselines.items():
                on_baselines(sid, fut.result())
        return stats

    @staticmethod
    def _train(config: Any, activation: str, prepared: Any,
               stats: ExecutionStats) -> tuple[Any, int]:
        t_c = time.perf_counter()
        train, data = work.program(config, activation, prepared)
        stats.compile_s += time.perf_counter() - t_c
        t_r = time.perf_counter()
        out, steps = work.train_unit(config, train, data)
        stats.train_s += time.perf_counter() - t_r
        return out, steps
