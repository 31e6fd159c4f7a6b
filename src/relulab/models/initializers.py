"""Keras' weight initialisers and the randomized asymmetric one, drawn from raw random words.

The initialisers read raw uint32 words rather than a key: a study draws every model's words
in one call (``models.weights_from_bits``), since each separate ``jax.random`` call compiles
its own copy of the Threefry hash (~0.3 s each on a 2-core CPU). The word-to-float maps are
jax.random's own, so a Keras initialiser here draws what Keras 3 on JAX would draw from the
same words.

Kernel initialisers (``glorot_uniform(bits)``, ...) map words of the kernel's shape
``(fan_in, fan_out)`` to the kernel. A dense layer's initialisation is kernel *and* bias,
since :func:`rai` draws its bias too: :data:`INITS` names every layer initialiser as an
:class:`Init`, which reads words of shape ``(fan_in + extra_rows, fan_out)`` and returns
``(kernel, bias)``; Keras' initialisers give a zero bias and read no extra words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from relulab import specs
from relulab.errors import RelulabError

# Keras' truncated normal is N(0, 1) cut at +-2, then scaled; this is the standard deviation of
# N(0, 1) cut at +-2, by which Keras divides so that the *truncated* draw has the target std.
TRUNCATED_STD = 0.87962566103423978
TRUNCATION = 2.0


def uniform_from_bits(bits: jax.Array, low: float, high: float) -> jax.Array:
    """U[low, high) floats from uint32 words, as ``jax.random.uniform`` maps them."""
    mantissa = (bits >> jnp.uint32(32 - 23)) | jnp.uint32(0x3F800000)
    unit = jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0  # [0, 1)
    return jnp.maximum(jnp.float32(low), unit * (jnp.float32(high) - low) + low)


def normal_from_bits(bits: jax.Array) -> jax.Array:
    """Standard normal floats from uint32 words, as ``jax.random.normal`` maps them."""
    low = jnp.nextafter(jnp.float32(-1.0), jnp.float32(0.0))
    return jnp.float32(2.0 ** 0.5) * jax.lax.erf_inv(uniform_from_bits(bits, low, 1.0))


def truncated_normal_from_bits(bits: jax.Array, lower: float = -TRUNCATION,
                               upper: float = TRUNCATION) -> jax.Array:
    """N(0, 1) restricted to ``(lower, upper)`` from uint32 words, as
    ``jax.random.truncated_normal`` maps them (one word per value: inverse CDF, no rejection).
    """
    sqrt2 = jnp.float32(2.0 ** 0.5)
    lo, hi = jnp.float32(lower), jnp.float32(upper)
    u = uniform_from_bits(bits, jax.lax.erf(lo / sqrt2), jax.lax.erf(hi / sqrt2))
    out = sqrt2 * jax.lax.erf_inv(u)
    # jax clamps to the open interval: rounding (or u at its low end) must not reach a bound.
    return jnp.clip(out, jnp.nextafter(lo, jnp.float32(jnp.inf)),
                    jnp.nextafter(hi, jnp.float32(-jnp.inf)))


def _truncated_normal(bits: jax.Array, fan: float, scale: float) -> jax.Array:
    """Keras' ``VarianceScaling(scale, distribution="truncated_normal")``: the truncated
    N(0, 1) times ``sqrt(scale / fan) / 0.8796...``, so the draw's std is ``sqrt(scale / fan)``
    and it lies within two *untruncated* standard deviations."""
    stddev = math.sqrt(scale / max(1.0, fan)) / TRUNCATED_STD
    return truncated_normal_from_bits(bits) * jnp.float32(stddev)


def glorot_uniform(bits: jax.Array) -> jax.Array:
    """Keras' ``GlorotUniform`` of shape ``bits.shape``: U(-l, l),
    :math:`l = \\sqrt{6 / (fan_{in} + fan_{out})}`."""
    limit = (6.0 / (bits.shape[0] + bits.shape[1])) ** 0.5
    return uniform_from_bits(bits, -limit, limit)


def glorot_normal(bits: jax.Array) -> jax.Array:
    """Keras' ``GlorotNormal``: truncated normal with std
    :math:`\\sqrt{2 / (fan_{in} + fan_{out})}` (Glorot & Bengio 2010)."""
    return _truncated_normal(bits, (bits.shape[0] + bits.shape[1]) / 2.0, 1.0)


def he_normal(bits: jax.Array) -> jax.Array:
    """Keras' ``HeNormal``: truncated normal with std :math:`\\sqrt{2 / fan_{in}}`
    (He et al. 2015, for ReLU)."""
    return _truncated_normal(bits, bits.shape[0], 2.0)


def he_uniform(bits: jax.Array) -> jax.Array:
    """Keras' ``HeUniform``: U(-l, l), :math:`l = \\sqrt{6 / fan_{in}}`."""
    limit = (6.0 / max(1, bits.shape[0])) ** 0.5
    return uniform_from_bits(bits, -limit, limit)


def lecun_normal(bits: jax.Array) -> jax.Array:
    """Keras' ``LecunNormal``: truncated normal with std :math:`\\sqrt{1 / fan_{in}}`
    (LeCun et al. 1998; the SELU paper's initialiser)."""
    return _truncated_normal(bits, bits.shape[0], 1.0)


def orthogonal(bits: jax.Array) -> jax.Array:
    """Keras' ``Orthogonal`` initialiser (gain 1) of shape ``bits.shape``.

    Keras draws a normal matrix of shape (max, min), takes Q of its QR decomposition with
    the signs of R's diagonal folded in (so Q is Haar-distributed), and transposes when
    rows < cols. For an LSTM's (units, 4*units) recurrent kernel the result has
    orthonormal *rows*: :math:`U U^T = I_{units}` (the blocks themselves are not
    orthogonal).
    """
    rows, cols = bits.shape
    a = normal_from_bits(bits.reshape(max(rows, cols), min(rows, cols)))
    q, r = jnp.linalg.qr(a)
    q = q * jnp.sign(jnp.diag(r))
    return q.T if rows < cols else q


# --- the randomized asymmetric initialisation ----------------------------------------------

RAI_SIGMA = 0.6007  # Q's standard deviation times sqrt(fan_in), Lu et al.'s value
RAI_EXTRA_ROWS = 3  # the bias row, then one row of words for P's draws and one for the index


def rai(bits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The randomized asymmetric initialisation (RAI) of Lu, Shin, Su & Karniadakis (2020),
    "Dying ReLU and Initialization: Theory and Numerical Examples", Commun. Comput. Phys.
    28(5), 1671-1706 (arXiv:1903.06733), with the parameters (P, Q, sigma below) as the
    reference code ``RAI(fan_in, fan_out)`` that accompanies the paper draws them.

    A layer's weights and bias form :math:`V = [W \\mid b] \\in \\mathbb{R}^{N_\\ell
    \\times (N_{\\ell-1} + 1)}`. For each neuron (row) :math:`j` an index :math:`k_j` is
    drawn uniformly from the row's :math:`N_{\\ell-1} + 1` entries (the bias included);

    .. math::
        V_{j k_j} \\sim P = \\mathrm{Beta}(2, 1), \\qquad
        V_{j k} \\sim Q = N(0, \\sigma^2),\\ k \\ne k_j, \\qquad
        \\sigma = 0.6007 / \\sqrt{N_{\\ell-1}}.

    Beta(2, 1) lives on (0, 1) (density :math:`2x`, mean 2/3, second moment 1/2), so every
    neuron has one positive weight or a positive bias, which makes it less likely to be dead
    on a positive input; the symmetric part's spread (0.6007, not He's :math:`\\sqrt 2`) is
    the paper's value, chosen with the Beta entry so that the layers' outputs neither vanish
    nor explode with depth.

    ``bits`` has shape ``(fan_in + 3, fan_out)``: rows ``0..fan_in`` are the words of
    :math:`V^T` (the last of them the bias), row ``fan_in + 1`` P's draws (inverse CDF of
    Beta(2, 1): :math:`\\sqrt{U}`), row ``fan_in + 2`` the indices :math:`k_j`. Returns
    ``(kernel (fan_in, fan_out), bias (fan_out,))`` in Keras' layout (rows are inputs).
    """
    fan_in = bits.shape[0] - RAI_EXTRA_ROWS
    entries = fan_in + 1
    q = normal_from_bits(bits[:entries]) * jnp.float32(RAI_SIGMA / math.sqrt(max(1, fan_in)))
    p = jnp.sqrt(uniform_from_bits(bits[entries], 0.0, 1.0))  # Beta(2, 1): CDF x^2
    # floor(U * (n + 1)) is uniform on {0..n}; the min guards the float rounding at U -> 1.
    k = jnp.minimum((uniform_from_bits(bits[entries + 1], 0.0, 1.0) * entries).astype(jnp.int32),
                    entries - 1)
    v = jnp.where(jnp.arange(entries)[:, None] == k[None, :], p[None, :], q)
    return v[:fan_in], v[fan_in]


# --- the registry ------------------------------------------------------------------------


class Init(NamedTuple):
    """A dense layer's initialiser: ``draw(bits (fan_in + extra_rows, fan_out)) -> (kernel,
    bias)``."""

    draw: Callable[[jax.Array], tuple[jax.Array, jax.Array]]
    extra_rows: int = 0
    symmetric: bool = True  # kernel and bias symmetric about 0 (Lu et al.'s dying case)


def _zero_bias(kernel_init: Callable[[jax.Array], jax.Array]) -> Init:
    # Keras' Dense starts its bias at zeros whatever the kernel initialiser.
    return Init(lambda bits: (kernel_init(bits), jnp.zeros((bits.shape[1],))))


# The initialisers that draw the layer's bias too. Every other name of relulab.specs.INITS
# is one of Keras' kernel initialisers above, the function of that name.
_WITH_BIAS = {"rai": Init(rai, extra_rows=RAI_EXTRA_ROWS, symmetric=False)}
INITS: dict[str, Init] = {name: _WITH_BIAS.get(name) or _zero_bias(globals()[name])
                          for name in specs.INITS}


def get(name: str) -> Init:
    """The :class:`Init` called ``name``; an unknown name is one error naming the choices."""
    if name not in INITS:
        raise RelulabError(f"unknown initialiser {name!r}; choose one of: {', '.join(INITS)}")
    return INITS[name]


def draw_shape(name: str, fan_in: int, fan_out: int) -> tuple[int, int]:
    """The shape of the words that initialiser ``name`` reads for a ``(fan_in, fan_out)``
    layer."""
    return (fan_in + get(name).extra_rows, fan_out)
