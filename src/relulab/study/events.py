"""What a running study tells a progress display: one small frozen dataclass per event.

A study calls its ``progress`` function with these, in this order: :class:`Started`;
:class:`Compiling` (and :class:`Compiled` as each program is ready); per training call a
:class:`GroupStarted` and its :class:`GroupDone`; :class:`SeriesDone` as each series is
analysed and stored; :class:`Analysing`; :class:`Finished`. The Ray executor adds
:class:`RayStarted`, :class:`ShardDone` and :class:`ShardFailed`. A display matches on the
types it knows and ignores the others, so a new event breaks no display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Started:
    """Training is about to start: ``groups`` training units to run (a unit is one
    activation on one fold of one series), ``cached`` groups already in the store."""

    groups: int
    cached: int
    activations: tuple[str, ...]
    series: int


@dataclass(frozen=True)
class Compiling:
    """``programs`` compiled programs are about to compile (for ``activations``)."""

    programs: int
    activations: tuple[str, ...]


@dataclass(frozen=True)
class Compiled:
    """``done`` of ``programs`` programs are compiled, the last one ``what`` (the trainer's
    words for it), ``seconds`` after compiling began."""

    done: int
    programs: int
    what: str
    seconds: float


@dataclass(frozen=True)
class _Call:
    """A training call: ``activation`` on fold ``fold`` of ``units`` groups (one per
    series in ``series``); ``index`` units of ``total`` are done before it."""

    activation: str
    fold: int
    index: int
    total: int
    units: int
    series: tuple[str, ...]


@dataclass(frozen=True)
class GroupStarted(_Call):
    """A training call starts."""


@dataclass(frozen=True)
class GroupDone(_Call):
    """That call is done, after ``seconds`` of training."""

    seconds: float


@dataclass(frozen=True)
class SeriesDone:
    """Series ``series_id`` is analysed and stored: the ``done``-th of ``total``."""

    done: int
    total: int
    series_id: str


@dataclass(frozen=True)
class Analysing:
    """Training is over; the statistics across series follow."""


@dataclass(frozen=True)
class Finished:
    """The study is done, after ``wall_s`` seconds."""

    wall_s: float


@dataclass(frozen=True)
class RayStarted:
    """A Ray executor sends ``shards`` shards to a cluster of ``cpus`` CPUs at
    ``address``, at most ``in_flight`` at once."""

    shards: int
    cpus: int
    in_flight: int
    address: str


@dataclass(frozen=True)
class ShardDone:
    """Shard ``shard`` of ``shards`` (``series``) came back with ``units`` units trained
    in ``seconds``."""

    shard: int
    shards: int
    series: tuple[str, ...]
    units: int
    seconds: float


@dataclass(frozen=True)
class ShardFailed:
    """Shard ``shard`` of ``shards`` failed after Ray's retries, for ``reason``."""

    shard: int
    shards: int
    series: tuple[str, ...]
    reason: str


Event = (Started | Compiling | Compiled | GroupStarted | GroupDone | SeriesDone | Analysing
         | Finished | RayStarted | ShardDone | ShardFailed)
ProgressFn = Callable[[Event], None]


def quiet(event: Event) -> None:
    """The progress function of a study nobody watches."""
    return None
