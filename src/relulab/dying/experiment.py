"""The cause-and-cure experiment: which settings kill units during training, which revive them.

MLP forecasters of a real series (default: the yearly sunspots that ship with statsmodels,
the demo's series) are trained over a grid of depth, width, learning rate, initialiser and
activation, several seeds per cell, the windows and training of the ``seed`` preset
otherwise (one-step forecasts, min-max scaling fitted on the train region, Adam, Keras'
validation split). Each model's units are tracked during training
(:mod:`relulab.training`: dead = exactly 0 on every training sample, dormant = ReDo score
at most :data:`relulab.diagnostics.DORMANT_THRESHOLD`), and every cell reports, over its
seeds, the median share of hidden units dead and dormant at the kept epoch and the median
test RMSE, each with a percentile bootstrap interval (:func:`relulab.stats.bootstrap_ci`).

One compiled program per (width, depth, activation) trains every learning rate, initialiser
and seed of it at once (:func:`relulab.training.fit_many`): the initialisers only decide
the start, and the learning rate is a traced value, so the grid costs one compilation per
activation and shape. A cell's models start from the same words whatever else is in the
grid (seed ``s`` of a cell is seed ``s`` of a study with the same settings), and they train
to float32 rounding of what :func:`relulab.training.train_many` gives for that cell alone.

:func:`verdicts` words the findings: for the worst ReLU cell, how many units died, what
each other activation and each other initialiser does there, and a lower learning rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from relulab.errors import RelulabError
from relulab.specs import DEFAULT_INIT

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "DEFAULT_DEPTHS",
    "DEFAULT_INITS",
    "DEFAULT_LEARNING_RATES",
    "DEFAULT_WIDTHS",
    "Experiment",
    "ExperimentCell",
    "ExperimentSpec",
    "run_experiment",
    "verdicts",
]

DEFAULT_DEPTHS = (1, 2, 4, 8)
DEFAULT_WIDTHS = (8,)
DEFAULT_LEARNING_RATES = (1e-3, 1e-2, 1e-1)
DEFAULT_INITS = ("glorot_uniform", "he_normal", "rai")
DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu")


@dataclass(frozen=True)
class ExperimentSpec:
    """The grid, the seeds and the training of a cause-and-cure experiment."""

    depths: tuple[int, ...] = DEFAULT_DEPTHS
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    learning_rates: tuple[float, ...] = DEFAULT_LEARNING_RATES
    inits: tuple[str, ...] = DEFAULT_INITS
    activations: tuple[str, ...] = DEFAULT_ACTIVATIONS
    seeds: int = 5
    epochs: int = 100
    batch_size: int = 16
    lookback: int = 5
    test_size: int = 15
    bootstrap: int = 2000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        from relulab.activations import get

        for key in ("depths", "widths", "learning_rates", "inits", "activations"):
            value = tuple(getattr(self, key))
            object.__setattr__(self, key, value)
            if not value:
                raise RelulabError(f"no {key.replace('_', ' ')} given; pass at least one "
                                   f"with --{key.replace('_', '-')}")
        for key in ("depths", "widths"):
            if any(int(v) < 1 for v in getattr(self, key)):
                raise RelulabError(f"{key} must be at least 1, got "
                                   f"{', '.join(map(str, getattr(self, key)))}")
        if any(not (math.isfinite(lr) and lr > 0) for lr in self.learning_rates):
            raise RelulabError("learning rates must be positive numbers, got "
                               f"{', '.join(map(str, self.learning_rates))}; pass e.g. "
                               "--learning-rates 1e-3,1e-2")
        for name in self.activations:
            get(name)
        # The cells are study configs: making them checks the inits, the seeds, the windows
        # and the training once, where a study's are checked, in the same words.
        for init in self.inits:
            self.config(self.widths[0], self.depths[0], init)

    def config(self, width: int, depth: int, init: str = DEFAULT_INIT) -> Any:
        """The study config of one (width, depth) and initialiser: the seed preset's windows
        and training, an MLP of that shape (the learning rate varies inside the program)."""
        from relulab.config import preset

        return preset("seed", model="mlp", units=width, layers=depth, init=init,
                      activations=self.activations, seeds=self.seeds, epochs=self.epochs,
                      batch_size=self.batch_size, lookback=self.lookback,
                      test_size=self.test_size, bootstrap=self.bootstrap,
                      confidence=self.confidence)


class ExperimentCell(NamedTuple):
    """One cell over its seeds: medians and bootstrap intervals."""

    depth: int
    width: int
    learning_rate: float
    init: str
    activation: str
    seeds: int  # converged seeds the figures are over
    diverged: int
    dead_share: float  # hidden units dead at the kept epoch, median over seeds
    dead_low: float
    dead_high: float
    dormant_share: float
    dormant_low: float
    dormant_high: float
    rmse: float  # test RMSE in the series' units, median over seeds
    rmse_low: float
    rmse_high: float


@dataclass
class Experiment:
    """The cells of an experiment, its settings and the series it ran on."""

    spec: ExperimentSpec
    series_name: str
    cells: list[ExperimentCell]
    seconds: float = math.nan

    def cell(self, depth: int, width: int, learning_rate: float, init: str,
             activation: str) -> ExperimentCell:
        for c in self.cells:
            if (c.depth, c.width, c.init, c.activation) == (depth, width, init, activation) \
                    and math.isclose(c.learning_rate, learning_rate):
                return c
        raise KeyError((depth, width, learning_rate, init, activation))

    def records(self) -> list[dict[str, Any]]:
        return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in c._asdict().items()} for c in self.cells]

    def to_json(self) -> dict[str, Any]:
        settings = dataclasses.asdict(self.spec)
        return {"series": self.series_name, "settings": {k: list(v) if isinstance(v, tuple)
                                                         else v for k, v in settings.items()},
                "cells": self.records(), "verdicts": verdicts(self),
                "seconds": None if not math.isfinite(self.seconds) else self.seconds}


def _pooled_at_kept(stats: dict[str, np.ndarray], best: np.ndarray, kind: str,
                    units: dict[str, int]) -> np.ndarray:
    """Per model, the share of all hidden units that are ``kind`` at the kept epoch."""
    sites = [k.split(":", 1)[1] for k in stats if k.startswith(f"{kind}_share:")]
    rows = np.arange(best.size)
    shares = np.stack([stats[f"{kind}_share:{s}"][rows, best] for s in sites], axis=1)
    weights = np.array([units[s] for s in sites], float)
    return shares @ weights / weights.sum()


def _summary(values: np.ndarray, spec: ExperimentSpec, seed: Sequence[int]
             ) -> tuple[float, float, float]:
    from relulab.stats import bootstrap_ci

    return bootstrap_ci(values, n_boot=spec.bootstrap, confidence=spec.confidence,
                        rng=list(seed))


def run_experiment(spec: ExperimentSpec, series: Any,
                   progress: Callable[[int, int], None] | None = None) -> Experiment:
    """Train the whole grid on ``series`` (a :class:`relulab.data.Series`) and summarise
    every cell. ``progress(done, total)`` is called after each compiled program ran."""
    import time
    import zlib

    import jax

    from relulab import training
    from relulab.windows import check_series, prepare

    t0 = time.perf_counter()
    values = np.asarray(series.values, dtype=np.float64)
    shapes = [(w, d) for w in spec.widths for d in spec.depths]
    total = len(shapes) * len(spec.activations)
    done = 0
    cells: list[ExperimentCell] = []
    for width, depth in shapes:
        config = spec.config(width, depth)
        check_series(values, config, what=f"series {series.name!r}")
        prep = prepare(values, config)
        data = training.TrainData.from_prepared(prep)
        base = training.TrainSpec.from_config(config)
        # Every initialiser's start, per seed; the grid's models are (lr, init, seed).
        starts = {init: training.start_many(
            training.TrainSpec.from_config(spec.config(width, depth, init)), data,
            config.seed_list) for init in spec.inits}
        grid = [(lr, init) for lr in spec.learning_rates for init in spec.inits]
        params = jax.tree.map(lambda *a: np.concatenate(a),
                              *[starts[init][0] for _, init in grid])
        orders = np.concatenate([np.asarray(starts[init][1]) for _, init in grid])
        lrs = np.repeat([lr for lr, _ in grid], spec.seeds)

        def train(activation: str, *, base=base, data=data, params=params, orders=orders,
                  lrs=lrs) -> Any:
            out = training.fit_many(base, activation, data, params, orders, lrs)
            out.loss.block_until_ready()
            return out

        y_test = values[prep.split.test_start:]
        # Compile (and run) the activations of one shape in parallel threads: XLA compiles
        # outside the GIL, so two cores compile two programs at once.
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {a: pool.submit(train, a) for a in spec.activations}
            for activation in spec.activations:
                out = futures[activation].result()
                forecasts = prep.forecasts(np.asarray(
                    training.predict_many(base.model, activation, out.params,
                                           prep.test.X)), prep.test)
                stats = {k: np.asarray(v, float) for k, v in out.epoch_stats.items()}
                units = {k.split(":", 1)[1]: int(np.shape(v)[-1])
                         for k, v in out.unit_stats.items() if k.startswith("dead:")}
                best = np.asarray(out.best_epoch)
                dead = _pooled_at_kept(stats, best, "dead", units)
                dormant = _pooled_at_kept(stats, best, "dormant", units)
                err = forecasts - y_test
                with np.errstate(all="ignore"):
                    rmse = np.sqrt(np.mean(err * err, axis=1))
                ok = ~np.asarray(out.diverged) & np.isfinite(rmse)
                for g, (lr, init) in enumerate(grid):
                    rows = slice(g * spec.seeds, (g + 1) * spec.seeds)
                    keep = ok[rows]
                    seed = [zlib.crc32(f"{depth}:{width}:{lr!r}:{init}:{activation}".encode())]
                    d = _summary(dead[rows][keep], spec, [*seed, 0])
                    m = _summary(dormant[rows][keep], spec, [*seed, 1])
                    r = _summary(rmse[rows][keep], spec, [*seed, 2])
                    cells.append(ExperimentCell(
                        depth=depth, width=width, learning_rate=float(lr), init=init,
                        activation=activation, seeds=int(keep.sum()),
                        diverged=int((~keep).sum()), dead_share=d[0], dead_low=d[1],
                        dead_high=d[2], dormant_share=m[0], dormant_low=m[1],
                        dormant_high=m[2], rmse=r[0], rmse_low=r[1], rmse_high=r[2]))
                done += 1
                if progress is not None:
                    progress(done, total)
    return Experiment(spec, series.name, cells, time.perf_counter() - t0)


def _pct(v: float) -> str:
    from relulab import display

    return display.percent(v)


def _ci(c: ExperimentCell) -> str:
    if not (math.isfinite(c.dead_low) and math.isfinite(c.dead_high)):
        return ""
    return f" [{_pct(c.dead_low)}, {_pct(c.dead_high)}]"


def _lr(v: float) -> str:
    return f"{v:g}"


def _change(cure: float, worst: float) -> str:
    """How a cure's dead share compares with the worst cell's, in words."""
    if not math.isfinite(cure) or not math.isfinite(worst) or worst <= 0:
        return ""
    if cure == 0:
        return "none dead"
    ratio = cure / worst
    if ratio <= 0.2:
        return "a fifth or less"
    if ratio <= 0.4:
        return "cuts it by more than half"
    if ratio <= 0.6:
        return "halves it"
    if ratio < 0.9:
        return "lowers it"
    if ratio <= 1.1:
        return "about the same"
    return "more"


def verdicts(experiment: Experiment) -> list[str]:
    """The findings in words: where ReLU loses most units, and what each cure does there."""
    cells = [c for c in experiment.cells if c.seeds]
    out = []
    relu = [c for c in cells if c.activation == "relu" and math.isfinite(c.dead_share)]
    if not relu:
        worst_any = max((c for c in cells if math.isfinite(c.dead_share)),
                        key=lambda c: c.dead_share, default=None)
        if worst_any is None:
            return ["every run diverged: no finding"]
        relu = [worst_any]
    worst = max(relu, key=lambda c: (c.dead_share, c.depth, c.learning_rate))
    where = (f"depth {worst.depth}, width {worst.width}, lr {_lr(worst.learning_rate)}, "
             f"{worst.init}")
    head = (f"{worst.activation}, {where}: {_pct(worst.dead_share)} of units dead"
            f"{_ci(worst)}")
    others = []
    for c in cells:
        if (c.depth, c.width, c.init) == (worst.depth, worst.width, worst.init) and \
                math.isclose(c.learning_rate, worst.learning_rate) and \
                c.activation != worst.activation:
            others.append(f"{c.activation}: {_pct(c.dead_share)}")
    out.append(head + ("; " + ", ".join(others) if others else ""))
    if worst.dead_share > 0:
        inits = []
        for c in cells:
            if (c.depth, c.width, c.activation) == (worst.depth, worst.width,
                                                     worst.activation) \
                    and math.isclose(c.learning_rate, worst.learning_rate) \
                    and c.init != worst.init:
                change = _change(c.dead_share, worst.dead_share)
                inits.append(f"{c.init} {_pct(c.dead_share)} ({change})")
        if inits:
            out.append(f"{worst.activation} at {where.rsplit(', ', 1)[0]} with another "
                       f"initialiser: " + ", ".join(inits))
        lower = [c for c in cells if (c.depth, c.width, c.init, c.activation)
                 == (worst.depth, worst.width, worst.init, worst.activation)
                 and c.learning_rate < worst.learning_rate]
        if lower:
            out.append(f"{worst.activation}, depth {worst.depth}, {worst.init} at a lower "
                       "learning rate: " + ", ".join(
                           f"lr {_lr(c.learning_rate)} {_pct(c.dead_share)}"
                           f" ({_change(c.dead_share, worst.dead_share)})" for c in lower))
    dormant = [c for c in cells if c.activation != "relu" and c.dead_share == 0
               and math.isfinite(c.dormant_share)]
    if dormant:
        top = max(dormant, key=lambda c: c.dormant_share)
        if top.dormant_share > 0:
            out.append(f"never dead but dormant: {top.activation} at depth {top.depth}, lr "
                       f"{_lr(top.learning_rate)}, {top.init}: {_pct(top.dormant_share)} of "
                       "units nearly silent (mean |output| at most a tenth of the layer's)")
    return out
