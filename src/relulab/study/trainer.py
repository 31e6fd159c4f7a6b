"""The trainer seam: what an executor asks of whatever trains a plan's models.

An executor decides *where* and *in what order* work runs (this process, a pool of
workers, a Ray cluster), how far training may run ahead of the rest, and what it reports;
a :class:`Trainer` decides *how* models train and are scored. The executor never looks
inside the models, the data or the scores: it passes along what the trainer gives it. A
trainer provides:

- :meth:`Trainer.pieces`: the plan's units cut into :class:`Piece` s (pure: shapes
  only), at most ``per_call`` series each; with ``workers`` steps training at once, cut
  finer where the plan has too few steps to keep them busy; and, given the bytes
  ``available`` while the runs of ``held_series`` series wait in memory and ``workers``
  pieces train, few enough to fit (or a one-line refusal before anything compiles);
- :meth:`Trainer.programs`: what must be compiled before training, each with a
  ``compile()`` the executor may call from several threads at once and a ``str()`` for
  the progress display (an empty list for a trainer that compiles nothing);
- :meth:`Trainer.steps`: one piece's training, as :class:`Step` s, each training one
  activation on one fold of the piece's series and returning every group's raw output
  of it. Steps are independent: the executor may run several at once on threads of
  their own (of one piece or of several) where the trainer is ``concurrent``, else in
  order on one thread;
- :meth:`Trainer.score`: pure, a group's raw outputs (one per fold) in, its scored runs
  (:class:`relulab.result.RunRecord`: metrics, forecasts, per-epoch records) out; the
  executor runs it off the training thread;
- :meth:`Trainer.baselines`: a series' reference forecasts, as a picklable job the
  executor runs in a worker process or on a thread.

``Trainer.concurrent`` says whether steps gain from running side by side: true where a
step is a program that keeps one core busy (relulab's small JAX models, whose XLA
programs run on the thread that calls them), false where one step already uses every
core (a PyTorch or Keras model's own threads).

A trainer is part of its plan (``Plan.trainer``), so a shard of a plan sent to a remote
worker trains the same way. relulab's own trainer is
:class:`relulab.study.jax_trainer.JaxTrainer`; a trainer must be picklable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from relulab.result import RunRecord

if TYPE_CHECKING:
    from relulab.study.plan import GroupKey, Plan


@dataclass(frozen=True)
class Piece:
    """Work trained together: ``series`` (each once, in order) and the trainer's own
    description of how (``work``: opaque to the executor)."""

    series: tuple[str, ...]
    work: Any


@dataclass(frozen=True)
class Step:
    """One training call: ``activation`` on fold ``fold`` of ``groups`` (one per series).
    ``run()`` trains and returns each group's raw output of this fold; ``model_steps`` is
    the optimiser updates it makes (for the speed figures)."""

    activation: str
    fold: int
    groups: tuple[GroupKey, ...]
    model_steps: float
    run: Callable[[], dict[GroupKey, Any]]


class Compilable(Protocol):
    def compile(self) -> Any: ...


class Trainer(Protocol):
    """How a plan's models train and are scored (module docstring)."""

    concurrent: bool

    def pieces(self, plan: Plan, per_call: int, available: int | None = None,
               held_series: int = 1, workers: int = 1) -> list[Piece]: ...

    def programs(self, plan: Plan, pieces: list[Piece]) -> list[Compilable]: ...

    def steps(self, plan: Plan, piece: Piece) -> Iterator[Step]: ...

    def score(self, plan: Plan, key: GroupKey, outputs: list[Any]) -> list[RunRecord]: ...

    def baselines(self, plan: Plan, series_id: str
                  ) -> tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]: ...
