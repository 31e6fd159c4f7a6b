"""Keras' weight initialisers, drawn from raw 32-bit random words.

The initialisers read raw uint32 words rather than a key: a study draws every model's words
in one call (``models.weights_from_bits``), since each separate ``jax.random`` call compiles
its own copy of the Threefry hash (~0.3 s each on a 2-core CPU). The word-to-float maps are
jax.random's own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def uniform_from_bits(bits: jax.Array, low: float, high: float) -> jax.Array:
    """U[low, high) floats from uint32 words, as ``jax.random.uniform`` maps them."""
    mantissa = (bits >> jnp.uint32(32 - 23)) | jnp.uint32(0x3F800000)
    unit = jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0  # [0, 1)
    return jnp.maximum(jnp.float32(low), unit * (jnp.float32(high) - low) + low)


def normal_from_bits(bits: jax.Array) -> jax.Array:
    """Standard normal floats from uint32 words, as ``jax.random.normal`` maps them."""
    low = jnp.nextafter(jnp.float32(-1.0), jnp.float32(0.0))
    return jnp.float32(2.0 ** 0.5) * jax.lax.erf_inv(uniform_from_bits(bits, low, 1.0))


def glorot_uniform(bits: jax.Array) -> jax.Array:
    """Keras' ``GlorotUniform`` of shape ``bits.shape``: U(-l, l),
    :math:`l = \\sqrt{6 / (fan_{in} + fan_{out})}`."""
    limit = (6.0 / (bits.shape[0] + bits.shape[1])) ** 0.5
    return uniform_from_bits(bits, -limit, limit)


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
