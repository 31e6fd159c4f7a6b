"""Executors: where a plan's work units run.

An executor takes a :class:`~relulab.study.plan.Plan` and hands back, as each finishes,
every group's scored runs (``on_group``) and every series' baselines (``on_baselines``).
The study stores a group the moment it is handed over, so an executor must hand over
every group it finished, in the order it finished them, also when it is interrupted
(Ctrl-C): whatever it trained is kept.

What trains is the plan's trainer (:mod:`relulab.study.trainer`): an executor knows
pieces, programs, steps, scores and baseline jobs, never models or data.
:class:`InProcessExecutor` runs in this process: the trainer's programs compiled up front
in parallel threads; its pieces' steps trained in order, up to one per core at once on
training threads of their own where the trainer's steps gain from it
(``Trainer.concurrent``), else one after another on the calling thread; each finished
piece's groups scored on one side thread and stored before the next piece starts (so a
kill loses at most the pieces in flight); and the series' baselines fitted in worker
processes (a panel) or on that side thread (a few series), both at a lower priority than
training. Training runs at most
``lead`` series ahead of the baselines, so the runs waiting for them stay bounded.
:class:`~relulab.study.ray_executor.RayExecutor` implements the same :class:`Executor`
protocol on Ray.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from relulab.errors import RelulabError
from relulab.result import RunRecord
from relulab.study import events
from relulab.study.events import ProgressFn
from relulab.study.plan import GroupKey, Plan
from relulab.study.trainer import Piece

GroupSink = Callable[[GroupKey, list[RunRecord]], None]
BaselineSink = Callable[[str, dict[str, dict[str, Any]]], None]


@dataclass
class ExecutionStats:
    """Where an executor's time went: compiling, training, and how much it trained."""

    compile_s: float = 0.0
    train_s: float = 0.0
    model_steps: float = 0.0


class Executor(Protocol):
    """Where a plan runs. Used as a context manager around one or more runs (a panel's
    series, ``--seeds auto``'s batches), so that what it starts (a Ray) is started once and
    stopped whatever happens."""

    def run(self, plan: Plan, on_group: GroupSink, on_baselines: BaselineSink,
            progress: ProgressFn) -> ExecutionStats:
        """Run every unit of ``plan`` and the baselines of every series in it."""
        ...

    def check(self, plan: Plan) -> None:
        """Refuse, in one line, a plan this executor cannot run (one too large for its
        memory), before anything is stored or compiled."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: Any) -> None: ...


def get_executor(executor: Executor | str | None = None, **options: Any) -> Executor:
    """The executor a study runs on, decided once, at the boundary: an executor as given;
    ``None`` or ``"inprocess"``, an :class:`InProcessExecutor`; ``"ray"``, a
    :class:`~relulab.study.ray_executor.RayExecutor` (``options``: its address and
    connect timeout)."""
    if executor is None or executor == "inprocess":
        if options:
            raise RelulabError(f"{', '.join(options)} apply to the Ray executor; add "
                               "--executor ray, or leave them out")
        return InProcessExecutor()
    if executor == "ray":
        from relulab.study.ray_executor import RayExecutor

        return RayExecutor(**options)
    if isinstance(executor, str):
        raise RelulabError(f"unknown executor {executor!r}; choose inprocess or ray")
    return executor


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


# The priority (``nice``) of the work beside training: baseline workers, the side thread.
_BESIDE_TRAINING = 10


def _start_worker(parent: int) -> None:
    """In a baseline worker process: Ctrl-C is the study's to handle (it keeps what was
    trained and closes the pool), not a traceback from every worker; the worker yields
    the CPU to training (``nice`` 10), taking the cores training leaves idle (on two
    cores, 200 series' training cost 705 ns a model-step beside two workers at the same
    priority); and it dies with the study's process (``parent``)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(_BESIDE_TRAINING)
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
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="relulab-parent-watch", daemon=True).start()


class InProcessExecutor:
    """Every unit in this process (see the module docstring).

    ``per_call``: how many series one training call covers (the trainer's pieces); they
    follow one another inside the call, so the numbers do not depend on it, and a class of
    series of one shape compiles one program whatever its size; fewer, larger calls spend
    less time between them.
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
    it starts, :func:`available_memory`). The trainer lays out a plan estimated to need
    more in fewer series a call, and refuses one that does not fit even one series a call
    before anything compiles, with one line naming the seeds and epochs that would fit.
    ``threads``: how many training steps run at once, each on a thread of its own, for a
    trainer whose steps gain from it (``Trainer.concurrent``; one otherwise); ``None``:
    one per core this process may use. A plan that fits in memory only one piece at a
    time trains on one thread. The numbers do not depend on it.
    """

    PROCESS_MIN_SERIES = 8

    def __init__(self, per_call: int = 16, baseline_processes: int | None = None,
                 lead: int = 64, memory: int | None = None,
                 threads: int | None = None) -> None:
        self.per_call = per_call
        self.baseline_processes = baseline_processes
        self.lead = lead
        self.memory = memory
        self.threads = threads

    def workers(self, plan: Plan) -> int:
        """How many steps of ``plan`` may train at once (memory aside)."""
        if not getattr(plan.trainer, "concurrent", False):
            return 1
        return max(1, self.threads if self.threads is not None else usable_cores())

    def processes(self, n_series: int) -> int:
        """How many baseline worker processes a plan of ``n_series`` series gets."""
        if self.baseline_processes is not None:
            return max(0, min(self.baseline_processes, n_series))
        if n_series < self.PROCESS_MIN_SERIES or not _spawn_is_safe():
            return 0
        # A worker costs a start (imports, about a second) and some 160 MB: each gets at
        # least four series to fit.
        return min(os.cpu_count() or 1, n_series // 4)

    def check(self, plan: Plan) -> None:
        self._pieces(plan)

    def _pieces(self, plan: Plan) -> tuple[list[Piece], int]:
        """The trainer's pieces and how many of their steps train at once: as many as
        :meth:`workers` allows where that fits in memory, else one (or the trainer's
        refusal)."""
        available = self.memory if self.memory is not None else available_memory()
        # The runs of the series trained ahead of their baselines wait in memory.
        held = self.lead + self.per_call
        workers = self.workers(plan)
        if workers > 1:
            try:
                return plan.trainer.pieces(plan, self.per_call, available, held,
                                           workers), workers
            except RelulabError:
                pass  # one step at a time may fit
        return plan.trainer.pieces(plan, self.per_call, available, held), 1

    def __enter__(self) -> InProcessExecutor:
        return self  # nothing outlives a run: each run opens and closes its own pools

    def __exit__(self, *exc: Any) -> None:
        return None

    def run(self, plan: Plan, on_group: GroupSink, on_baselines: BaselineSink,
            progress: ProgressFn = events.quiet) -> ExecutionStats:
        stats = ExecutionStats()
        pieces, workers = self._pieces(plan)
        # Baselines in the order training reaches the series, then those with nothing to
        # train (every group stored): each series completes as soon as possible.
        order = list(dict.fromkeys([s for piece in pieces for s in piece.series]
                                   + list(plan.series)))
        # Work that does not wait for training runs beside it: each piece's scores on a
        # second thread, while the next piece trains, and the baselines (with the
        # statsmodels import, over a second) in worker processes or on that thread.
        with _side_thread() as side, _process_pool(self.processes(len(plan.series))) as pool:
            stats.compile_s += _compile(plan, pieces, progress)
            run = _Run(plan, on_group, on_baselines, _Baselines(plan, pool, side), side,
                       self.lead)
            if pool is not None:
                run.baselines.submit(order)  # after compilation, which keeps the cores busy
            try:
                run.train(pieces, workers, stats, progress)
            finally:
                # Also on Ctrl-C during a later piece: every group trained so far is kept
                # (the baselines not yet fitted are cancelled as the pool closes).
                run.hand_groups(wait=True)
            run.baselines.submit(order)
            run.hand_over(wait=True)
        return stats


def _compile(plan: Plan, pieces: list[Piece], progress: ProgressFn) -> float:
    """Compile every program the pieces need, side by side (XLA compiles outside the GIL),
    saying as each is ready; the seconds it took. Ctrl-C returns at once: programs not
    yet started are dropped, and the study does not wait for those compiling (XLA cannot
    stop them)."""
    t0 = time.perf_counter()
    programs = plan.trainer.programs(plan, pieces)
    if not programs:
        return 0.0
    progress(events.Compiling(len(programs), tuple(dict.fromkeys(
        u.activation for u in plan.units))))
    pool = ThreadPoolExecutor(max_workers=max(1, min(len(programs), os.cpu_count() or 1)))
    try:
        futures = {pool.submit(p.compile): p for p in programs}
        for k, fut in enumerate(as_completed(futures), start=1):
            fut.result()
            progress(events.Compiled(k, len(programs), str(futures[fut]),
                                     time.perf_counter() - t0))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return time.perf_counter() - t0


class _Run:
    """One run's hand-over: groups are scored on the side thread and handed over in the
    order they were trained, baselines as they are ready, and training waits when more
    than ``lead`` trained series still lack their baselines."""

    def __init__(self, plan: Plan, on_group: GroupSink, on_baselines: BaselineSink,
                 baselines: _Baselines, side: ThreadPoolExecutor, lead: int) -> None:
        self.plan, self.on_group, self.on_baselines = plan, on_group, on_baselines
        self.baselines, self.side, self.lead = baselines, side, lead
        self.pending: list[tuple[GroupKey, Future[list[RunRecord]]]] = []
        self.waiting: list[str] = []  # series trained, oldest first, maybe with baselines
        self.index = 0  # units trained so far
        self.order = {a: i for i, a in enumerate(plan.config.activations)}

    def train(self, pieces: list[Piece], workers: int, stats: ExecutionStats,
              progress: ProgressFn) -> None:
        """Train the pieces' steps in order, up to ``workers`` at once on threads of their
        own (one: on this thread), and send each piece's groups to be scored as soon as
        its last step is done. Before a piece starts, the groups of the pieces finished
        so far are stored (their scoring, on the side thread, has had the pieces in
        flight to finish in): a kill loses only the pieces in flight."""
        flights = (flight for piece in pieces for flight in self._steps(piece))
        running: dict[Future[Any], tuple[_Flight, Any, tuple[Any, ...]]] = {}
        pool = _training_threads(workers)
        spans: list[tuple[float, float]] = []
        try:
            while True:
                while len(running) < workers:
                    nxt = next(flights, None)
                    if nxt is None:
                        break
                    flight, step = nxt
                    info = (step.activation, step.fold, self.index, len(self.plan.units),
                            len(step.groups), tuple(k.series_id for k in step.groups))
                    progress(events.GroupStarted(*info))
                    running[pool.submit(_timed, step.run)] = (flight, step, info)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                # In the order they were started, for a display that reads them in turn.
                for fut in [f for f in running if f in done]:
                    flight, step, info = running.pop(fut)
                    out, span = fut.result()
                    spans.append(span)
                    seconds = span[1] - span[0]
                    for key, value in out.items():
                        flight.outputs.setdefault(key, {})[step.fold] = value
                    flight.running -= 1
                    stats.model_steps += step.model_steps
                    progress(events.GroupDone(step.activation, step.fold, self.index,
                                              *info[3:], seconds))
                    self.index += len(step.groups)
                    if flight.finished:
                        self._score(flight)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            stats.train_s += covered(spans)
        pool.shutdown(wait=True)

    def _steps(self, piece: Piece) -> Iterator[tuple[_Flight, Any]]:
        """The piece's steps, each with the piece's :class:`_Flight`, set up once its
        first step is asked for: its baselines submitted, the groups scored so far
        stored, and training held back while more than ``lead`` trained series wait for
        their baselines."""
        self.baselines.submit(piece.series)
        self.hand_groups(wait=True)
        self.hand_over(wait=False)
        self.waiting = [s for s in self.waiting if not self.baselines.handed(s)]
        while len(self.waiting) > self.lead:  # bounded: wait for the oldest's baselines
            sid = self.waiting.pop(0)
            self.on_baselines(sid, self.baselines.take(sid))
        flight = _Flight(piece)
        for step in self.plan.trainer.steps(self.plan, piece):
            flight.running += 1
            yield flight, step
        flight.queued = True
        if flight.finished:  # its last step was done before the next was asked for
            self._score(flight)

    def _score(self, flight: _Flight) -> None:
        """Send a finished piece's groups to be scored, in the piece's series order and
        the config's activation order, each with its folds' outputs in fold order."""
        rank = {s: i for i, s in enumerate(flight.piece.series)}
        for key in sorted(flight.outputs, key=lambda k: (rank[k.series_id],
                                                         self.order[k.activation])):
            folds = flight.outputs[key]
            self.pending.append((key, self.side.submit(
                self.plan.trainer.score, self.plan, key, [folds[f] for f in sorted(folds)])))
        self.waiting += flight.piece.series
        self.hand_over(wait=False)

    def hand_groups(self, wait: bool) -> None:
        """Every scored group, in order; the study stores each as it arrives."""
        while self.pending and (wait or self.pending[0][1].done()):
            key, fut = self.pending.pop(0)
            self.on_group(key, fut.result())

    def hand_over(self, wait: bool) -> None:
        self.hand_groups(wait)
        for sid in self.baselines.ready(wait):
            self.on_baselines(sid, self.baselines.take(sid))


@dataclass(eq=False)
class _Flight:
    """A piece in training: its steps started and not yet done (``running``), whether
    every step has been started (``queued``), each group's outputs by fold. It is
    :attr:`finished` once, at whichever comes last: its last step queued or done."""

    piece: Piece
    outputs: dict[GroupKey, dict[int, Any]] = field(default_factory=dict)
    running: int = 0
    queued: bool = False

    @property
    def finished(self) -> bool:
        return self.queued and not self.running


def _timed(fn: Callable[[], Any]) -> tuple[Any, tuple[float, float]]:
    t0 = time.perf_counter()
    out = fn()
    return out, (t0, time.perf_counter())


def covered(spans: list[tuple[float, float]]) -> float:
    """The time at least one of ``spans`` (start, end) covers: training's time with steps
    side by side, not the calling thread's waits between them (for the baselines, when
    training runs ``lead`` series ahead of them), which a clock started at the first step
    and stopped at the last would count."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


class _Here:
    """A one-worker "pool" that runs what it is given at once, on the calling thread:
    the steps of a plan that trains one at a time (Ctrl-C answered as the step allows)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:  # raised again by result(), as a pool's future does
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        return None


def _training_threads(workers: int) -> Any:
    if workers <= 1:
        return _Here()
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="relulab-train")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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
        fn, args = self.plan.trainer.baselines(self.plan, sid)
        return executor.submit(fn, *args)

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


def _yield_to_training() -> None:
    """Lower the calling thread's priority to ``nice`` 10, as the baseline workers' (where
    the system allows a thread its own: Linux), so that with training on every core the
    side thread's baselines and scoring take the time training leaves."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _BESIDE_TRAINING)
    except (AttributeError, OSError):
        pass


@contextmanager
def _side_thread() -> Iterator[ThreadPoolExecutor]:
    """The thread that scores each piece's groups (and fits the baselines without worker
    processes). On an error or Ctrl-C its queued work is cancelled, not waited for: every
    group trained has been handed over by then, and baselines fitted now would be lost."""
    side = ThreadPoolExecutor(max_workers=1, initializer=_yield_to_training)
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
