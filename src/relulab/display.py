"""How numbers are written for people: one module for the report, the figures and the CLI.

Pure functions of a number to a string; nothing here decides anything about a study. A
value that is missing or undefined (None, NaN, infinite) is written :data:`MISSING`
everywhere. Negative numbers in the report carry a true minus sign (``−``, as wide as
``+``); terminal and figure text keep the ASCII hyphen, which every font has.

The verdict sentence of :func:`relulab.verdicts.sentence` is a fixed text that tests and the
README quote; it keeps its own small formatters (``n/a``, ``= 0.05``) and is not built here.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "MISSING",
    "finite",
    "interval",
    "metric_value",
    "number",
    "p_value",
    "percent",
    "seconds",
    "short_number",
    "signed_percent",
    "spec",
]

MISSING = "–"  # an en dash: the one mark for a value that is absent or undefined
MINUS = "−"  # U+2212


def finite(v: Any) -> bool:
    """True for a number that is neither missing nor NaN nor infinite."""
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _minus(text: str) -> str:
    return text.replace("-", MINUS)


def number(v: Any) -> str:
    """Three significant digits, trailing zeros kept (0.500, not 0.5); more for large values
    (1,235, not 1.23e+03); scientific below 0.001; a true minus sign."""
    if not finite(v):
        return MISSING
    v = float(v)
    if v != 0 and abs(v) < 1e-3:
        text = f"{v:.2e}"
    elif abs(v) >= 99.95:
        text = f"{v:,.0f}"
    else:
        text = f"{v:#.3g}"  # '#' keeps trailing zeros: 0.500, not 0.5
    return _minus(text)


def percent(v: Any, decimals: int = 0) -> str:
    """A share as a percentage: 0.5 -> '50%'."""
    if not finite(v):
        return MISSING
    return f"{100 * float(v):.{decimals}f}%"


def signed_percent(v: Any) -> str:
    """A relative difference as a signed percentage: 0.183 -> '+18.3%', -0.004 -> '−0.4%';
    one that rounds to nothing is '0.0%' (a sign on a zero reads as a direction)."""
    if not finite(v):
        return MISSING
    v = 100 * float(v)
    if abs(v) < 0.05:
        return "0.0%"
    return _minus(f"{v:+.1f}%")


def p_value(v: Any) -> str:
    """A p-value: '< 0.001' or three decimals."""
    if not finite(v):
        return MISSING
    v = float(v)
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def p_is(text: str) -> str:
    """What follows "p" in a sentence, from :func:`p_value`'s text: "= 0.042", or "< 0.001"
    as it is (never "p = < 0.001")."""
    return text if text.startswith("<") else f"= {text}"


def seconds(v: Any) -> str:
    """A duration: '12.4 s', or '3 min 5 s' from a minute on."""
    if not finite(v):
        return MISSING
    v = float(v)
    if v < 60:
        return f"{v:.1f} s"
    minutes, secs = divmod(v, 60)
    return f"{minutes:.0f} min {secs:.0f} s"


def metric_value(v: Any, kind: str) -> str:
    """A metric value by its display kind (``relulab.metrics.Metric.kind``):
    ``"percent"`` as a whole percentage, anything else as :func:`number`."""
    return percent(v) if kind == "percent" else number(v)


def interval(lo: Any, hi: Any, fmt: Any = number, *, sep: str = ", ",
             brackets: str = "[]") -> str:
    """``[lo, hi]`` written with ``fmt``; empty when either end is missing (an interval
    with one end is no interval)."""
    if not (finite(lo) and finite(hi)):
        return ""
    opening, closing = brackets[:1], brackets[1:]
    return f"{opening}{fmt(lo)}{sep}{fmt(hi)}{closing}"


def short_number(v: Any) -> str:
    """Three significant digits for figure text (12.0 beside 11.8, not 12), whole numbers
    from 100 on; an ASCII hyphen for the minus (every plotting font has it)."""
    if not finite(v):
        return MISSING
    v = float(v)
    return f"{v:#.3g}" if abs(v) < 100 else f"{v:.0f}"


def spec(v: Any, format_spec: str) -> str:
    """``format(v, format_spec)``, or :data:`MISSING`: the terminal's fixed-format cells."""
    if not finite(v):
        return MISSING
    return format(v, format_spec)


# How a forecast's windows were scaled, in a report's words ("" for the protocol's
# global min-max, which the report's figures already describe).
_SCALER_WORDS = {
    "global": "",
    "window-minmax": "each window min-max scaled by its own inputs",
    "window-standard": "each window standardised by its own inputs' mean and standard "
                       "deviation",
    "robust": "each window scaled by its own inputs' median and absolute deviation",
    "diff": "the models learning the series' first differences",
}


def scaler_phrase(scaler: str) -> str:
    """How the windows were scaled, as a clause ("" for the global min-max)."""
    return _SCALER_WORDS.get(scaler, f"windows scaled by {scaler}")


def ahead_phrase(horizon: int, strategy: str) -> str:
    """How far ahead a forecast's test points are forecast: "one step ahead", or "in paths
    of 4 steps, each from the actual values before it (direct: a 4-output head)"."""
    if int(horizon) == 1:
        return "one step ahead"
    how = (f"direct: one head of {horizon} outputs" if strategy == "direct"
           else "recursive: the one-step model fed its own forecasts")
    return f"in paths of {horizon} steps, each from the actual values before it ({how})"


def model_phrase(model: str, units: int, layers: int) -> str:
    """One of relulab's forecasters in words, with its article: "an LSTM (4 units)", "a GRU
    (8 units, 2 layers)", "an MLP (32 wide, 2 layers)"."""
    name = model.upper()
    size = f"{units} wide" if model == "mlp" else f"{units} units"
    shape = f"{name} ({size}" + (f", {layers} layers)" if layers > 1 else ")")
    return ("an " if name[:1] in "AEFHILMNORSX" else "a ") + shape
