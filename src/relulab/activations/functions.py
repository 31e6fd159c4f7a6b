r"""The activation family: one definition each, for NumPy, JAX (tracers included) and PyTorch.

Each function takes any array (or Python number), finds its library through
array-api-compat and returns an array of the same library, shape, device and floating
dtype; integers and booleans are promoted to the library's default float (see
:func:`relulab.activations._namespace.floating`).

Numerical habits, each repeated next to the formula it protects:

* Branches are selected with ``where``, and the input of a branch that may overflow is
  itself guarded with a ``where`` (the "double where"), so that neither the value nor the
  autodiff gradient of the branch *not* taken can become ``inf``/``NaN``.
* Comparisons are written so that a NaN input falls into a branch that returns it.
* Kinks are placed the way PyTorch's autograd places them (see ``docs/activations.md``), so
  that ``jax.grad``/``torch.autograd`` through these definitions agree with PyTorch even at
  the kink, and the analytic derivatives in :mod:`.derivatives` agree with both.

Parameter names and defaults are PyTorch's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import is_numpy_namespace

from relulab.activations._namespace import erfc, floating, greater, less, param

# Klambauer et al. (2017), eq. (14): the fixed point for zero mean, unit variance.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715
# Past |x| = 25 the tanh-GELU argument exceeds 577: sigmoid(2u) is exactly 0 or 1 in every
# float dtype (e^-1155 underflows even float64's subnormals).
_GELU_TANH_CLIP = 25.0
# exp(-800) is 0 in every float dtype (float64's smallest subnormal is e^-744): past |x| = 800
# sigmoid(x), tanh(softplus(x)), softplus' correction term and x e^x are exactly 0 or 1.
_SATURATE = 800.0
_SOFTPLUS_CLIP = _SATURATE
# Phi(x) = erfc(-x/sqrt2)/2 is exactly 0 (and 1) past |x| = 40 (e^-800 again).
_GAUSS_SATURATE = 40.0


def relu(x: Any) -> Any:
    r"""Rectified linear unit.

    .. math:: \mathrm{relu}(x) = \max(x, 0)

    Nair & Hinton (2010), "Rectified Linear Units Improve Restricted Boltzmann Machines".
    Derivative at 0 is 0 (PyTorch).
    """
    xp, x = floating(x)
    return _floor(xp, x, 0.0)  # autodiff at 0 takes the 0 branch; NaN passes through


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    r"""Leaky rectified linear unit.

    .. math:: \mathrm{leaky\_relu}(x) = \begin{cases} x, & x > 0\\ s x, & x \le 0 \end{cases}

    with :math:`s` = ``negative_slope``. Maas, Hannun & Ng (2013), "Rectifier
    Nonlinearities Improve Neural Network Acoustic Models". Derivative at 0 is :math:`s`.
    """
    xp, x = floating(x)
    return _leaky(xp, x, negative_slope)


def prelu(x: Any, weight: Any = 0.25) -> Any:
    r"""Parametric ReLU: a leaky ReLU whose slope ``weight`` is learned.

    .. math:: \mathrm{prelu}(x) = \begin{cases} x, & x > 0\\ a x, & x \le 0 \end{cases}

    ``weight`` is a scalar or an array broadcast against ``x`` (NumPy rules: a vector of
    length C applies along the last axis, which is PyTorch's channel axis for 2-D input;
    pass shape (C, 1, 1) for channels-first images). He et al. (2015), "Delving Deep into
    Rectifiers". Derivative at 0 is :math:`a`.
    """
    xp, x = floating(x)
    return _leaky(xp, x, weight)


def elu(x: Any, alpha: float = 1.0) -> Any:
    r"""Exponential linear unit.

    .. math:: \mathrm{elu}(x) = \begin{cases} x, & x > 0\\ \alpha(e^x - 1), & x \le 0 \end{cases}

    Clevert, Unterthiner & Hochreiter (2016), "Fast and Accurate Deep Network Learning by
    Exponential Linear Units (ELUs)". Derivative at 0 is :math:`\alpha` (the left branch).
    """
    xp, x = floating(x)
    alpha = param(xp, x, alpha)
    return _split_at_zero(xp, x, lambda p: p, lambda n: alpha * xp.expm1(n))


def selu(x: Any) -> Any:
    r"""Scaled exponential linear unit.

    .. math:: \mathrm{selu}(x) = \lambda \begin{cases} x, & x > 0\\
        \alpha(e^x - 1), & x \le 0 \end{cases}

    with :math:`\alpha \approx 1.6733`, :math:`\lambda \approx 1.0507`. Klambauer et al.
    (2017), "Self-Normalizing Neural Networks". Derivative at 0 is :math:`\lambda\alpha`.
    """
    xp, x = floating(x)
    # lambda * alpha folded into one constant: one rounding, as PyTorch does.
    return _split_at_zero(xp, x, lambda p: SELU_SCALE * p,
                          lambda n: (SELU_SCALE * SELU_ALPHA) * xp.expm1(n))


def celu(x: Any, alpha: float = 1.0) -> Any:
    r"""Continuously differentiable exponential linear unit.

    .. math:: \mathrm{celu}(x) = \begin{cases} x, & x > 0\\
        \alpha(e^{x/\alpha} - 1), & x \le 0 \end{cases}

    Barron (2017), "Continuously Differentiable Exponential Linear Units". Derivative at 0
    is 1 for every :math:`\alpha > 0`.
    """
    xp, x = floating(x)
    alpha = param(xp, x, alpha)
    # x * (1/alpha), not x / alpha: PyTorch's rounding.
    return _split_at_zero(xp, x, lambda p: p, lambda n: alpha * xp.expm1(n * (1.0 / alpha)))


def gelu(x: Any, approximate: str = "none") -> Any:
    r"""Gaussian error linear unit.

    .. math:: \mathrm{gelu}(x) = x\,\Phi(x) = \tfrac{x}{2}\,\mathrm{erfc}(-x/\sqrt 2)

    or, with ``approximate="tanh"``,
    :math:`\tfrac{x}{2}\bigl(1 + \tanh[\sqrt{2/\pi}(x + 0.044715 x^3)]\bigr)`.
    Hendrycks & Gimpel (2016), "Gaussian Error Linear Units (GELUs)". The default is the
    exact form, as in PyTorch; ``jax.nn.gelu`` defaults to the tanh form.
    """
    xp, x = floating(x)
    if approximate == "tanh":
        # (1 + tanh u) / 2 = sigmoid(2u): no cancellation in the negative tail. Clamping x
        # at +-25 changes nothing (sigmoid(2u) is exactly 0 or 1 there in every dtype) but
        # keeps x**3 finite (float16 overflows past 40), and flooring the factor x there
        # gives 0, not -inf * 0, at -inf.
        xc = _clamp(xp, x, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)
        inner = _SQRT_2_OVER_PI * (xc + _GELU_CUBIC * (xc * xc * xc))
        return _sigmoid(xp, 2.0 * inner, factor=_floor(xp, x, -_GELU_TANH_CLIP))
    # erfc(-x/sqrt2) rather than 1 + erf(x/sqrt2): no cancellation in the negative tail.
    # Past |x| = 40 Phi(x) is exactly 0 or 1: the clamp and floor change no value but keep
    # -inf * 0 out of the value at -inf and out of the autodiff gradient at +-inf.
    xs = _saturate(xp, x, _GAUSS_SATURATE)
    return 0.5 * _floor(xp, x, -_GAUSS_SATURATE) * erfc(xp, -_SQRT_HALF * xs)


def silu(x: Any) -> Any:
    r"""Sigmoid linear unit, also called swish.

    .. math:: \mathrm{silu}(x) = x\,\sigma(x) = \frac{x}{1 + e^{-x}}

    Hendrycks & Gimpel (2016); Elfwing, Uchibe & Doya (2018), "Sigmoid-Weighted Linear
    Units for Neural Network Function Approximation"; Ramachandran, Zoph & Le (2017),
    "Searching for Activation Functions" (swish).
    """
    xp, x = floating(x)
    # x sigma(x) with x clamped at +-800 inside sigma and floored at -800 outside: no value
    # changes (x e^x is 0 below -800, sigma(x) exactly 1 above 800), but silu(-inf) is 0, not
    # -inf * 0, and the autodiff gradient at +-inf is 0 and 1, not NaN.
    xs = _saturate(xp, x, _SATURATE)
    return _sigmoid(xp, xs, factor=_floor(xp, x, -_SATURATE))


swish = silu


def mish(x: Any) -> Any:
    r"""Mish.

    .. math:: \mathrm{mish}(x) = x \tanh(\mathrm{softplus}(x)) = x\tanh(\ln(1 + e^x))

    Misra (2019), "Mish: A Self Regularized Non-Monotonic Activation Function".
    """
    xp, x = floating(x)
    # tanh(softplus(x)) is exactly 0 below x = -800 and 1 above 800: the clamp and floor
    # change no value, but give 0 at -inf (not -inf * 0) and a finite autodiff gradient at
    # +-inf.
    xs = _saturate(xp, x, _SATURATE)
    return _floor(xp, x, -_SATURATE) * xp.tanh(_softplus(xp, xs))


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    r"""Softplus, a smooth ReLU.

    .. math:: \mathrm{softplus}(x) = \begin{cases} x, & \beta x > \text{threshold}\\
        \tfrac{1}{\beta}\ln(1 + e^{\beta x}), & \text{otherwise} \end{cases}

    The threshold (PyTorch's) reverts to the identity where the correction is below float32
    resolution; ``threshold=inf`` gives the exact function (``jax.nn.softplus``). Dugas et
    al. (2001), "Incorporating Second-Order Functional Knowledge for Better Option Pricing".
    """
    xp, x = floating(x)
    beta = param(xp, x, beta)
    # beta * x could overflow for beta > 1; the correction term is 0 past |beta x| = 800.
    bx = beta * xp.clip(x, -_SOFTPLUS_CLIP / beta, _SOFTPLUS_CLIP / beta)
    # max(x, 0) + log1p(exp(-|beta x|)) / beta: exp never overflows, whatever the threshold.
    smooth = xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(bx))) / beta
    return xp.where(bx > threshold, x, smooth)


def relu6(x: Any) -> Any:
    r"""ReLU capped at 6.

    .. math:: \mathrm{relu6}(x) = \min(\max(x, 0), 6)

    Krizhevsky (2010), "Convolutional Deep Belief Networks on CIFAR-10". Derivative at 0
    and at 6 is 0 (PyTorch).
    """
    return hard_tanh(x, 0.0, 6.0)


def hard_tanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    r"""Hard tanh: the identity clipped to ``[min_val, max_val]``.

    .. math:: \mathrm{hard\_tanh}(x) = \min(\max(x, a), b)

    Collobert (2004), "Large Scale Machine Learning" (PhD thesis). Derivative at both
    corners is 0 (PyTorch).
    """
    xp, x = floating(x)
    return _clamp(xp, x, min_val, max_val)  # autodiff at a corner: 0, as PyTorch


def tanh(x: Any) -> Any:
    r"""Hyperbolic tangent.

    .. math:: \tanh(x) = \frac{e^x - e^{-x}}{e^x + e^{-x}}

    LeCun et al. (1998), "Efficient BackProp".
    """
    xp, x = floating(x)
    return xp.tanh(x)


def sigmoid(x: Any) -> Any:
    r"""Logistic sigmoid.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}

    Rumelhart, Hinton & Williams (1986), "Learning Representations by Back-Propagating
    Errors".
    """
    xp, x = floating(x)
    return _sigmoid(xp, x)


def identity(x: Any) -> Any:
    r"""Identity (linear activation).

    .. math:: \mathrm{identity}(x) = x
    """
    _, x = floating(x)
    return x


def _overflow_cut(xp: Any, x: Any) -> float:
    """Below this x, e^-x would overflow x's dtype, and 1 / (1 + e^-x) equals e^x to
    within rounding (e^x < e / max is far below the dtype's epsilon)."""
    return 1.0 - math.log(float(xp.finfo(x.dtype).max))


def _sigmoid(xp: Any, z: Any, factor: Any = None) -> Any:
    """sigma(z), or factor * sigma(z) rounded once where z >= 0 (factor / (1 + e^-z))."""
    if is_numpy_namespace(xp):
        # NumPy cannot fuse, and np.where on unsorted data is its slowest pass: no select.
        # e^min(z,0) / (1 + e^-|z|) is both branches of the form below in one formula (both
        # exps <= 1), in place: 0.7x the time of scipy.special.expit, which also flushes
        # float32's subnormal tail (z < -87) to 0 and has no float16 loop.
        num = np.minimum(z, 0.0, out=np.empty_like(z))
        np.exp(num, out=num)
        if factor is not None:
            num *= factor
        den = np.abs(z, out=np.empty_like(z))
        np.exp(np.negative(den, out=den), out=den)
        den += 1.0
        return np.divide(num, den, out=num)
    # 1 / (1 + e^-z), PyTorch's and XLA's own form, so that we agree to the last bit where
    # they are right; e^-z is guarded against overflow and replaced by e^z below the cut.
    cut = _overflow_cut(xp, z)
    # One exp serves both branches: e^-z above the cut (at most max/e, so no overflow),
    # e^z below it.
    e = xp.exp(xp.where(z < cut, z, -z))
    if factor is None:
        return xp.where(z < cut, e, 1.0 / (1.0 + e))
    return xp.where(z < cut, factor * e, factor / (1.0 + e))


def _softplus(xp: Any, x: Any) -> Any:
    # ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|): exp never overflows.
    if is_numpy_namespace(xp):  # the same in place: NumPy pays for every temporary
        t = np.abs(x, out=np.empty_like(x))
        np.log1p(np.exp(np.negative(t, out=t), out=t), out=t)
        return np.add(t, np.maximum(x, 0.0), out=t)
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


# Guards and selects. NumPy has no autodiff and cannot fuse, so there each is one ufunc pass
# (np.where on unsorted data costs 5x np.maximum); elsewhere a `where`, whose autodiff puts a
# kink's derivative on PyTorch's side and drops the NaN cotangent of a saturated branch.
# Comparisons are False for NaN, and np.maximum/np.minimum/np.clip propagate it. Off NumPy
# neither max/min nor a `where` that LLVM can turn into one is used where x itself may be
# returned: XLA on CPU runs with denormals-are-zero, and x86 max/min would flush a subnormal
# x to 0; comparisons with 0 go through `greater`/`less`, exact for subnormals.
def _floor(xp: Any, x: Any, lo: float) -> Any:
    """max(x, lo); autodiff: derivative 0 at x = lo (relu's kink) and below."""
    if is_numpy_namespace(xp):
        return np.maximum(x, lo)
    return xp.where(greater(xp, x, lo) | xp.isnan(x), x, lo)


def _clamp(xp: Any, x: Any, lo: float, hi: float) -> Any:
    """min(max(x, lo), hi); autodiff: derivative 0 at both corners (PyTorch's hardtanh)."""
    if is_numpy_namespace(xp):
        return np.clip(x, lo, hi)
    nan = xp.isnan(x)
    capped = xp.where(less(xp, x, hi) | nan, x, hi)
    return xp.where(greater(xp, x, lo) | nan, capped, lo)


def _saturate(xp: Any, x: Any, bound: float) -> Any:
    """x clamped to +-bound, where the caller's function is already saturated: no value
    changes, only autodiff at +-inf loses its inf * 0 cotangents. NumPy has no autodiff and
    skips the pass."""
    if is_numpy_namespace(xp):
        return x
    return _clamp(xp, x, -bound, bound)


def _leaky(xp: Any, x: Any, slope: Any) -> Any:
    """x for x > 0, slope * x otherwise (autodiff at 0: slope, PyTorch's side)."""
    if isinstance(slope, float):
        if slope == 0.0:
            return _floor(xp, x, 0.0)  # relu; 0 at -inf, not 0 * -inf
        if is_numpy_namespace(xp):
            # For slope <= 1 the larger of x and slope x is the right one on both sides
            # (also for slope < 0); for slope > 1 the smaller.
            return (np.maximum if slope <= 1.0 else np.minimum)(x, slope * x)
    # NaN falls to slope * x, which is NaN too.
    return xp.where(greater(xp, x, 0.0), x, param(xp, x, slope) * x)


def _split_at_zero(xp: Any, x: Any, right: Any, left: Any) -> Any:
    """right(x) for x > 0, left(x) otherwise (autodiff at 0: left's, PyTorch's side of the
    ELU family's kink), for right(0) = left(0) = 0. left only ever sees x <= 0, so its expm1
    cannot overflow, nor NaN the autodiff gradient of the branch not taken."""
    if is_numpy_namespace(xp):
        # No select: each side is exactly 0 where the other is taken, so their sum is f.
        return right(np.maximum(x, 0.0)) + left(np.minimum(x, 0.0))
    # A `where`, not that sum: XLA's x + 0 would flush a subnormal x to 0.
    positive = greater(xp, x, 0.0)
    return xp.where(positive, right(x), left(xp.where(positive, 0.0, x)))
