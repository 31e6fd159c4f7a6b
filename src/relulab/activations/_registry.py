"""The catalogue: for each activation its definition, derivative, parameters and facts.

The built-in family is listed here; :func:`relulab.activations.register` adds a user's
activations to :data:`SPECS` at run time (``custom.py``), so every lookup below serves both."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relulab.activations import derivatives as d
from relulab.activations import functions as f
from relulab.errors import RelulabError

Params = dict[str, Any]
# A formula as a function of the (validated) parameters: LaTeX or plain text.
Formula = Callable[[Params], str]


@dataclass(frozen=True)
class Spec:
    """Everything the project knows about one activation, independent of parameters."""

    name: str
    fn: Callable[..., Any]
    grad: Callable[..., Any]
    defaults: Params
    # The formulas show the parameters' values (their names where a value is an array,
    # e.g. a learned PReLU weight). Plain text is Python over x, with exp, ln, erf, sqrt,
    # pi, tanh, sigmoid and Phi; " = " joins equal forms and "; " starts a remark.
    formula: Formula
    text_formula: Formula
    reference: str
    # Facts that may depend on the parameters: functions of the (validated) params.
    monotonic: Callable[[Params], bool]
    smooth: Callable[[Params], bool]
    bounded_below: Callable[[Params], bool]
    learnable: tuple[str, ...] = ()
    check: Callable[[Params], None] = field(default=lambda p: None)


def _always(value: bool) -> Callable[[Params], bool]:
    return lambda p: value


def _fixed(text: str) -> Formula:
    return lambda p: text


def _shown(p: Params, key: str, symbol: str | None = None) -> str:
    """A parameter as a formula shows it: its value when it is a number, else its name."""
    v = p[key]
    return f"{v:.12g}" if _is_number(v) else (symbol or key)


def _unit(p: Params, key: str) -> bool:
    return _is_number(p[key]) and p[key] == 1


def _leaky_tex(key: str, symbol: str) -> Formula:
    return lambda p: (rf"\begin{{cases}} x & x > 0 \\ {_shown(p, key, symbol)}\,x & x \le 0 "
                      r"\end{cases}")


def _elu_tex(p: Params, inner: str) -> str:
    alpha = _shown(p, "alpha", r"\alpha")
    negative = f"e^{{{inner}}} - 1" if _unit(p, "alpha") else f"{alpha}(e^{{{inner}}} - 1)"
    return rf"\begin{{cases}} x & x > 0 \\ {negative} & x \le 0 \end{{cases}}"


def _elu_text(p: Params, inner: str) -> str:
    if _unit(p, "alpha"):
        return f"x if x > 0 else exp({inner}) - 1"
    return f"x if x > 0 else {_shown(p, 'alpha')} * (exp({inner}) - 1)"


def _celu_inner(p: Params, sep: str, symbol: str) -> str:
    return "x" if _unit(p, "alpha") else f"x{sep}{_shown(p, 'alpha', symbol)}"


def _gelu_tex(p: Params) -> str:
    if p["approximate"] == "tanh":
        return (r"\tfrac{x}{2}\left(1 + \tanh\left(\sqrt{2/\pi}\,(x + 0.044715\,x^3)"
                r"\right)\right)")
    return r"x\,\Phi(x) = \tfrac{x}{2}\left(1 + \mathrm{erf}(x/\sqrt{2})\right)"


def _gelu_text(p: Params) -> str:
    if p["approximate"] == "tanh":
        return "x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))"
    return "x * Phi(x) = x/2 * (1 + erf(x / sqrt(2)))"


def _softplus_parts(p: Params, tex: bool) -> tuple[str, str, str]:
    """(beta x, the smooth branch, the threshold or "" when there is none)."""
    beta = _shown(p, "beta", r"\beta" if tex else None)
    bx = "x" if _unit(p, "beta") else (f"{beta}x" if tex else f"{beta} * x")
    exp = f"e^{{{bx}}}" if tex else f"exp({bx})"
    log = r"\ln" if tex else "ln"
    smooth = f"{log}(1 + {exp})"
    if not _unit(p, "beta"):
        smooth = rf"\tfrac{{1}}{{{beta}}}{smooth}" if tex else f"{smooth} / {beta}"
    t = p["threshold"]
    shown = "" if _is_number(t) and math.isinf(t) and t > 0 else _shown(
        p, "threshold", "t" if tex else None)
    return bx, smooth, shown


def _softplus_tex(p: Params) -> str:
    bx, smooth, t = _softplus_parts(p, tex=True)
    if not t:
        return smooth
    return rf"\begin{{cases}} x & {bx} > {t} \\ {smooth} & {bx} \le {t} \end{{cases}}"


def _softplus_text(p: Params) -> str:
    bx, smooth, t = _softplus_parts(p, tex=False)
    return f"x if {bx} > {t} else {smooth}" if t else smooth


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _number(name: str, key: str, v: Any, *, positive: bool = False,
            nonnegative: bool = False, allow_inf: bool = False) -> None:
    """Validate a concrete numeric parameter; arrays/tracers (learned values) pass."""
    if isinstance(v, bool | str) or v is None:
        raise RelulabError(f"activation {name!r}: parameter {key}={v!r} must be a number")
    if not _is_number(v):
        return  # an array or traced value: its contents are the caller's responsibility
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise RelulabError(f"activation {name!r}: parameter {key}={v!r} must be finite")
    if positive and not v > 0:
        raise RelulabError(f"activation {name!r}: parameter {key}={v!r} must be > 0")
    if nonnegative and not v >= 0:
        raise RelulabError(f"activation {name!r}: parameter {key}={v!r} must be >= 0")


def _concrete_ge0(p: Params, key: str) -> bool:
    v = p[key]
    return not _is_number(v) or v >= 0  # learned slopes are assumed to start >= 0


def _check_hard_tanh(p: Params) -> None:
    _number("hard_tanh", "min_val", p["min_val"])
    _number("hard_tanh", "max_val", p["max_val"])
    if _is_number(p["min_val"]) and _is_number(p["max_val"]) and not p["min_val"] < p["max_val"]:
        raise RelulabError(
            f"activation 'hard_tanh': min_val={p['min_val']} must be below "
            f"max_val={p['max_val']}"
        )


def _check_gelu(p: Params) -> None:
    if p["approximate"] not in ("none", "tanh"):
        raise RelulabError(
            f"activation 'gelu': approximate={p['approximate']!r} is not one of 'none' "
            "(exact, the default) or 'tanh'"
        )


SPECS: dict[str, Spec] = {
    s.name: s
    for s in [
        Spec(
            "relu", f.relu, d.d_relu, {},
            _fixed(r"\max(x, 0)"), _fixed("max(x, 0)"),
            "Nair & Hinton (2010), Rectified Linear Units Improve Restricted Boltzmann "
            "Machines, ICML",
            _always(True), _always(False), _always(True),
        ),
        Spec(
            "leaky_relu", f.leaky_relu, d.d_leaky_relu, {"negative_slope": 0.01},
            _leaky_tex("negative_slope", "s"),
            lambda p: f"x if x > 0 else {_shown(p, 'negative_slope')} * x",
            "Maas, Hannun & Ng (2013), Rectifier Nonlinearities Improve Neural Network "
            "Acoustic Models, ICML workshop",
            lambda p: _concrete_ge0(p, "negative_slope"),
            lambda p: p["negative_slope"] == 1,
            # s <= 0: s x >= 0 for x <= 0 (a negative slope mirrors the left half upwards).
            lambda p: _is_number(p["negative_slope"]) and p["negative_slope"] <= 0,
            check=lambda p: _number("leaky_relu", "negative_slope", p["negative_slope"]),
        ),
        Spec(
            "prelu", f.prelu, d.d_prelu, {"weight": 0.25},
            _leaky_tex("weight", "a"),
            lambda p: (f"x if x > 0 else {_shown(p, 'weight')} * x; weight is learned in "
                       "training"),
            "He, Zhang, Ren & Sun (2015), Delving Deep into Rectifiers: Surpassing "
            "Human-Level Performance on ImageNet Classification, ICCV",
            lambda p: _concrete_ge0(p, "weight"),
            _always(False), _always(False),
            learnable=("weight",),
            check=lambda p: _number("prelu", "weight", p["weight"]),
        ),
        Spec(
            "elu", f.elu, d.d_elu, {"alpha": 1.0},
            lambda p: _elu_tex(p, "x"), lambda p: _elu_text(p, "x"),
            "Clevert, Unterthiner & Hochreiter (2016), Fast and Accurate Deep Network "
            "Learning by Exponential Linear Units (ELUs), ICLR",
            _always(True), lambda p: p["alpha"] == 1, _always(True),
            check=lambda p: _number("elu", "alpha", p["alpha"], nonnegative=True),
        ),
        Spec(
            "gelu", f.gelu, d.d_gelu, {"approximate": "none"},
            _gelu_tex, _gelu_text,
            "Hendrycks & Gimpel (2016), Gaussian Error Linear Units (GELUs), arXiv:1606.08415",
            _always(False), _always(True), _always(True),
            check=_check_gelu,
        ),
        Spec(
            "selu", f.selu, d.d_selu, {},
            _fixed(r"\lambda \begin{cases} x & x > 0 \\ \alpha(e^x - 1) & x \le 0 "
                   r"\end{cases}"),
            _fixed("1.0507 * (x if x > 0 else 1.6733 * (exp(x) - 1))"),
            "Klambauer, Unterthiner, Mayr & Hochreiter (2017), Self-Normalizing Neural "
            "Networks, NeurIPS",
            _always(True), _always(False), _always(True),
        ),
        Spec(
            "celu", f.celu, d.d_celu, {"alpha": 1.0},
            lambda p: _elu_tex(p, _celu_inner(p, "/", r"\alpha")),
            lambda p: _elu_text(p, _celu_inner(p, " / ", "alpha")),
            "Barron (2017), Continuously Differentiable Exponential Linear Units, "
            "arXiv:1704.07483",
            _always(True), _always(True), _always(True),
            check=lambda p: _number("celu", "alpha", p["alpha"], positive=True),
        ),
        Spec(
            "silu", f.silu, d.d_silu, {},
            _fixed(r"x\,\sigma(x) = \frac{x}{1 + e^{-x}}"),
            _fixed("x * sigmoid(x) = x / (1 + exp(-x))"),
            "Elfwing, Uchibe & Doya (2018), Sigmoid-Weighted Linear Units for Neural Network "
            "Function Approximation in Reinforcement Learning, Neural Networks; "
            "Ramachandran, Zoph & Le (2017), Searching for Activation Functions (swish)",
            _always(False), _always(True), _always(True),
        ),
        Spec(
            "mish", f.mish, d.d_mish, {},
            _fixed(r"x \tanh\left(\ln(1 + e^x)\right)"),
            _fixed("x * tanh(ln(1 + exp(x)))"),
            "Misra (2019), Mish: A Self Regularized Non-Monotonic Activation Function, "
            "arXiv:1908.08681",
            _always(False), _always(True), _always(True),
        ),
        Spec(
            "softplus", f.softplus, d.d_softplus, {"beta": 1.0, "threshold": 20.0},
            _softplus_tex, _softplus_text,
            "Dugas, Bengio, Belisle, Nadeau & Garcia (2001), Incorporating Second-Order "
            "Functional Knowledge for Better Option Pricing, NeurIPS",
            _always(True), _always(True), _always(True),
            check=lambda p: (
                _number("softplus", "beta", p["beta"], positive=True),
                _number("softplus", "threshold", p["threshold"], allow_inf=True),
            ),
        ),
        Spec(
            "relu6", f.relu6, d.d_relu6, {},
            _fixed(r"\min(\max(x, 0), 6)"), _fixed("min(max(x, 0), 6)"),
            "Krizhevsky (2010), Convolutional Deep Belief Networks on CIFAR-10, tech. report",
            _always(True), _always(False), _always(True),
        ),
        Spec(
            "hard_tanh", f.hard_tanh, d.d_hard_tanh, {"min_val": -1.0, "max_val": 1.0},
            lambda p: (rf"\min(\max(x, {_shown(p, 'min_val', 'a')}), "
                       rf"{_shown(p, 'max_val', 'b')})"),
            lambda p: f"min(max(x, {_shown(p, 'min_val')}), {_shown(p, 'max_val')})",
            "Collobert (2004), Large Scale Machine Learning, PhD thesis, Université Paris VI",
            _always(True), _always(False), _always(True),
            check=_check_hard_tanh,
        ),
        Spec(
            "tanh", f.tanh, d.d_tanh, {},
            _fixed(r"\tanh x = \frac{e^x - e^{-x}}{e^x + e^{-x}}"), _fixed("tanh(x)"),
            "LeCun, Bottou, Orr & Müller (1998), Efficient BackProp, in Neural Networks: "
            "Tricks of the Trade",
            _always(True), _always(True), _always(True),
        ),
        Spec(
            "sigmoid", f.sigmoid, d.d_sigmoid, {},
            _fixed(r"\sigma(x) = \frac{1}{1 + e^{-x}}"), _fixed("1 / (1 + exp(-x))"),
            "Rumelhart, Hinton & Williams (1986), Learning Representations by "
            "Back-Propagating Errors, Nature",
            _always(True), _always(True), _always(True),
        ),
        Spec(
            "identity", f.identity, d.d_identity, {},
            _fixed("x"), _fixed("x"),
            "the linear (no) activation",
            _always(True), _always(True), _always(False),
        ),
    ]
}

ALIASES: dict[str, str] = {"swish": "silu", "linear": "identity", "hardtanh": "hard_tanh"}


def canonical(name: str) -> str:
    """The canonical name for ``name`` (case, '-' vs '_', underscores and aliases forgiven)."""
    if not isinstance(name, str):
        raise RelulabError(f"activation name must be a string, got {name!r}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in SPECS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    squeezed = {n.replace("_", ""): n for n in SPECS}
    if key.replace("_", "") in squeezed:
        return squeezed[key.replace("_", "")]
    raise RelulabError(
        f"unknown activation {name!r}; known: {', '.join(sorted(SPECS))} "
        f"(aliases: {', '.join(f'{a}={c}' for a, c in sorted(ALIASES.items()))}); one of "
        "your own must be registered (relulab.activations.register) in each process that "
        "uses it, Ray workers included"
    )


def canonical_names(names: Any) -> tuple[str, ...]:
    """The canonical name of each of ``names``, refusing two spellings of one function
    (``swish`` and ``silu``, ``ReLU`` and ``relu``): a study would train it twice and count
    it twice among its comparisons."""
    seen: dict[str, str] = {}
    out = []
    for name in names:
        key = canonical(name)
        if key in seen:
            raise RelulabError(
                f"activations {seen[key]!r} and {name!r} are one function ({key}); "
                f"list it once, e.g. as {key!r}")
        seen[key] = name
        out.append(key)
    return tuple(out)


def resolve(spec: Spec, params: Params, overrides: Params) -> Params:
    """Defaults, then ``params``, then ``overrides``; unknown names and bad values raise."""
    unknown = sorted(set(overrides) - set(spec.defaults))
    if unknown:
        known = ", ".join(f"{k}={v!r}" for k, v in spec.defaults.items()) or "none"
        raise RelulabError(
            f"activation {spec.name!r} has no parameter {', '.join(unknown)}; "
            f"its parameters: {known}"
        )
    merged = {**spec.defaults, **params, **overrides}
    for key, value in merged.items():
        if _is_number(value) or isinstance(value, np.integer | np.floating):
            merged[key] = float(value)
    if spec.name == "gelu" and isinstance(merged["approximate"], bool):
        # jax.nn / Keras spell it as a boolean.
        merged["approximate"] = "tanh" if merged["approximate"] else "none"
    spec.check(merged)
    return merged
