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
minutes of compilation. A study of one series is a plan of one entry in ``Plan.series``;
a panel is more entries.
"""

from __future__ import annotations

import dataclasses
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
class TaskPlan:
    """A supervised task's data set (:class:`relulab.tasks.TaskData`) where a forecast
    study has a series: one fold, its targets in split order as ``values``, the test
    targets from ``test_start`` (what the recorder, the analysis and the report read of a
    :class:`SeriesPlan`)."""

    series_id: str
    series: Any  # relulab.tasks.TaskData
    splits: tuple[Any, ...] = (None,)  # one fold
    prepared: tuple[Any, ...] = (None,)

    @property
    def values(self) -> np.ndarray:
        return self.series.values

    @property
    def train_end(self) -> int:
        return int(self.series.train_end)

    @property
    def test_start(self) -> int:
        return int(self.series.test_start)


def _jax_trainer() -> Any:
    from relulab.study.jax_trainer import JaxTrainer

    return JaxTrainer()


@dataclass(frozen=True, eq=False)
class Plan:
    """What a study will do: its config, its series, the work units still to run, and the
    trainer that trains them (:mod:`relulab.study.trainer`; relulab's JAX forecasters
    unless another is given)."""

    config: StudyConfig
    series: Mapping[str, SeriesPlan | TaskPlan]
    units: tuple[WorkUnit, ...]
    done: frozenset[GroupKey] = field(default_factory=frozenset)
    warnings: tuple[str, ...] = ()  # what the plan left out, and why
    trainer: Any = field(default_factory=_jax_trainer)

    def groups(self) -> list[GroupKey]:
        """The groups still to run, in training order."""
        return list(dict.fromkeys(u.group for u in self.units))

    def units_of(self, group: GroupKey) -> list[WorkUnit]:
        return [u for u in self.units if u.group == group]

    def without(self, done: Iterable[GroupKey]) -> Plan:
        """The same plan less the groups in ``done`` (already stored: a resumed study)."""
        done = frozenset(done) | self.done
        return dataclasses.replace(self, units=tuple(u for u in self.units
                                                     if u.group not in done), done=done)

    def only(self, series_ids: Iterable[str]) -> Plan:
        """The same plan restricted to ``series_ids`` (in the plan's order): their series,
        their units and their stored groups. A shard of a distributed study is one."""
        wanted = set(series_ids)
        unknown = sorted(wanted - set(self.series))
        if unknown:
            raise KeyError(f"series not in the plan: {', '.join(unknown)}")
        return dataclasses.replace(
            self, series={sid: sp for sid, sp in self.series.items() if sid in wanted},
            units=tuple(u for u in self.units if u.series_id in wanted),
            done=frozenset(k for k in self.done if k.series_id in wanted))


def plan_series(series: Series, config: StudyConfig, series_id: str | None = None) -> SeriesPlan:
    """Check that ``series`` suits ``config`` (long enough for every fold, a scale float32
    training can carry) and prepare every fold's windows (:func:`relulab.windows.prepare_folds`:
    each fold's scaler fitted on its own train region)."""
    from relulab.windows import prepare_folds

    prepared = prepare_folds(series.values, config, what=f"series {series.name!r}")
    return SeriesPlan(series.name if series_id is None else series_id, series,
                      tuple(p.split for p in prepared), prepared)


def check_activations(config: StudyConfig) -> None:
    """Fail before any training when an activation name is wrong, or when two names of the
    study are one function (aliases, case)."""
    from relulab.activations import canonical_names, get

    for name in (*config.activations, config.recurrent_activation):
        get(name)
    canonical_names(config.activations)


def make_plan(config: StudyConfig, series: Series | Mapping[str, Series],
              trainer: Any = None) -> Plan:
    """Every work unit of ``config`` on ``series`` (one :class:`Series`, or several by id),
    in training order: series, then activation in the config's order, then fold.

    One series that does not suit the study (too short for its windows, a scale float32
    cannot carry) is an error; a panel (:class:`relulab.data.Panel`) leaves such series
    out with a warning each (``Plan.warnings``, with the panel's own: columns that hold no
    numbers, frequencies mixed) and refuses only when none is left. ``trainer``: what
    trains the units (:mod:`relulab.study.trainer`), relulab's JAX forecasters by
    default."""
    from relulab.data.panel import Panel, mixed_frequencies

    check_activations(config)
    if isinstance(series, Series):
        named = {series.name: series}
    else:
        named = dict(series.series if isinstance(series, Panel) else series)
    if not named:
        raise RelulabError("no series to study; pass at least one series")
    plans: dict[str, SeriesPlan] = {}
    warnings: list[str] = []
    if isinstance(series, Panel):
        warnings += [why for _, why in series.skipped]
        left_out: list[str] = []
        for sid, s in named.items():
            try:
                plans[sid] = plan_series(s, config, sid)
            except RelulabError as err:
                left_out.append(str(err))
                warnings.append(f"series {sid!r} left out: {err}")
        if not plans:
            raise RelulabError(f"no series of the panel suits the study ({len(left_out)} "
                               f"left out; the first: {left_out[0]})")
        mixed = mixed_frequencies(Panel({sid: named[sid] for sid in plans}))
        warnings += [mixed] if mixed else []
    else:
        plans = {sid: plan_series(s, config, sid) for sid, s in named.items()}
    units = tuple(WorkUnit(sid, activation, k)
                  for sid, sp in plans.items()
                  for activation in config.activations
                  for k in range(len(sp.splits)))
    if config.pooling == "global" and trainer is None:
        from relulab.study.global_trainer import GlobalTrainer, panel_key

        # Every series' numbers depend on the whole panel: its identity is the study's.
        config = config.replace(panel_key=panel_key(plans))
        trainer = GlobalTrainer()
    return Plan(config, plans, units, warnings=tuple(warnings),
                trainer=trainer if trainer is not None else _jax_trainer())


def make_task_plan(config: StudyConfig, data: Any, trainer: Any) -> Plan:
    """Every activation of ``config`` over its seeds on one supervised data set ``data``
    (:class:`relulab.tasks.TaskData`, whose task must be the config's), trained by
    ``trainer`` (:class:`relulab.study.task_study.TaskTrainer`): a plan of one entry, one
    fold per activation. The activations are the engine's to know (a user's own module
    is no name of relulab's family): the study that makes the engine checks them."""
    if data.task != config.task:
        raise RelulabError(f"the data is a {data.task} task but the study's task is "
                           f"{config.task!r}; pass task={data.task!r}")
    units = tuple(WorkUnit(data.name, activation, 0) for activation in config.activations)
    return Plan(config, {data.name: TaskPlan(data.name, data)}, units, trainer=trainer)
