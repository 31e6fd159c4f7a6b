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
from relulab.data import Series
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


def plan_series(series: Series, config: StudyConfig, series_id: str | None = None) -> SeriesPlan:
    """Check that ``series`` suits ``config`` (long enough for every fold, a scale float32
    training can carry) and prepare every fold's windows (:func:`relulab.windows.prepare_folds`:
    each fold's scaler fitted on its own train region)."""
    from relulab.windows import prepare_folds

    prepared = prepare_folds(series.values, config, what=f"series {series.name!r}")
    return SeriesPlan(series.name if series_id is None else series_id, series,
                      tuple(p.split for p in prepared), prepared)


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
