"""relulab's own trainer: its JAX forecasters, trained series x seeds in shared programs.

:class:`JaxTrainer` is the first implementation of the trainer seam
(:mod:`relulab.study.trainer`). A plan's series are laid out in *pieces*
(:func:`calls`: series whose every fold pads to the same row counts share a program, at
most ``per_call`` of them per call); one compiled program serves each activation group and
row class (``training.Program``: the activations of a group chosen by an unbatched
switch, the seeds ``vmap``-ed); per piece and fold the start (initial weights and
shuffles) is drawn once and each activation fitted from it. The other functions here are
what a step does with plain data (the config, one series' plan, arrays), so a remote
worker runs the same code: forecast and score a group (:func:`score_group`), fit a
series' baselines (:func:`fit_baselines`).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.result import METRIC_COLUMNS, RunRecord
from relulab.study.plan import GroupKey, Plan, SeriesPlan
from relulab.study.trainer import Piece, Step


class JaxTrainer:
    """relulab's JAX forecasters as a :class:`relulab.study.trainer.Trainer` (module
    docstring). Holds nothing: the plan's config says everything."""

    # A step is one XLA program on the CPU, which runs on the thread that calls it: two
    # steps on two threads of two cores train in about half the time (docs/DESIGN.md).
    concurrent = True

    def pieces(self, plan: Plan, per_call: int, available: int | None = None,
               held_series: int = 1, workers: int = 1) -> list[Piece]:
        per_call = spread(plan, per_call, workers)
        if plan.units and available is not None:
            # Fewer series a call when the plan would not fit; refused when one does not.
            per_call = fit_memory(plan, per_call, held_series, available, workers)
        return [Piece(tuple(dict.fromkeys(piece[0].series[:piece[0].real])), tuple(piece))
                for piece in calls(plan, per_call)]

    def programs(self, plan: Plan, pieces: list[Piece]) -> list[Any]:
        enable_compilation_cache()
        todo = set(plan.groups())
        return [_Compile(p) for p in dict.fromkeys(
            p for piece in pieces for call in piece.work
            for p in call_programs(plan, call, _activations(plan, piece, todo)).values())]

    def steps(self, plan: Plan, piece: Piece) -> Iterator[Step]:
        import jax

        config = plan.config
        seeds = np.asarray(config.seed_list)
        todo = set(plan.groups())
        acts = _activations(plan, piece, todo)
        for call in piece.work:
            batch = call_batch(plan, call)
            programs = call_programs(plan, call, acts)
            # Drawn by the first step of the fold to run, shared by the rest.
            start = Once(functools.partial(programs[acts[0]].start, batch, seeds))
            for a in acts:
                keys = tuple(GroupKey(s, a) for s in piece.series if GroupKey(s, a) in todo)

                def run(a: str = a, keys: tuple[GroupKey, ...] = keys,
                        programs: dict[str, Any] = programs, batch: Any = batch,
                        start: Once = start) -> dict[GroupKey, Any]:
                    out = jax.tree.map(np.asarray, _ready(programs[a].fit(a, batch, *start())))
                    return {k: jax.tree.map(lambda x, i=i: x[i], out)
                            for i, s in enumerate(piece.series)
                            for k in keys if k.series_id == s}

                steps = sum(model_steps(config, plan.series[k.series_id].prepared[call.fold])
                            for k in keys)
                yield Step(a, call.fold, keys, float(steps), run)

    def score(self, plan: Plan, key: GroupKey, outputs: list[Any]) -> list[RunRecord]:
        return score_group(plan.config, key.activation, plan.series[key.series_id], outputs)

    def baselines(self, plan: Plan, series_id: str
                  ) -> tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]:
        sp = plan.series[series_id]
        config = plan.config
        return fit_baselines, (sp.values, sp.train_end, sp.test_start, config.season,
                               config.horizon, config.test_size,
                               field_season(config, sp.series))


class _Compile(NamedTuple):
    """A program to compile, in words for the progress display."""

    program: Any

    def compile(self) -> Any:
        return self.program.compile()

    def __str__(self) -> str:
        p = self.program
        return f"{', '.join(p.group)} for {p.n_series} series × {p.shapes[0][0]} rows"


class Once:
    """``draw()``'s value, drawn by the first caller and handed to every later one, also
    when several threads call at once: the start a fold's steps share."""

    def __init__(self, draw: Callable[[], Any]) -> None:
        self._draw, self._lock, self._value = draw, threading.Lock(), None

    def __call__(self) -> Any:
        with self._lock:
            if self._value is None:
                self._value = self._draw()
            return self._value


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


def _activations(plan: Plan, piece: Piece, todo: set[GroupKey]) -> list[str]:
    """The activations the piece trains (``todo``: the plan's groups to train) on some of
    its series, in the config's order."""
    return [a for a in plan.config.activations
            if any(GroupKey(s, a) in todo for s in piece.series)]


class Call(NamedTuple):
    """One call of a compiled training program: a fold of several series, padded to shared
    row counts (``rows``, ``val_rows``), each series's own data. ``series`` may repeat
    its first entry to fill the call to its program's size; ``real`` counts the entries
    that are not such fillers."""

    fold: int
    series: tuple[str, ...]
    real: int
    rows: int
    val_rows: int


def calls(plan: Plan, per_call: int = 1) -> list[list[Call]]:
    """How the plan's series train: per *piece* (a few series trained together, at most
    ``per_call``), one :class:`Call` per fold, in order.

    Series share a program when every fold's fit and validation rows pad to the same
    counts (:func:`relulab.training.padded_rows`); where all series of such a class have
    exactly the same counts (one series, or a panel of equal lengths), they are not padded
    at all. A class is cut into pieces of equal size (the last one filled up by repeating a
    series), so each class compiles one program, whatever its size. Pure: shapes only.
    """
    from relulab.training import padded_rows

    bs = plan.config.batch_size
    need = {u.series_id for u in plan.units}
    exact: dict[str, tuple[tuple[int, int], ...]] = {}
    for sid, sp in plan.series.items():
        if sid in need:
            exact[sid] = tuple((len(p.fit), len(p.val_loss)) for p in sp.prepared)
    classes: dict[tuple, list[str]] = {}
    for sid, counts in exact.items():
        key = tuple((padded_rows(n, bs), padded_rows(m, bs) if m else 0) for n, m in counts)
        classes.setdefault(key, []).append(sid)
    out = []
    for key, sids in classes.items():
        shapes = key if len({exact[s] for s in sids}) > 1 else exact[sids[0]]
        pieces = -(-len(sids) // max(1, per_call))
        size = -(-len(sids) // pieces)
        for k in range(pieces):
            piece = sids[k * size:(k + 1) * size]
            filled = tuple(piece) + (piece[0],) * (size - len(piece))
            out.append([Call(f, filled, len(piece), rows, val_rows)
                        for f, (rows, val_rows) in enumerate(shapes)])
    return out


def spread(plan: Plan, per_call: int, workers: int) -> int:
    """At most ``per_call`` series a call, and few enough that ``workers`` steps can
    train at once: a plan whose series each have fewer steps (activations x folds) than
    ``workers`` is cut into at least as many pieces as it takes to give every worker one
    (a panel of 4 series and one activation on 2 workers: 2 calls of 2 series). The
    numbers do not depend on it."""
    steps = Counter(u.series_id for u in plan.units)  # a series' units: its steps
    if workers <= 1 or not steps:
        return per_call
    pieces = -(-workers // max(steps.values()))
    return per_call if pieces == 1 else max(1, min(per_call, -(-len(steps) // pieces)))


class MemoryNeed(NamedTuple):
    """Bytes a plan needs at once, beyond what its process holds before it starts,
    estimated from shapes alone (:func:`memory_needed`).

    Attributes:
      training: the largest piece (:func:`calls`) at its peak: a call's programs
        (``training.call_memory``) and every fit output of the piece, which waits until
        the piece is scored.
      waiting: the runs of other series held while a piece trains (a panel's series
        trained ahead of their baselines; none in a study of one series).
      runs: every run held at once once trained (each run's per-epoch records as float64,
        its forecasts and metrics), until its series is analysed.
      analysis: one series' bootstrap over seeds (resample indices and values).
    """

    training: int
    waiting: int
    runs: int
    analysis: int

    @property
    def total(self) -> int:
        return max(self.training + self.waiting, self.runs) + self.analysis


# What a run costs in memory besides its arrays (its RunRecord, metric dicts, unit
# states), and how many arrays of bootstrap x seeds (8 bytes) the analysis holds at once:
# measured with tracemalloc on the seed preset (2,000 seeds of 2 epochs: 3.2 kB a run
# besides its arrays; the analysis' peak, 3.1 such arrays at 200 and 2,000 seeds).
_RUN_BYTES = 4096
_BOOTSTRAP_ARRAYS = 4


def memory_needed(plan: Plan, per_call: int = 1, held_series: int = 1, workers: int = 1,
                  **changes: Any) -> MemoryNeed:
    """What running ``plan`` in calls of ``per_call`` series needs in memory, with the
    runs of ``held_series`` series held at once (a single study holds its one series';
    a panel, those trained ahead of their baselines) and ``workers`` pieces training at
    once (each counted at the largest piece's need). ``changes`` (``seeds=``,
    ``epochs=``) estimate the same plan with other settings. Pure: shapes only, nothing
    trained or compiled.

    Measured against the peak resident memory of whole studies (docs/DESIGN.md): 4-40%
    above it wherever the need is more than a few megabytes; ``tests/test_memory.py``
    holds the training part to XLA's own accounting of the compiled programs.
    """
    from relulab.training import call_memory, record_fields

    config = plan.config.replace(**changes) if changes else plan.config
    spec = train_spec(config)
    seeds, epochs, acts = config.seeds, config.epochs, len(config.activations)
    training = 0
    for piece in calls(plan, per_call):
        n_features = plan.series[piece[0].series[0]].prepared[0].fit.width
        need = [call_memory(spec, c.rows, n_features, len(c.series), seeds) for c in piece]
        training = max(training, max(m.peak for m in need)
                       + acts * sum(m.output for m in need))
    longest = max((sp.values.size for sp in plan.series.values()), default=0)
    per_run = 8 * epochs * record_fields(spec.model) + 16 * longest + _RUN_BYTES
    series_runs = acts * seeds * per_run
    n = len(plan.series)
    return MemoryNeed(max(1, workers) * training, min(held_series, n - 1) * series_runs,
                      min(held_series, n) * series_runs,
                      _BOOTSTRAP_ARRAYS * 8 * config.bootstrap * seeds)


def fit_memory(plan: Plan, per_call: int, held_series: int, available: int,
               workers: int = 1) -> int:
    """The largest number of series per call, at most ``per_call``, with which ``plan``
    fits in ``available`` bytes with ``workers`` pieces training at once (the numbers do
    not depend on it); a plan that does not fit even one series a call is refused with
    one line naming the seeds and the epochs that would fit."""
    for n in sorted({per_call, *(per_call >> k for k in range(1, per_call.bit_length()))},
                    reverse=True):
        if n >= 1 and memory_needed(plan, n, held_series, workers).total <= available:
            return n
    config = plan.config
    need = memory_needed(plan, 1, held_series).total

    def most(field: str, now: int) -> int:
        """The largest value of ``field`` up to ``now`` that fits (0: none does)."""
        lo, hi = 0, now
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if memory_needed(plan, 1, held_series, **{field: mid}).total <= available:
                lo = mid
            else:
                hi = mid - 1
        return lo

    fixes = [f"--{field} {n} or fewer" for field, n in
             (("seeds", most("seeds", config.seeds)), ("epochs", most("epochs", config.epochs)))
             if n]
    rows = max((c.rows for piece in calls(plan, 1) for c in piece), default=0)
    raise RelulabError(
        f"this study needs about {_size(need)} of memory ({config.seeds:,} seeds x "
        f"{config.epochs:,} epochs: every model keeps a shuffle order of its up to {rows:,} "
        f"training rows for each epoch), more than the {_size(available)} available; "
        + (f"pass {' or '.join(fixes)}" if fixes else "free some memory or use a larger "
           "machine"))


def _size(n: float) -> str:
    """Bytes in words: 1.8 GB, 820 MB, 37,000 TB."""
    unit, scale = next(((u, s) for u, s in (("TB", 1e12), ("GB", 1e9)) if n >= s),
                       ("MB", 1e6))
    v = n / scale
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:.2g} {unit}"


def train_data(prepared: Any) -> Any:
    """The arrays one fold's models train on."""
    from relulab.training import TrainData

    return TrainData.from_prepared(prepared)


@functools.lru_cache(maxsize=32)
def train_spec(config: StudyConfig) -> Any:
    """The training a config decides (``training.TrainSpec``), derived once per config."""
    from relulab.training import TrainSpec

    return TrainSpec.from_config(config)


@functools.lru_cache(maxsize=32)
def _groups(activations: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    from relulab.training import program_groups

    return {a: g for g in program_groups(activations) for a in g}


def program_group(config: StudyConfig, activation: str) -> tuple[str, ...]:
    """The activations of ``config`` that share ``activation``'s compiled program."""
    return _groups(tuple(config.activations))[activation]


def call_programs(plan: Plan, call: Call, activations: list[str]) -> dict[str, Any]:
    """The compiled-program handle (``training.Program``) of each activation for ``call``'s
    shapes, from the shapes alone (nothing is stacked or compiled here): the activations
    of one group of ``training.program_groups`` share one."""
    from relulab.training import Program

    config = plan.config
    spec = train_spec(config)
    preps = [plan.series[s].prepared[call.fold] for s in call.series]
    window = (preps[0].fit.width,)
    ahead = preps[0].fit.target_shape  # (H,) for a direct multi-step head
    shapes = ((call.rows, *window), (call.rows, *ahead), (call.val_rows, *window),
              (call.val_rows, *ahead))
    padded = any(len(p.fit) != call.rows or len(p.val_loss) != call.val_rows
                 for p in preps)
    return {a: Program(spec, program_group(config, a), shapes, len(call.series),
                       config.seeds, padded) for a in activations}


def call_batch(plan: Plan, call: Call) -> Any:
    """``call``'s series' windows of its fold, stacked and padded (``training.Batch``)."""
    from relulab.training import make_batch

    return make_batch([train_data(plan.series[s].prepared[call.fold]) for s in call.series],
                      call.rows, call.val_rows)


def model_steps(config: StudyConfig, prepared: Any) -> int:
    """Optimiser updates of one fold's models over every seed (padding steps not counted)."""
    from relulab.training import steps_per_epoch

    n = len(prepared.fit)
    return config.seeds * config.epochs * steps_per_epoch(train_spec(config), n)


def forecasts_of(config: StudyConfig, activation: str, params: Any, prep: Any,
                 windows: Any) -> np.ndarray:
    """``(seeds, points)`` forecasts in the series' units of the models ``params`` (a
    leading seed axis) for ``windows`` of the fold ``prep``: one step ahead, or paths of
    ``config.horizon`` steps, direct (the head's ``H`` outputs) or recursive (each seed's
    one-step model fed its own forecasts, ``windows.Prepared.recursive``)."""
    from relulab.training import predict_many

    model = train_spec(config).model
    group = program_group(config, activation)
    if windows.horizon > 1 and config.strategy == "recursive":
        def step(X: np.ndarray) -> np.ndarray:
            return np.asarray(predict_many(model, activation, params, X, group,
                                           per_seed=True))

        return prep.recursive(step, windows, _seed_count(params))
    scaled = np.asarray(predict_many(model, activation, params, windows.X, group))
    return prep.forecasts(scaled, windows)


def _seed_count(params: Any) -> int:
    """The leading (seed) axis of a pytree of stacked parameters."""
    import jax

    return int(jax.tree.leaves(params)[0].shape[0])


def score_group(config: StudyConfig, activation: str, sp: SeriesPlan,
                outs: list[Any]) -> list[RunRecord]:
    """Forecasts in original units and their metrics: one RunRecord per seed.

    ``outs`` holds one TrainOutput per fold. Test forecasts of every fold are joined;
    validation forecasts, losses and per-epoch statistics come from the last fold (the
    protocol's split).
    """
    from relulab import metrics

    values, preps = sp.values, sp.prepared

    def forecast(out: Any, prep: Any, windows: Any) -> np.ndarray:
        return forecasts_of(config, activation, out.params, prep, windows)

    forecasts = np.concatenate([forecast(o, p, p.test) for o, p in zip(outs, preps,
                                                                          strict=True)], axis=1)
    last, out = preps[-1], outs[-1]
    val_forecast = forecast(out, last, last.validation)
    diverged = np.logical_or.reduce([np.asarray(o.diverged) for o in outs])
    y_test = values[preps[0].split.test_start:]
    # The joined test region is contiguous: the naive-anchored MDA's first anchor is the
    # actual value just before it.
    y_prev = float(values[preps[0].split.test_start - 1])
    y_train = values[:last.split.train_end]
    val_y = values[last.split.train_end:last.split.test_start]
    val_prev = float(values[last.split.train_end - 1])
    # Each point's place in its forecast path (None: one-step forecasts).
    steps = val_steps = None
    if config.horizon > 1:
        steps = metrics.path_steps(y_test.size, config.horizon, config.test_size)
        val_steps = metrics.path_steps(val_y.size, config.horizon)
    loss = np.asarray(out.loss, dtype=np.float64)
    val_loss = np.asarray(out.val_loss, dtype=np.float64)
    best = np.asarray(out.best_epoch)
    stats = {k: np.asarray(v, dtype=np.float64) for k, v in out.epoch_stats.items()}
    units = {k: np.asarray(v) for k, v in out.unit_stats.items()}
    runs = []
    for i, seed in enumerate(config.seed_list):
        bad = bool(diverged[i]) or not np.all(np.isfinite(forecasts[i]))
        if bad:
            m = dict.fromkeys(METRIC_COLUMNS, float("nan"))
            vm = dict(m)
        else:
            m = metrics.score(y_test, forecasts[i], y_prev=y_prev, y_train=y_train,
                              season=config.season, steps=steps)
            vm = metrics.score(val_y, val_forecast[i], y_prev=val_prev, y_train=y_train,
                               season=config.season, steps=val_steps)
        runs.append(RunRecord(
            activation=activation, seed=int(seed), diverged=bad,
            metrics={k: float(v) for k, v in m.items()},
            val_metrics={k: float(v) for k, v in vm.items()},
            forecast=forecasts[i], val_forecast=val_forecast[i], loss=loss[i],
            val_loss=val_loss[i], best_epoch=int(best[i]),
            epoch_stats={k: v[i] for k, v in stats.items()},
            unit_stats={k: v[i] for k, v in units.items()},
        ))
    return runs


def field_season(config: Any, series: Any) -> Any:
    """The season of the field's baselines (:class:`relulab.baselines.Season`): the
    config's, else the one of the series' dates; None where the config asks only for the
    protocol's baselines."""
    from relulab.baselines import season_of
    from relulab.data.dates import frequency

    if config.baselines != "field":
        return None
    return season_of(config.season, frequency(getattr(series, "dates", None)))


def fit_baselines(values: Any, train_end: int, test_start: int, season: int | None,
                  horizon: int = 1, region: int | None = None, field: Any = None
                  ) -> dict[str, dict[str, Any]]:
    """The naive, seasonal-naive and ARIMA forecasts of one series' test region, and with
    ``field`` (a :class:`relulab.baselines.Season`) AutoETS and AutoARIMA too. Plain
    arguments, so that a worker process receives a series' values only."""
    from relulab import stats  # noqa: F401  (imports statsmodels here, off the main thread)
    from relulab.baselines import run_baselines

    return run_baselines(values, train_end=train_end, test_start=test_start, season=season,
                         horizon=horizon, region=region, field=field)


@functools.lru_cache(maxsize=1)
def enable_compilation_cache(directory: str | os.PathLike[str] | None = None) -> str | None:
    """Keep compiled training programs on disk so a repeated study skips compilation (once
    a process: :meth:`JaxTrainer.programs` calls it before the first compilation).

    Compilation is most of a small study's wall time on a CPU (about 6 of 9 s for the seed
    preset with 6 activations); with the cache a rerun compiles in about 1 s. The default
    directory is ``<relulab cache>/jax`` (``$RELULAB_CACHE`` or ``~/.cache/relulab``);
    setting ``RELULAB_JAX_CACHE=0`` turns it off. Returns the directory, or None when off.
    """
    import jax

    if os.environ.get("RELULAB_JAX_CACHE", "1") == "0":
        return None
    if directory is None:
        from relulab.data import default_cache_dir

        directory = default_cache_dir() / "jax"
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:  # a read-only home: run without the cache rather than fail
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(directory)
