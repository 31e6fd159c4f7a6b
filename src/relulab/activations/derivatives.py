r"""Analytic first derivatives of the family, element-wise, with PyTorch's kink conventions.

Each ``d_<name>(x, **params)`` returns :math:`f'(x)` in ``x``'s library, shape and dtype.
At a kink the value is the one-sided derivative PyTorch's autograd returns (tabulated in
``docs/activations.md``). Every formula is written so that it stays finite for every finite
input (no ``x**2`` that overflows, no ``1 - s`` that cancels) and returns NaN for NaN.
"""

from __future__ import annotations

import math
from typing import Any

from relulab.activations._namespace import choose, erfc, floating, greater, less, param
from relulab.activations.functions import (
    _GELU_CUBIC,
    _GELU_TANH_CLIP,
    _SATURATE,
    _SOFTPLUS_CLIP,
    _SQRT_2_OVER_PI,
    _SQRT_HALF,
    SELU_ALPHA,
    SELU_SCALE,
    _softplus,
)

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# phi(x) = exp(-x^2/2) is 0 in every dtype past |x| = 40 (e^-800); clipping there keeps x*x
# finite (it overflows float64 past 1.3e154) without changing any result.
_GAUSS_CLIP = 40.0


def d_relu(x: Any) -> Any:
    r""":math:`\mathbb 1[x > 0]`; 0 at the kink."""
    xp, x = floating(x)
    return choose(xp, x, greater(xp, x, 0.0), 1.0, 0.0)


def d_leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    r""":math:`1` for :math:`x > 0`, else :math:`s` (also at 0)."""
    xp, x = floating(x)
    return choose(xp, x, greater(xp, x, 0.0), 1.0, param(xp, x, negative_slope))


def d_prelu(x: Any, weight: Any = 0.25) -> Any:
    r""":math:`1` for :math:`x > 0`, else :math:`a` (also at 0)."""
    xp, x = floating(x)
    return choose(xp, x, greater(xp, x, 0.0), 1.0, param(xp, x, weight))


def d_elu(x: Any, alpha: float = 1.0) -> Any:
    r""":math:`1` for :math:`x > 0`, else :math:`\alpha e^x` (also at 0)."""
    xp, x = floating(x)
    positive = greater(xp, x, 0.0)  # exact for subnormal x (XLA reads them as 0)
    negative = xp.where(positive, 0.0, x)  # exp of the guarded input cannot overflow
    return xp.where(positive, 1.0, param(xp, x, alpha) * xp.exp(negative))


def d_selu(x: Any) -> Any:
    r""":math:`\lambda` for :math:`x > 0`, else :math:`\lambda\alpha e^x` (also at 0)."""
    xp, x = floating(x)
    positive = greater(xp, x, 0.0)  # exact for subnormal x (XLA reads them as 0)
    negative = xp.where(positive, 0.0, x)  # exp of the guarded input cannot overflow
    return xp.where(positive, SELU_SCALE, (SELU_SCALE * SELU_ALPHA) * xp.exp(negative))


def d_celu(x: Any, alpha: float = 1.0) -> Any:
    r""":math:`1` for :math:`x > 0`, else :math:`e^{x/\alpha}` (1 at 0 from both sides)."""
    xp, x = floating(x)
    positive = greater(xp, x, 0.0)  # exact for subnormal x (XLA reads them as 0)
    negative = xp.where(positive, 0.0, x)  # exp of the guarded input cannot overflow
    return xp.where(positive, 1.0, xp.exp(negative / param(xp, x, alpha)))


def d_gelu(x: Any, approximate: str = "none") -> Any:
    r""":math:`\Phi(x) + x\varphi(x)`; for the tanh form, with
    :math:`u = \sqrt{2/\pi}(x + 0.044715 x^3)`,
    :math:`\sigma(2u) + 2x\,\sigma(2u)\sigma(-2u)\,u'(x)`."""
    xp, x = floating(x)
    if approximate == "tanh":
        # gelu = x s(2u) with s the sigmoid: f' = s(2u) + 2 x s(2u) s(-2u) u'. Past |x| = 25
        # s(2u) s(-2u) is exactly 0, so clipping keeps x**3 finite without changing f'.
        xc = xp.clip(x, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)
        two_u = 2.0 * _SQRT_2_OVER_PI * (xc + _GELU_CUBIC * (xc * xc * xc))
        e = xp.exp(-xp.abs(two_u))  # <= 1: no overflow
        s = xp.where(two_u >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        s_s_neg = e / ((1.0 + e) * (1.0 + e))  # s(2u) s(-2u) without 1 - s
        du = _SQRT_2_OVER_PI * (1.0 + (3.0 * _GELU_CUBIC) * (xc * xc))
        return s + 2.0 * xc * s_s_neg * du
    xc = xp.clip(x, -_GAUSS_CLIP, _GAUSS_CLIP)  # phi underflows to 0 before x*x overflows
    pdf = _INV_SQRT_2PI * xp.exp(-0.5 * (xc * xc))
    return 0.5 * erfc(xp, -_SQRT_HALF * x) + xc * pdf


def d_silu(x: Any) -> Any:
    r""":math:`\sigma(x)\bigl(1 + x(1 - \sigma(x))\bigr)`, with :math:`1 - \sigma(x) = \sigma(-x)`
    computed without cancellation."""
    xp, x = floating(x)
    # f' is exactly 1 above x = 800 and 0 below -800 (e^-800 is 0): clipping there gives
    # those limits at +-inf instead of inf * 0.
    x = xp.clip(x, -_SATURATE, _SATURATE)
    e = xp.exp(-xp.abs(x))  # <= 1: no overflow
    s = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    s_neg = xp.where(x >= 0, e / (1.0 + e), 1.0 / (1.0 + e))  # sigma(-x), no 1 - s
    return s + (x * s_neg) * s  # x * s_neg is bounded by ~0.28 * |x|, then times s <= 1


def d_mish(x: Any) -> Any:
    r""":math:`\tanh(\mathrm{sp}(x)) + x\,\mathrm{sech}^2(\mathrm{sp}(x))\,\sigma(x)`, with
    :math:`\mathrm{sech}^2(y) = 4e^{-2y}/(1 + e^{-2y})^2` (no overflow, no cancellation)."""
    xp, x = floating(x)
    x = xp.clip(x, -_SATURATE, _SATURATE)  # f' is exactly 1 / 0 past +-800: no inf * 0 at +-inf
    sp = _softplus(xp, x)  # >= 0, so exp(-sp) <= 1
    e2 = xp.exp(-sp) ** 2  # not exp(-2 sp): 2 sp overflows float16 near its max
    sech2 = 4.0 * e2 / ((1.0 + e2) * (1.0 + e2))
    e = xp.exp(-xp.abs(x))
    s = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    # x * sech2 first: sech2 decays like e^-2x for large x, so the product stays bounded.
    return xp.tanh(sp) + (x * sech2) * s


def d_softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    r""":math:`\sigma(\beta x)`, and 1 where :math:`\beta x >` threshold."""
    xp, x = floating(x)
    beta = param(xp, x, beta)
    bx = beta * xp.clip(x, -_SOFTPLUS_CLIP / beta, _SOFTPLUS_CLIP / beta)  # no overflow
    e = xp.exp(-xp.abs(bx))
    s = xp.where(bx >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return xp.where(bx > threshold, 1.0, s)


def d_relu6(x: Any) -> Any:
    r""":math:`\mathbb 1[0 < x < 6]`; 0 at both corners."""
    return d_hard_tanh(x, 0.0, 6.0)


def d_hard_tanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    r""":math:`\mathbb 1[a < x < b]`; 0 at both corners."""
    xp, x = floating(x)
    return choose(xp, x, greater(xp, x, min_val) & less(xp, x, max_val), 1.0, 0.0)


def d_tanh(x: Any) -> Any:
    r""":math:`1 - \tanh^2 x = 4e^{-2|x|}/(1 + e^{-2|x|})^2` (no cancellation near
    saturation)."""
    xp, x = floating(x)
    e2 = xp.exp(-xp.abs(x)) ** 2  # <= 1; not exp(-2|x|): 2|x| can overflow float16
    return 4.0 * e2 / ((1.0 + e2) * (1.0 + e2))


def d_sigmoid(x: Any) -> Any:
    r""":math:`\sigma(x)\sigma(-x) = e^{-|x|}/(1 + e^{-|x|})^2` (symmetric, no cancellation)."""
    xp, x = floating(x)
    e = xp.exp(-xp.abs(x))  # <= 1: no overflow
    return e / ((1.0 + e) * (1.0 + e))


def d_identity(x: Any) -> Any:
    r""":math:`1`."""
    xp, x = floating(x)
    return choose(xp, x, x == x, 1.0, 1.0)
