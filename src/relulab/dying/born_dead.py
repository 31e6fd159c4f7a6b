"""Born dead: how likely a ReLU network is dead before training starts, by width and depth.

Lu, Shin, Su & Karniadakis (2020), "Dying ReLU and Initialization: Theory and Numerical
Examples", Commun. Comput. Phys. 28(5) (arXiv:1903.06733), call a ReLU network *born dead*
when at initialisation some hidden layer outputs the zero vector for every input of the
domain: from that layer on the network is a constant function, and no gradient reaches the
layers below it, so training cannot start. They prove that with weights and biases drawn
from symmetric distributions the probability tends to 1 as the depth grows at fixed width,
and propose the randomized asymmetric initialisation (:func:`relulab.models.initializers.rai`)
to keep it low.

The network here is the paper's (and relulab's MLP body): ``depth`` layers
:math:`h_\\ell = \\max(0, h_{\\ell-1} W_\\ell + b_\\ell)` of ``width`` units on inputs of
``input_dim`` features, initialised by a name of
:data:`relulab.models.initializers.INITS`. The domain is represented by a sample of
``inputs`` points drawn uniformly from :math:`[-1, 1]^d` (the bounded, zero-centred box the
paper's examples use; a normal sample would stretch the domain without bound), a new sample
for every network; a layer is dead when its output is exactly 0 on every point of it. The
estimate is the share of born-dead networks among ``networks`` independent ones, with a
Wilson score interval (:func:`interval`; it keeps its coverage near 0 and 1 and is never
empty there, where the normal approximation collapses and Clopper-Pearson is conservative).

One compiled program per width computes every depth, init and network at once: the first
``d`` layers of a network of the greatest depth are a network of depth ``d``, so a network
is born dead at depth ``d`` when one of its first ``d`` layers is dead. The cells of one
curve therefore share their networks (each cell's estimate and interval hold on their own,
and every curve is non-decreasing in depth by construction); different widths use
independent words, and all inits of a width read the same words (common random numbers,
so the comparison between inits is paired).

Closed forms, for zero biases and kernels with independent entries symmetric about 0 (all
of Keras' initialisers here but ``orthogonal``): every unit of a layer is positive on a
given input with probability 1/2, independently of the others and of the layer's input
(:math:`h W_{:j}` is symmetric for any fixed :math:`h \\ne 0`). So on one input point the
network is born dead at depth :math:`L` with probability :func:`single_input_born_dead`
:math:`1 - (1 - 2^{-N})^L`, an upper bound for any sample (dead on all points implies dead
on one). With one input feature and one unit the layers see two rays, :math:`x > 0` and
:math:`x < 0`; the first layer kills exactly one, and each later layer kills the other with
probability 1/2: :func:`width_one_born_dead` :math:`1 - 2^{1-L}`, Lu et al.'s
width-one case, which tends to 1 as they prove it must.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from relulab.errors import RelulabError
from relulab.models import initializers

__all__ = [
    "DEFAULT_DEPTHS",
    "DEFAULT_INITS",
    "DEFAULT_WIDTHS",
    "BornDead",
    "BornDeadSpec",
    "Cell",
    "dead_layers",
    "estimate_born_dead",
    "interval",
    "single_input_born_dead",
    "width_one_born_dead",
]

DEFAULT_WIDTHS = (2, 3, 4, 5)
DEFAULT_DEPTHS = tuple(range(1, 31))
DEFAULT_INITS = ("he_normal", "glorot_uniform", "rai")
INTERVAL_METHOD = "wilson"  # statsmodels' name: the Wilson score interval


@dataclass(frozen=True)
class BornDeadSpec:
    """What decides a born-dead estimate: the grid, the sample and the seed."""

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    depths: tuple[int, ...] = DEFAULT_DEPTHS
    inits: tuple[str, ...] = DEFAULT_INITS
    networks: int = 10_000  # per cell
    input_dim: int = 1
    inputs: int = 100  # points per network's sample of [-1, 1]^input_dim
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        for key in ("widths", "depths", "inits"):
            values = tuple(getattr(self, key))
            object.__setattr__(self, key, values)
            if not values:
                raise RelulabError(f"no {key} given; pass e.g. --{key} "
                                   f"{','.join(map(str, getattr(BornDeadSpec, key)[:3]))}")
            if len(set(values)) != len(values):
                raise RelulabError(f"{key} repeat: {', '.join(map(str, values))}")
        for key in ("widths", "depths"):
            bad = [v for v in getattr(self, key) if int(v) < 1]
            if bad:
                raise RelulabError(f"{key} must be at least 1, got {bad[0]}; pass e.g. "
                                   f"--{key} 2,3,4")
        for name in self.inits:
            initializers.get(name)
        for key in ("networks", "input_dim", "inputs"):
            if int(getattr(self, key)) < 1:
                raise RelulabError(f"{key} must be at least 1, got {getattr(self, key)}; pass "
                                   f"--{key.replace('_', '-')} 1 or more")
        if not 0.0 < self.confidence < 1.0:
            raise RelulabError(f"confidence must lie in (0, 1), got {self.confidence}; pass "
                               "e.g. 0.95")


class Cell(NamedTuple):
    """One (width, depth, init) estimate: ``dead`` of ``networks`` networks were born dead."""

    width: int
    depth: int
    init: str
    networks: int
    dead: int
    born_dead: float  # dead / networks
    low: float  # the Wilson interval at the spec's confidence
    high: float


@dataclass(frozen=True)
class BornDead:
    """The estimates of a :class:`BornDeadSpec`: one :class:`Cell` per width, depth and init
    (in that order: widths and depths ascending, inits as given)."""

    spec: BornDeadSpec
    cells: tuple[Cell, ...]
    timing: dict[str, float] = field(default_factory=dict, compare=False)

    def curve(self, width: int, init: str) -> list[Cell]:
        """One init's cells at one width, by depth."""
        return [c for c in self.cells if c.width == width and c.init == init]

    def cell(self, width: int, depth: int, init: str) -> Cell:
        return next(c for c in self.cells
                    if (c.width, c.depth, c.init) == (width, depth, init))

    def records(self) -> list[dict[str, Any]]:
        """One plain dict per cell (what ``--json`` writes under ``cells``)."""
        return [c._asdict() for c in self.cells]

    def to_json(self) -> dict[str, Any]:
        spec = asdict(self.spec)
        return {
            "what": "share of ReLU networks born dead (some hidden layer outputs 0 on every "
                    "input of the sample) at initialisation",
            "settings": {**{k: list(v) if isinstance(v, tuple) else v for k, v in spec.items()},
                         "input_distribution": "uniform on [-1, 1]^input_dim",
                         "interval": f"{INTERVAL_METHOD} score"},
            "cells": self.records(),
            "timing": dict(self.timing),
        }


# --- numbers ------------------------------------------------------------------------------


def single_input_born_dead(width: int, depth: int) -> float:
    """:math:`1 - (1 - 2^{-N})^L`: the chance that a zero-bias ReLU network with independent
    symmetric weights is dead by layer ``depth`` on one given input point (see the module);
    an upper bound on being born dead on any sample."""
    return 1.0 - (1.0 - 2.0 ** -width) ** depth


def width_one_born_dead(depth: int) -> float:
    """:math:`1 - 2^{1-L}`: born dead at depth ``L`` with one unit per layer, one input
    feature, zero biases, symmetric weights and inputs of both signs (see the module)."""
    return 1.0 - 2.0 ** (1 - depth)


def interval(dead: int, networks: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a share ``dead / networks``."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(dead, networks, alpha=1.0 - confidence,
                                   method=INTERVAL_METHOD)
    # At 0 of n (n of n) Wilson's lower (upper) end is exactly 0 (1); statsmodels' rounding
    # leaves ~1e-18 there, an interval that would not hold its own point.
    share = dead / networks
    low = 0.0 if dead == 0 else min(float(low), share)
    high = 1.0 if dead == networks else max(float(high), share)
    return low, high


def dead_layers(layers: Sequence[tuple[jax.Array, jax.Array]], X: jax.Array) -> jax.Array:
    """For one network given as ``[(kernel, bias), ...]`` and a sample ``X (points,
    features)``: whether each hidden ReLU layer outputs exactly 0 on every point."""
    h = X
    dead = []
    for kernel, bias in layers:
        h = jnp.maximum(h @ kernel + bias, 0.0)
        dead.append(jnp.all(h == 0.0))
    return jnp.stack(dead)


@functools.lru_cache(maxsize=32)
def _program(width: int, depth: int, inits: tuple[str, ...], input_dim: int
             ) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    """The jitted program of one width: ``(first (networks, rows, width), rest (networks,
    depth - 1, rows, width), X (networks, points, input_dim)) -> dead (inits, networks,
    depth)``, every layer's words padded to the most rows any init reads."""
    draws = [initializers.get(name) for name in inits]

    def one_network(first: jax.Array, rest: jax.Array, X: jax.Array) -> jax.Array:
        out = []
        for init in draws:
            kernel, bias = init.draw(first[:input_dim + init.extra_rows])
            h = jnp.maximum(X @ kernel + bias, 0.0)

            def layer(h: jax.Array, words: jax.Array, init=init) -> tuple[jax.Array, jax.Array]:
                kernel, bias = init.draw(words[:width + init.extra_rows])
                h = jnp.maximum(h @ kernel + bias, 0.0)
                return h, jnp.all(h == 0.0)

            _, later = jax.lax.scan(layer, h, rest)
            out.append(jnp.concatenate([jnp.all(h == 0.0)[None], later]))
        return jnp.stack(out)

    return jax.jit(lambda first, rest, X: jnp.swapaxes(
        jax.vmap(one_network)(first, rest, X), 0, 1))


# Every layer reads words for the most rows any initialiser needs, so that asking for one
# initialiser more or less changes no other's numbers.
_EXTRA_ROWS = max(init.extra_rows for init in initializers.INITS.values())


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _words(key: jax.Array, networks: int, inputs: int, input_dim: int, depth: int,
           width: int) -> tuple[jax.Array, jax.Array]:
    """Each network's sample ``X (networks, inputs, input_dim)`` and layer words ``(networks,
    depth, rows, width)``, network ``n``'s layer ``l`` from ``fold_in(fold_in(key, n), l)``
    (layer 0 the sample): a cell's numbers do not depend on how many networks or which
    depths are asked for beside it. One program; each separate ``jax.random`` call would
    compile its own Threefry hash."""
    rows = max(input_dim, width) + _EXTRA_ROWS

    def network(n: jax.Array) -> tuple[jax.Array, jax.Array]:
        k = jax.random.fold_in(key, n)
        X = initializers.uniform_from_bits(
            jax.random.bits(jax.random.fold_in(k, 0), (inputs, input_dim), jnp.uint32),
            -1.0, 1.0)
        layers = jax.vmap(lambda layer: jax.random.bits(
            jax.random.fold_in(k, layer), (rows, width), jnp.uint32))(jnp.arange(1, depth + 1))
        return X, layers

    return jax.vmap(network)(jnp.arange(networks))


def _dead_by_depth(spec: BornDeadSpec, width: int) -> np.ndarray:
    """``(inits, networks, max depth)``: whether network n is born dead at depth d + 1."""
    depth = max(spec.depths)
    # The width in the key: a width's numbers do not depend on the other widths asked for.
    key = jax.random.fold_in(jax.random.key(spec.seed), width)
    X, layers = _words(key, spec.networks, spec.inputs, spec.input_dim, depth, width)
    first = layers[:, 0, :spec.input_dim + _EXTRA_ROWS]
    rest = layers[:, 1:, :width + _EXTRA_ROWS]
    dead = _program(width, depth, spec.inits, spec.input_dim)(first, rest, X)
    # Born dead at depth d: one of the first d layers is dead.
    return np.logical_or.accumulate(np.asarray(dead), axis=-1)


def estimate_born_dead(spec: BornDeadSpec,
                       progress: Callable[[int, int], None] | None = None
                       ) -> BornDead:
    """Estimate the born-dead probability of every (width, depth, init) cell of ``spec``.

    ``progress(done, total)`` is called after each width with the number of cells done.
    """
    total = len(spec.widths) * len(spec.depths) * len(spec.inits)
    cells: list[Cell] = []
    start = time.perf_counter()
    for width in sorted(spec.widths):
        dead = _dead_by_depth(spec, width)
        counts = dead.sum(axis=1)  # (inits, max depth)
        for depth in sorted(spec.depths):
            for i, name in enumerate(spec.inits):
                n_dead = int(counts[i, depth - 1])
                low, high = interval(n_dead, spec.networks, spec.confidence)
                cells.append(Cell(width, depth, name, spec.networks, n_dead,
                                  n_dead / spec.networks, low, high))
        if progress is not None:
            progress(len(cells), total)
    return BornDead(spec, tuple(cells), {"wall_s": time.perf_counter() - start})

