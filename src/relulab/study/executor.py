"""Executors: where a plan's work units run.

An executor takes a :class:`~relulab.study.plan.Plan` and hands back, as each finishes,
every group's scored runs (``on_group``) and every series' baselines (``on_baselines``).
The study stores a group the moment it is handed over, so an executor must hand over
every group it finished, in the order it finished them, also when it is interrupted
(Ctrl-C): whatever it trained is kept.

:class:`InProcessExecutor` runs in this process: one compiled program per group of
activations and row class of series (:func:`~relulab.study.plan.calls`; all seeds
``vmap``-ed in it), compiled up front in parallel threads, calls trained one after another
on the calling thread, each finished group's forecasts and scores computed on one side
thread while the next piece trains, and the series' baselines fitted in worker processes
(a panel) or on that side thread (a few series). Training runs at most ``lead`` series
ahead of the baselines, so the runs waiting for them stay bounded.
:class:`~relulab.study.ray_executor.RayExecutor` implements the same :class:`Executor`
protocol on Ray.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from relulab.result import RunRecord
from relulab.study import work
from relulab.study.plan import Call, GroupKey, Plan, calls, fit_memory

# A progress callback receives events: ("start", {"groups", "cached", "activations"}),
# ("compile", {"activations", "programs"}) before the training programs compile, then
# ("compiled", {"done", "programs", "activations", "rows", "series", "seconds"}) as each
# is ready (its activations, its calls' series and padded rows), ("group_start",
# {"activation", "fold", "index", "total", "units", "series"}) for a call training one
# activation on ``units`` groups (one per series), ("group_done", {..., "seconds"}),
# ("analysis", {}) and ("done", {"wall_s"}); the Ray executor's ("ray", {"shards", "cpus",
# "in_flight", "address"}), ("shard_done", {"shard", "shards", "series", "units",
# "seconds"}) and ("shard_failed", {..., "reason"}). A display ignores the events it does
# not know.
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


def _spawn_is_safe() -> bool:
    """Whether a ``spawn``-ed worker may import this program's main module: a worker
    imports it first (to find what is pickled from it), so a script that runs a study at
    its top level would run it again in every worker. Safe: no main file (an interactive
    session, a notebook, ``python -c``), a package's ``__main__`` run with ``-m`` (never
    imported again), or a main file whose top level has an ``if __name__ ==
    "__main__":`` block (an entry-point script such as ``relulab``'s own, or a guarded
    script). Never from inside a worker process."""
    import ast
    import multiprocessing
    import sys

    if multiprocessing.parent_process() is not None:
        return False
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and (spec.name == "__main__" or spec.name.endswith(".__main__")):
        return True
    path = getattr(main, "__file__", None)
    if path is None:
        return True
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.If) and "__name__" in ast.dump(node.test)
               and "'__main__'" in ast.dump(node.test) for node in tree.body)


def _start_worker(parent: int) -> None:
    """In a baseline worker process: Ctrl-C is the study's to handle (it keeps what was
    trained and closes the pool), not a traceback from every worker; the worker yields
    the CPU to training (``nice`` 10), taking the cores training leaves idle (on two
    cores, 200 series' training cost 705 ns a model-step beside two workers at the same
    priority); and it dies with the study's process (``parent``)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(10)
    _exit_with_parent(parent)


# Linux's prctl option that sends the calling process a signal when its parent dies.
_PR_SET_PDEATHSIG = 1


def _exit_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """End this worker process when ``parent`` (the study's process) dies: a worker
    waits on a queue whose write end it holds itself, so it would never see the study
    end, and a killed study (SIGKILL, the OOM killer) left every worker, some 160 MB
    each, and the resource tracker that waits for them, running for good.

    On Linux the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``; sent
    when the thread that started the worker ends, and the pool's workers are started by
    the thread that runs the study, which outlives the pool). Elsewhere a daemon thread
    looks every ``poll_s`` seconds whether the worker has been handed to another parent.
    Either way a parent already dead by now ends the worker at once."""
    import sys

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
        if armed:
            if os.getppid() != parent:  # died before the signal was armed
                os._exit(1)
            return
    _watch_parent(parent, poll_s)


def _watch_parent(parent: int, poll_s: float) -> None:
    """A daemon thread that ends this process once its parent is no longer ``parent``
    (an orphan is handed to init or a subreaper)."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="relulab-parent-watch", daemon=True).start()


class InProcessExecutor:
    """Every unit in this process (see the module docstring).

    ``per_call``: how many series one program call trains (:func:`plan.calls`); they
    follow one another inside the call, so the numbers do not depend on it, and a class of
    series of one shape compiles one program whatever its size; fewer, larger calls spend
    less time between them.
    ``share_programs=False`` compiles one program per activation instead of one per group
    of activations (the former design; ``benchmarks/scale.py`` measures against it).
    ``baseline_processes``: worker processes that fit the series' baselines (ARIMA order
    selection is pure Python, about half a second a series, and would otherwise hold one
    core for a panel's whole run); ``None``: one per CPU, at most one per four series, for
    a plan of at least ``PROCESS_MIN_SERIES`` series, else none (the baselines then run on
    a thread beside training). The workers are started by ``spawn`` and import the
    program's main module, so a script that runs a panel study guards its entry point with
    ``if __name__ == "__main__":``, as any ``multiprocessing`` program; without such a
    guard, ``None`` keeps the baselines on the thread.
    ``lead``: how many series training may run ahead of their baselines; their runs wait
    in memory, so this bounds a panel's memory.
    ``memory``: the bytes the study may use (``None``: what the system has available when
    it starts, :func:`available_memory`). A plan estimated to need more
    (:func:`~relulab.study.plan.memory_needed`) trains fewer series a call, and one that
    does not fit even one series a call is refused before anything compiles, with one
    line naming the seeds and epochs that would fit.
    """

    PROCESS_MIN_SERIES = 8

    def __init__(self, per_call: int = 16, share_programs: bool = True,
                 baseline_processes: int | None = None, lead: int = 64,
                 memory: int | None = None) -> None:
        self.per_call = per_call
        self.share = share_programs
        self.baseline_processes = baseline_processes
        self.lead = lead
        self.memory = memory

    def processes(self, n_series: int) -> int:
        """How many baseline worker processes a plan of ``n_series`` series gets."""
        if self.baseline_processes is not None:
            return max(0, min(self.baseline_processes, n_series))
        if n_series < self.PROCESS_MIN_SERIES or not _spawn_is_safe():
            return 0
        # A worker costs a start (imports, about a second) and some 160 MB: each gets at
        # least four series to fit.
        return min(os.cpu_count() or 1, n_series // 4)

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
        per_call = self.per_call
        available = self.memory if self.memory is not None else available_memory()
        if plan.units and available is not None:
            # The runs of the series trained ahead of their baselines wait in memory.
            per_call = fit_memory(plan, per_call, self.lead + per_call, available)
        layout = calls(plan, per_call)
        # Baselines in the order training reaches the series, then those with nothing to
        # train (every group stored): each series completes as soon as possible.
        order = list(dict.fromkeys([s for piece in layout for s in piece[0].series]
                                   + list(plan.series)))

        def activations(piece: list[Call]) -> list[str]:
            real = piece[0].series[:piece[0].real]
            return [a for a in config.activations if any(a in needed[s] for s in real)]

        # Work that does not wait for training runs beside it: each piece's forecasts and
        # scores on a second thread, while the next piece trains, and the baselines (with
        # the statsmodels import, over a second) in worker processes or on that thread.
        n_proc = self.processes(len(plan.series))
        with _side_thread() as side, _process_pool(n_proc) as pool:
            if layout:
                t_c = time.perf_counter()
                programs = list(dict.fromkeys(
                    p for piece in layout for call in piece
                    for p in work.call_programs(config, plan, call, activations(piece),
                                                self.share).values()))
                progress("compile", {"activations": list(dict.fromkeys(
                    a for acts in needed.values() for a in acts)), "programs": len(programs)})
                _compile(programs, progress, t_c)
                stats.compile_s += time.perf_counter() - t_c
            baselines = _Baselines(plan, pool, side)
            if pool is not None:
                baselines.submit(order)  # after compilation, which keeps the cores busy
            pending: list[tuple[GroupKey, Future[list[RunRecord]]]] = []
            waiting: list[str] = []  # series trained, oldest first, maybe with baselines

            def hand_groups(wait: bool) -> None:
                # Every scored group, in order; the study stores each as it arrives.
                while pending and (wait or pending[0][1].done()):
                    key, fut = pending.pop(0)
                    on_group(key, fut.result())

            def hand_over(wait: bool) -> None:
                hand_groups(wait)
                for sid in baselines.ready(wait):
                    on_baselines(sid, baselines.take(sid))

            index = 0
            try:
                for piece in layout:
                    real = piece[0].series[:piece[0].real]
                    baselines.submit(real)
                    hand_over(wait=False)
                    waiting = [s for s in waiting if not baselines.handed(s)]
                    while len(waiting) > self.lead:  # bounded: wait for the oldest's baselines
                        sid = waiting.pop(0)
                        on_baselines(sid, baselines.take(sid))
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
                                               _ready(programs[a].fit(a, batch, *start)))
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
                    waiting += real
                    hand_over(wait=False)
            finally:
                # Also on Ctrl-C during a later piece: every group trained so far is kept
                # (the baselines not yet fitted are cancelled as the pool closes).
                hand_groups(wait=True)
            baselines.submit(order)
            hand_over(wait=True)
        return stats


def _compile(programs: list[Any], progress: ProgressFn, t0: float) -> None:
    """Compile ``programs`` side by side (XLA compiles outside the GIL), saying as each is
    ready. Ctrl-C returns at once: programs not yet started are dropped, and the study does
    not wait for those compiling (XLA cannot stop them)."""
    pool = ThreadPoolExecutor(max_workers=max(1, min(len(programs), os.cpu_count() or 1)))
    try:
        futures = [pool.submit(p.compile) for p in programs]
        for k, fut in enumerate(as_completed(futures), start=1):
            p = fut.result()
            progress("compiled", {"done": k, "programs": len(programs),
                                  "activations": list(p.group), "rows": p.shapes[0][0],
                                  "series": p.n_series,
                                  "seconds": time.perf_counter() - t0})
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _ready(tree: Any) -> Any:
    """``tree`` once JAX has computed every array of it. JAX computes in its own threads;
    reading a result blocks until the whole call is done, Ctrl-C unanswered (minutes for
    a large call), while this wait answers it within 50 ms."""
    import jax

    leaves = jax.tree.leaves(tree)
    t0 = time.perf_counter()
    while not all(x.is_ready() for x in leaves):
        time.sleep(min(0.05, (time.perf_counter() - t0) / 10 + 0.001))
    return tree


def available_memory() -> int | None:
    """The bytes this process may still take: the system's available memory (Linux's
    ``MemAvailable``, which counts the caches the kernel can drop; elsewhere the free
    pages), capped by the room left under a container's (cgroup) memory limit; None
    where neither can be read."""
    have = None
    try:
        with open("/proc/meminfo") as f:
            have = next((int(line.split()[1]) * 1024 for line in f
                         if line.startswith("MemAvailable:")), None)
    except (OSError, ValueError):
        pass
    if have is None:
        try:
            have = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            return None
    room = _cgroup_room()
    return have if room is None else min(have, room)


def _cgroup_room() -> int | None:
    """The bytes left under this process's cgroup memory limit (v2 or v1), counting the
    inactive file cache as free; None without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            d = Path("/sys/fs/cgroup") / path.lstrip("/")
            files = ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):  # v1
            d = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        try:
            limit = (d / files[0]).read_text().strip()
            if limit == "max" or int(limit) >= 1 << 60:
                continue
            used = int((d / files[1]).read_text())
            stat = dict(line.split() for line in (d / "memory.stat").read_text().splitlines())
            return max(0, int(limit) - used + int(stat.get(files[2], 0)))
        except (OSError, ValueError):
            continue
    return None


class _Baselines:
    """Every series' baseline fit, submitted once, in worker processes or on the side
    thread; a worker pool that breaks (a worker killed, for one) hands its unfinished
    series to the side thread, which gives the same numbers."""

    def __init__(self, plan: Plan, pool: Any, side: ThreadPoolExecutor) -> None:
        self.plan, self.pool, self.side = plan, pool, side
        self.futures: dict[str, Future[Any]] = {}
        self.done: set[str] = set()

    def _submit(self, executor: Any, sid: str) -> Future[Any]:
        sp = self.plan.series[sid]
        return executor.submit(work.fit_baselines, sp.values, sp.train_end, sp.test_start,
                               self.plan.config.season)

    def submit(self, series_ids: Any) -> None:
        for sid in series_ids:
            if sid not in self.futures and sid not in self.done:
                self.futures[sid] = self._submit(self.pool or self.side, sid)

    def handed(self, sid: str) -> bool:
        return sid in self.done

    def ready(self, wait: bool) -> list[str]:
        """The series whose baselines are ready (all of them, waited for, with ``wait``)."""
        return [sid for sid, fut in list(self.futures.items()) if wait or fut.done()]

    def take(self, sid: str) -> dict[str, Any]:
        """``sid``'s baselines, waited for; each series is taken once."""
        from concurrent.futures.process import BrokenProcessPool

        self.submit([sid])
        try:
            out = self.futures[sid].result()
        except BrokenProcessPool:
            self.pool = None
            for other, fut in list(self.futures.items()):
                if not fut.done() or fut.exception() is not None:
                    self.futures[other] = self._submit(self.side, other)
            out = self.futures[sid].result()
        del self.futures[sid]
        self.done.add(sid)
        return out


@contextmanager
def _side_thread() -> Iterator[ThreadPoolExecutor]:
    """The thread that scores each piece's groups (and fits the baselines without worker
    processes). On an error or Ctrl-C its queued work is cancelled, not waited for: every
    group trained has been handed over by then, and baselines fitted now would be lost."""
    side = ThreadPoolExecutor(max_workers=1)
    try:
        yield side
    except BaseException:
        side.shutdown(wait=False, cancel_futures=True)
        raise
    side.shutdown(wait=True)


# The workers' numerical libraries get one thread each: OpenBLAS' idle threads spin, and
# two workers of two threads each on two cores took 15.5 s for 40 series' baselines
# against 7.1 s with one thread each (12.2 s in one process).
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _process_pool(n: int) -> Iterator[Any]:
    """A ``spawn`` pool of ``n`` worker processes (``None`` for ``n = 0``), started at once
    with one thread for their numerical libraries. On an error or Ctrl-C its queued work is
    cancelled, not finished."""
    if not n:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(os.getpid(),))
    # A worker reads these when it starts, so they are set only while the workers start
    # (a pool starts one per task submitted while none is idle); a user's own are kept.
    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    try:
        for k in _ONE_THREAD:
            os.environ.setdefault(k, "1")
        for _ in range(n):  # each starts a worker, there and then (none is idle yet)
            pool.submit(os.getpid)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
    try:
        yield pool
    except BaseException:
        # Ctrl-C or an error: the fits under way (and the workers still starting, seconds
        # on a busy machine) are of no use now. Ended, they let the pool release its
        # queues' semaphores here at once, not in a resource-tracker warning at exit.
        for proc in list((pool._processes or {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
