"""Executors: where a plan's work units run.

An executor takes a :class:`~relulab.study.plan.Plan` and hands back, as each finishes,
every group's scored runs (``on_group``) and every series' baselines (``on_baselines``).
The study stores a group the moment it is handed over, so an executor must hand over
every group it finished, in the order it finished them, also when it is interrupted
(Ctrl-C): whatever it trained is kept.

:class:`InProcessExecutor` runs in this process: one compiled program per group of
activations and row class of series (:func:`~relulab.study.plan.calls`; all seeds
``vmap``-ed in it), compiled up front in parallel threads, calls trained one after another
on the calling thread, and each finished group's forecasts and scores, and the baselines,
computed on one side thread while the next piece trains. :class:`~relulab.study.
ray_executor.RayExecutor` implements the same :class:`Executor` protocol on Ray.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from relulab.result import RunRecord
from relulab.study import work
from relulab.study.plan import Call, GroupKey, Plan, calls

# A progress callback receives events: ("start", {"groups", "cached", "activations"}),
# ("compile", {"activations", "programs"}), ("group_start", {"activation", "fold", "index",
# "total", "units", "series"}) for a call training one activation on ``units`` groups (one
# per series), ("group_done", {..., "seconds"}), ("analysis", {}) and ("done", {"wall_s"}); the Ray
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
    """Every unit in this process (see the module docstring).

    ``per_call``: how many series one program call trains (:func:`plan.calls`); they
    follow one another inside the call, so the numbers do not depend on it.
    ``share_programs=False`` compiles one program per activation instead of one per group
    of activations (the former design; ``benchmarks/scale.py`` measures against it).
    """

    def __init__(self, per_call: int = 4, share_programs: bool = True) -> None:
        self.per_call = per_call
        self.share = share_programs

    def run(self, plan: Plan, on_group: GroupSink, on_baselines: BaselineSink,
            progress: ProgressFn = _quiet) -> ExecutionStats:
        import jax
        import numpy as np

        config = plan.config
        stats = ExecutionStats()
        seeds = np.asarray(config.seed_list)
        total = len(plan.units)
        needed: dict[str, list[str]] = {}
        for g in plan.groups():
            needed.setdefault(g.series_id, []).append(g.activation)
        layout = calls(plan, self.per_call)

        def activations(piece: list[Call]) -> list[str]:
            real = piece[0].series[:piece[0].real]
            return [a for a in config.activations if any(a in needed[s] for s in real)]

        # Work that does not wait for training runs beside it on a second thread: the
        # baselines (and the statsmodels import, over a second) and each piece's forecasts
        # and scores, while the next piece trains.
        with ThreadPoolExecutor(max_workers=1) as side:
            if layout:
                t_c = time.perf_counter()
                programs = {p for piece in layout for call in piece
                            for p in work.call_programs(config, plan, call,
                                                        activations(piece),
                                                        self.share).values()}
                progress("compile", {"activations": list(dict.fromkeys(
                    a for acts in needed.values() for a in acts)), "programs": len(programs)})
                # XLA compiles outside the GIL: the distinct programs compile side by side.
                with ThreadPoolExecutor(max_workers=max(1, min(len(programs),
                                                               os.cpu_count() or 1))) as pool:
                    list(pool.map(lambda p: p.compile(), programs))
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
                for piece in layout:
                    real = piece[0].series[:piece[0].real]
                    acts = activations(piece)
                    outs: dict[GroupKey, list[Any]] = {GroupKey(s, a): [] for s in real
                                                       for a in acts if a in needed[s]}
                    for call in piece:
                        batch = work.call_batch(plan, call)
                        programs = work.call_programs(config, plan, call, acts, self.share)
                        t_r = time.perf_counter()
                        start = programs[acts[0]].start(batch, seeds)
                        stats.train_s += time.perf_counter() - t_r
                        for a in acts:
                            keys = [k for k in outs if k.activation == a]
                            info = {"activation": a, "fold": call.fold, "index": index,
                                    "total": total, "units": len(keys),
                                    "series": [k.series_id for k in keys]}
                            progress("group_start", info)
                            t0 = time.perf_counter()
                            out = jax.tree.map(np.asarray,
                                               programs[a].fit(a, batch, *start))
                            seconds = time.perf_counter() - t0
                            stats.train_s += seconds
                            for i, s in enumerate(real):
                                if GroupKey(s, a) in outs:
                                    outs[GroupKey(s, a)].append(
                                        jax.tree.map(lambda x, i=i: x[i], out))
                                    stats.model_steps += work.model_steps(
                                        config, plan.series[s].prepared[call.fold])
                            index += len(keys)
                            progress("group_done", {**info, "seconds": seconds})
                    for key, fold_outs in outs.items():
                        pending.append((key, side.submit(work.score_group, config,
                                                         key.activation,
                                                         plan.series[key.series_id],
                                                         fold_outs)))
                    hand_over(wait=False)
            finally:
                # Also on Ctrl-C during a later piece: every group trained so far is kept.
                hand_over(wait=True)
            for sid, fut in baselines.items():
                on_baselines(sid, fut.result())
        return stats
