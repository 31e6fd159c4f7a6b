"""One global model per activation and seed, trained on the windows of every series.

Forecasting practice since the M4 competition trains one network across a panel
(NeuralForecast, Darts): :class:`GlobalTrainer` does so behind the trainer seam
(:mod:`relulab.study.trainer`). Each series is windowed and scaled on its own, exactly as
for its local models (its own train region, ``config.scaler``; Keras' validation split
per series); each fold's training windows of every series are then pooled into one data
set, and one compiled program trains every seed of an activation on it (the same
``training.Program`` as a local series: Keras' epochs, shuffled batches, Adam, early
stopping on the pooled validation tails). The model is then scored per series, on that
series' own test windows (:func:`relulab.study.jax_trainer.score_group`), so the pooled
statistics (ranks, wins, Friedman) answer for a global model as for local ones; a panel of
one series trains exactly its local model, bit for bit.

A series' result depends on every other series of the panel, so the config of a global
study carries the panel's identity (``StudyConfig.panel_key``, the hash of every series'
id and content hash): another panel is another study, and a resumed one retrains nothing
it stored. One program per fold shape is compiled, whatever the number of series.

Memory: a local model draws every epoch's shuffle order at its start (epochs x windows
int32 a model, Keras' semantics as relulab pins them); over a pooled panel that would be
the largest term by far (an estimated 883 MB for the 148 employment series at 10 seeds
and 100 epochs; benchmarks/global_memory.py). A global model of more than one series draws
its shuffle inside the loop instead (``TrainSpec.shuffle = "streamed"``): each step
computes its own batch's samples, a pseudo-random permutation of the pooled windows
drawn from the model's key and the epoch (``training.epoch_permutation``), so no order
is held, whatever the number of epochs and windows. Its windows are not
materialised: the program reads each batch's windows from the pooled series
(``training.StreamedData``, :func:`pooled_data`), so the panel takes 4 bytes a point of
its series and a few words a window (where it starts, its targets, a per-window scaler's
statistics), not ``lookback`` words a window; each step reads its own batch, so an epoch
holds no shuffled copy of the windows either. Checked before anything compiles
(:meth:`GlobalTrainer.memory`). A panel of one series keeps the drawn orders, so it
trains its local model bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from relulab.errors import RelulabError
from relulab.study.jax_trainer import JaxTrainer, Once, _Compile, _ready, program_group, train_spec
from relulab.study.plan import GroupKey, Plan
from relulab.study.trainer import Piece, Step


class PooledFold(NamedTuple):
    """One fold of a global study: every series' training windows, pooled (``rows`` fit
    and ``val_rows`` validation windows)."""

    fold: int
    rows: int
    val_rows: int


def panel_key(plan_series: dict[str, Any]) -> str:
    """The identity of the series a global model pools: the hash of every series' id and
    content hash, in the plan's order."""
    h = hashlib.sha256()
    for sid, sp in plan_series.items():
        h.update(f"{sid}\0{sp.series.content_hash()}\n".encode())
    return h.hexdigest()[:16]


def pooled_data(plan: Plan, fold: int) -> Any:
    """Fold ``fold``'s training windows of every series of ``plan``, pooled in the plan's
    order (``training.StreamedData``): every series' model inputs end to end, and where
    each fit window, then each of Keras' validation windows, starts in them. The program
    reads each batch's windows from the series, so the panel takes the room of its series,
    not ``lookback`` times it."""
    from relulab.training import StreamedData

    preps = [sp.prepared[fold] for sp in plan.series.values()]
    at = np.cumsum([0] + [p.fit.seq.shape[0] for p in preps])[:-1]

    def joined(part: str, field: str) -> np.ndarray | None:
        arrays = [getattr(getattr(p, part), field) for p in preps]
        return None if arrays[0] is None else np.concatenate(arrays)

    def firsts(part: str) -> np.ndarray:
        return np.concatenate([getattr(p, part).first + a
                               for p, a in zip(preps, at, strict=True)]).astype(np.int32)

    return StreamedData(np.concatenate([p.fit.seq for p in preps]),
                        np.arange(preps[0].fit.width, dtype=np.int32), firsts("fit"),
                        firsts("val_loss"), joined("fit", "y"), joined("val_loss", "y"),
                        joined("fit", "x_loc"), joined("fit", "x_inv"),
                        joined("val_loss", "x_loc"), joined("val_loss", "x_inv"))


def pooled_layout(plan: Plan, fold: PooledFold) -> tuple:
    """The program shapes of :func:`pooled_data` for ``fold``, from shapes alone."""
    import jax

    from relulab.training import StreamedData, streamed_layout

    preps = [sp.prepared[fold.fold] for sp in plan.series.values()]
    w = preps[0].fit
    points = sum(p.fit.seq.shape[0] for p in preps)
    f32, i32 = np.float32, np.int32

    def shaped(shape: tuple[int, ...], dtype: Any, present: bool = True) -> Any:
        return jax.ShapeDtypeStruct(shape, dtype) if present else None

    stats = w.x_loc is not None  # a per-window scaler's
    return streamed_layout(StreamedData(
        seq=shaped((points, *w.seq.shape[1:]), f32), offsets=shaped((w.width,), i32),
        fit_first=shaped((fold.rows,), i32), val_first=shaped((fold.val_rows,), i32),
        y_fit=shaped((fold.rows, *w.target_shape), f32),
        y_val=shaped((fold.val_rows, *w.target_shape), f32),
        fit_loc=shaped((fold.rows, 2), f32, stats), fit_inv=shaped((fold.rows,), f32, stats),
        val_loc=shaped((fold.val_rows, 2), f32, stats),
        val_inv=shaped((fold.val_rows,), f32, stats)))


def global_spec(plan: Plan) -> Any:
    """The training of ``plan``'s global model (``training.TrainSpec``): the local one, its
    shuffle ``"streamed"`` over more than one series (module docstring)."""
    spec = train_spec(plan.config)
    return spec if len(plan.series) == 1 else dataclasses.replace(spec, shuffle="streamed")


def pooled_folds(plan: Plan) -> list[PooledFold]:
    """Each fold's pooled row counts (shapes only)."""
    first = next(iter(plan.series.values()))
    return [PooledFold(k, sum(len(sp.prepared[k].fit) for sp in plan.series.values()),
                       sum(len(sp.prepared[k].val_loss) for sp in plan.series.values()))
            for k in range(len(first.prepared))]


class GlobalTrainer(JaxTrainer):
    """relulab's JAX forecasters, one model per activation and seed over every series
    (module docstring). Scoring and baselines are the local trainer's, per series."""

    # Trains on every series of its plan at once: a plan cut into shards of series (Ray)
    # would train another model on each shard.
    pools_series = True

    def pieces(self, plan: Plan, per_call: int, available: int | None = None,
               held_series: int = 1, workers: int = 1) -> list[Piece]:
        needed = tuple(dict.fromkeys(u.series_id for u in plan.units))
        if not needed:
            return []
        if available is not None:
            need = self.memory(plan, workers)
            if need > available:
                from relulab.study.jax_trainer import _size

                raise RelulabError(
                    f"this global model needs about {_size(need)} of memory (the panel's "
                    f"pooled windows and every model's training), more than the "
                    f"{_size(available)} available; pass fewer --seeds or a shorter "
                    "--lookback, or study fewer series")
        return [Piece(needed, tuple(pooled_folds(plan)))]

    def memory(self, plan: Plan, workers: int = 1) -> int:
        """Bytes the largest fold's training needs at once (``training.call_memory``),
        with ``workers`` of its activations training side by side."""
        from relulab.training import call_memory, layout_bytes

        spec = global_spec(plan)
        n_features = next(iter(plan.series.values())).prepared[0].fit.width
        acts = len(plan.config.activations)
        return max((min(max(1, workers), acts) * m.peak + acts * m.output for m in
                    (call_memory(spec, f.rows, n_features, 1, plan.config.seeds,
                                 streamed=layout_bytes(pooled_layout(plan, f)))
                     for f in pooled_folds(plan))), default=0)

    def programs(self, plan: Plan, pieces: list[Piece]) -> list[Any]:
        from relulab.study.jax_trainer import enable_compilation_cache

        enable_compilation_cache()
        acts = list(dict.fromkeys(k.activation for k in plan.groups()))
        return [_Compile(p) for p in dict.fromkeys(
            program for piece in pieces for fold in piece.work
            for program in _programs(plan, fold, acts).values())]

    def steps(self, plan: Plan, piece: Piece) -> Iterator[Step]:
        import jax

        from relulab.training import make_batch, steps_per_epoch

        config = plan.config
        seeds = np.asarray(config.seed_list)
        todo = set(plan.groups())
        acts = [a for a in config.activations if any(k.activation == a for k in todo)]
        for fold in piece.work:
            batch = make_batch([pooled_data(plan, fold.fold)])
            programs = _programs(plan, fold, acts)
            # Drawn once per fold, by its first step to run, shared by every activation.
            start = Once(functools.partial(programs[acts[0]].start, batch, seeds))
            per_model = config.epochs * steps_per_epoch(global_spec(plan), fold.rows)
            for a in acts:
                keys = tuple(GroupKey(s, a) for s in piece.series if GroupKey(s, a) in todo)

                def run(a: str = a, keys: tuple[GroupKey, ...] = keys,
                        programs: dict[str, Any] = programs, batch: Any = batch,
                        start: Once = start) -> dict[GroupKey, Any]:
                    out = jax.tree.map(np.asarray, _ready(programs[a].fit(a, batch, *start())))
                    model = jax.tree.map(lambda x: x[0], out)  # the one pooled "series"
                    return dict.fromkeys(keys, model)

                yield Step(a, fold.fold, keys, float(config.seeds * per_model), run)


def _programs(plan: Plan, fold: PooledFold, activations: list[str]) -> dict[str, Any]:
    """The compiled-program handle of each activation for ``fold``'s pooled shapes."""
    from relulab.training import Program

    config = plan.config
    shapes = pooled_layout(plan, fold)
    return {a: Program(global_spec(plan), program_group(config, a), shapes, 1,
                       config.seeds, False) for a in activations}
