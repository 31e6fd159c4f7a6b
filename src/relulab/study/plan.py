"""The plan of a study: which models to train, as a pure list of work units.

A study trains every activation of its config over every seed on every series and every
rolling-origin fold. The plan names that work without doing any of it: a :class:`WorkUnit`
is one (series, activation, fold), all of whose seeds train in one compiled program; the
units of one (series, activation) form a *group*, the unit the results store writes in one
transaction (its runs join the test forecasts of every fold). The plan also carries, per
series, what every unit of that series trains and scores on: the split and the windows of
each fold, with each fold's scaler fitted on its own train region.

Making a plan checks everything that can be checked before training (series long enough
for every fold, activation names known), so a user's mistake fails in a second, not after
minutes of compilation. One series today; a panel is more entries in ``Plan.series``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from relulab.config import StudyConfig
from relulab.data import Series, check_series
from relulab.errors import RelulabError


class GroupKey(NamedTuple):
    """A storage group: every seed and fold of one activation on one series."""

    series_id: str
    activation: str


class WorkUnit(NamedTuple):
    """One compiled training program's worth of work: every seed of one activation on one
    fold of one series."""

    series_id: str
    activation: str
    fold: int

    @property
    def group(self) -> GroupKey:
        return GroupKey(self.series_id, self.activation)


@dataclass(frozen=True, eq=False)
class SeriesPlan:
    """One series and, per fold, its split and prepared windows (``windows.Prepared``)."""

    series_id: str
    series: Series
    splits: tuple[Any, ...]
    prepared: tuple[Any, ...]

    @property
    def values(self) -> np.ndarray:
        return self.series.values

    @property
    def train_end(self) -> int:
        """End of the (last fold's) train region: the protocol's split."""
        return int(self.splits[-1].train_end)

    @property
    def test_start(self) -> int:
        """Start of the joined test region (the first fold's test window)."""
        return int(self.splits[0].test_start)


@dataclass(frozen=True, eq=False)
class Plan:
    """What a study will do: its config, its series, and the work units still to run."""

    config: StudyConfig
    series: Mapping[str, SeriesPlan]
    units: tuple[WorkUnit, ...]
    done: frozenset[GroupKey] = field(default_factory=frozenset)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(self.config.seed_list)

    def groups(self) -> list[GroupKey]:
        """The groups still to run, in training order."""
        return list(dict.fromkeys(u.group for u in self.units))

    def units_of(self, group: GroupKey) -> list[WorkUnit]:
        return [u for u in self.units if u.group == group]

    def without(self, done: Iterable[GroupKey]) -> Plan:
        """The same plan less the groups in ``done`` (already stored: a resumed study)."""
        done = frozenset(done) | self.done
        return Plan(self.config, self.series, tuple(u for u in self.units
                                                    if u.group not in done), done)

    def only(self, series_ids: Iterable[str]) -> Plan:
        """The same plan restricted to ``series_ids`` (in the plan's order): their series,
        their units and their stored groups. A shard of a distributed study is one."""
        wanted = set(series_ids)
        unknown = sorted(wanted - set(self.series))
        if unknown:
            raise KeyError(f"series not in the plan: {', '.join(unknown)}")
        return Plan(self.config, {sid: sp for sid, sp in self.series.items() if sid in wanted},
                    tuple(u for u in self.units if u.series_id in wanted),
                    frozenset(k for k in self.done if k.series_id in wanted))


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
            exact[sid] = tuple((p.fit.X.shape[0], p.val_loss.X.shape[0]) for p in sp.prepared)
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


def memory_needed(plan: Plan, per_call: int = 1, held_series: int = 1,
                  **changes: Any) -> MemoryNeed:
    """What running ``plan`` in calls of ``per_call`` series needs in memory, with the
    runs of ``held_series`` series held at once (a single study holds its one series';
    a panel, those trained ahead of their baselines). ``changes`` (``seeds=``,
    ``epochs=``) estimate the same plan with other settings. Pure: shapes only, nothing
    trained or compiled.

    Measured against the peak resident memory of whole studies (docs/DESIGN.md): 4-40%
    above it wherever the need is more than a few megabytes; ``tests/test_memory.py``
    holds the training part to XLA's own accounting of the compiled programs.
    """
    from relulab.training import TrainSpec, call_memory, record_fields

    config = plan.config.replace(**changes) if changes else plan.config
    spec = TrainSpec.from_config(config)
    seeds, epochs, acts = config.seeds, config.epochs, len(config.activations)
    training = 0
    for piece in calls(plan, per_call):
        n_features = plan.series[piece[0].series[0]].prepared[0].fit.X.shape[1]
        need = [call_memory(spec, c.rows, n_features, len(c.series), seeds) for c in piece]
        training = max(training, max(m.peak for m in need)
                       + acts * sum(m.output for m in need))
    longest = max((sp.values.size for sp in plan.series.values()), default=0)
    per_run = 8 * epochs * record_fields(spec.model) + 16 * longest + _RUN_BYTES
    series_runs = acts * seeds * per_run
    n = len(plan.series)
    return MemoryNeed(training, min(held_series, n - 1) * series_runs,
                      min(held_series, n) * series_runs,
                      _BOOTSTRAP_ARRAYS * 8 * config.bootstrap * seeds)


def fit_memory(plan: Plan, per_call: int, held_series: int, available: int) -> int:
    """The largest number of series per call, at most ``per_call``, with which ``plan``
    fits in ``available`` bytes (the numbers do not depend on it); a plan that does not
    fit even one series a call is refused with one line naming the seeds and the epochs
    that would fit."""
    for n in sorted({per_call, *(per_call >> k for k in range(1, per_call.bit_length()))},
                    reverse=True):
        if n >= 1 and memory_needed(plan, n, held_series).total <= available:
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


def folds(n: int, config: StudyConfig) -> list[Any]:
    """The splits of a series of ``n`` points: rolling-origin folds, or PROTOCOL.md's one."""
    from relulab.windows import rolling_folds, split

    if config.folds > 1:
        return rolling_folds(n, config)
    return [split(n, test_size=config.test_size, train_fraction=config.train_fraction,
                  lookback=config.lookback)]


def plan_series(series: Series, config: StudyConfig, series_id: str | None = None) -> SeriesPlan:
    """Check that ``series`` suits ``config`` and prepare every fold's windows."""
    from relulab.windows import prepare

    check_series(series, config)  # long enough, and a scale float32 training can carry
    values = np.asarray(series.values, dtype=np.float64)
    splits = folds(values.size, config)
    # Each fold sees only its own points, so its scaler is fitted on its own train region.
    prepared = tuple(prepare(values[:sp.n], config) for sp in splits)
    return SeriesPlan(series.name if series_id is None else series_id, series, tuple(splits),
                      prepared)


def check_activations(config: StudyConfig) -> None:
    """Fail before any training when an activation name is wrong."""
    from relulab.activations import get

    for name in (*config.activations, config.recurrent_activation):
        get(name)


def make_plan(config: StudyConfig, series: Series | Mapping[str, Series]) -> Plan:
    """Every work unit of ``config`` on ``series`` (one :class:`Series`, or several by id),
    in training order: series, then activation in the config's order, then fold."""
    check_activations(config)
    named = {series.name: series} if isinstance(series, Series) else dict(series)
    if not named:
        raise RelulabError("no series to study; pass at least one series")
    plans = {sid: plan_series(s, config, sid) for sid, s in named.items()}
    units = tuple(WorkUnit(sid, activation, k)
                  for sid, sp in plans.items()
                  for activation in config.activations
                  for k in range(len(sp.splits)))
    return Plan(config, plans, units)
