"""Figures of a study over a panel: pure functions of computed numbers returning matplotlib
``Figure`` objects, and :func:`save_panel_figures`, the one function here that writes files.

Nothing here computes a statistic: the mean ranks, the critical difference and its groups
come from :mod:`relulab.pooled`, the spread per series from the panel study; the figures
place them. Style, colours and the PNG writer are :mod:`relulab.figures`' own, so a panel
figure sits beside a series' figures without a seam.

- :func:`critical_difference_figure`: Demšar's critical-difference diagram of mean ranks.
- :func:`spread_forecasts_figure`: small multiples of the series where the activations
  differ most, each with the actual test values and each activation's median forecast.
- :func:`step_ratio_figure`: over paths of several steps, each activation's and baseline's
  RMSE h steps ahead relative to the naive path's, pooled over the series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, ScalarFormatter

from relulab import display
from relulab.figures import (
    ACTUAL_COLOR,
    BASELINE_STYLES,
    REGION_COLORS,
    WIDTH,
    _band,
    _format_time_axis,
    _step,
    _styled,
    _time_axis,
    activation_colors,
    legend_below,
    plain,
)
from relulab.result import PANEL_DETAIL, StudyResult

__all__ = ["critical_difference_figure", "panel_figures",
           "save_panel_figures", "spread_forecasts_figure", "step_ratio_figure"]



@_styled
def critical_difference_figure(mean_ranks: Mapping[str, float], critical_difference: float,
                               groups: Sequence[Sequence[str]], *, series: int,
                               reference: str | None = None,
                               colors: Mapping[str, str] | None = None) -> Figure:
    """Demšar's (2006) critical-difference diagram.

    The axis runs over mean ranks, 1 (best) on the left. Each activation hangs from its
    mean rank, the better half labelled on the left, the rest on the right; a thick bar
    joins each group in ``groups`` (activations the Nemenyi test cannot tell apart), and the
    segment above the axis is ``critical_difference`` long, to hold against any gap."""
    names = sorted(mean_ranks, key=lambda a: (mean_ranks[a], a))
    k = len(names)
    colors = dict(colors or activation_colors(names))
    left = names[: math.ceil(k / 2)]
    right = names[len(left):]
    rows = max(len(left), len(right))
    bars = len(groups)
    # y grows downwards: the CD segment above the axis (negative y), bars, then labels.
    bar_y = [0.32 + 0.22 * i for i in range(bars)]
    label_top = (bar_y[-1] if bar_y else 0.1) + 0.45
    label_y = [label_top + 0.4 * i for i in range(rows)]
    bottom = label_y[-1] + 0.3 if label_y else 1.0
    top = -1.15
    height_in = 0.55 * (bottom - top) + 0.7
    fig = Figure(figsize=(WIDTH, height_in))
    # The rank axis takes the middle; the labels hang outside it on either side, so each
    # side gets room for its longest label (about 0.11 inch a character at this size).
    longest = max(len(f"{a} (reference)  0.00" if a == reference else f"{a}  0.00")
                  for a in names)
    side_in = min(0.36 * WIDTH, 0.3 + 0.11 * longest)
    side = side_in / WIDTH
    ax = fig.add_axes((side, 0.02, 1 - 2 * side, 1 - 0.02 - 0.62 / height_in))
    lo, hi = 1.0, float(max(k, 2))
    ax.set_xlim(lo, hi)
    ax.set_ylim(bottom, top)
    ax.set_axis_off()

    def frac(x: float) -> float:  # a rank in axes coordinates, for lines that leave the axis
        return (x - lo) / (hi - lo)

    ax.plot([lo, hi], [0, 0], color="#333333", lw=1.2, clip_on=False)
    for t in np.arange(lo, hi + 0.01, 0.5):
        whole = float(t).is_integer()
        ax.plot([t, t], [0, -0.12 if whole else -0.07], color="#333333", lw=1.0,
                clip_on=False)
        if whole:
            ax.text(t, -0.18, f"{t:.0f}", ha="center", va="bottom", fontsize=12)
    if display.finite(critical_difference):
        end = lo + critical_difference
        ax.plot([lo, end], [-0.75, -0.75], color="#333333", lw=1.6, clip_on=False)
        for x in (lo, end):
            ax.plot([x, x], [-0.82, -0.68], color="#333333", lw=1.2, clip_on=False)
        ax.text(lo, -0.88, f"critical difference {display.short_number(critical_difference)}",
                ha="left", va="bottom", fontsize=11.5, color="#333333", clip_on=False)
    for y, group in zip(bar_y, groups, strict=True):
        ranks = [mean_ranks[a] for a in group]
        ax.plot([min(ranks) - 0.02, max(ranks) + 0.02], [y, y], color="#1a1a1a", lw=4,
                solid_capstyle="butt", clip_on=False)
    trans = ax.get_yaxis_transform()  # x in axes fraction, y in data
    for side, members in ((-1, left), (1, right)):
        ordered = members if side < 0 else list(reversed(members))
        for y, name in zip(label_y, ordered, strict=False):
            r = mean_ranks[name]
            c = colors.get(name, "#333333")
            edge = -0.04 if side < 0 else 1.04
            ax.plot([r, r], [0, y], color=c, lw=1.4, clip_on=False)
            ax.plot([frac(r), edge], [y, y], color=c, lw=1.4, transform=trans, clip_on=False)
            ax.plot([r], [0], marker="o", ms=6, color=c, clip_on=False, zorder=4)
            ref = " (reference)" if name == reference else ""
            text = (f"{plain(name)}{ref}  {r:.2f}" if side < 0
                    else f"{r:.2f}  {plain(name)}{ref}")
            ax.text(edge + 0.015 * side, y, text, transform=trans, color=c, fontsize=12.5,
                    ha="right" if side < 0 else "left", va="center",
                    fontweight="bold" if ref else "normal", clip_on=False)
    fig.suptitle(f"Mean rank over {series} series (1 = best): activations joined by a bar\n"
                 "are within the critical difference, not told apart by the Nemenyi test",
                 y=1 - 0.08 / height_in, va="top")
    return fig


@_styled
def spread_forecasts_figure(results: Mapping[str, StudyResult], spread: Mapping[str, float],
                            activations: Sequence[str], best: Mapping[str, str] | None = None,
                            ncols: int = 4) -> Figure:
    """Small multiples of the series where the activations differ most, in ``results``'
    order: the actual test values (black, with a few points before the test window,
    shaded) and each activation's median forecast over its converged seeds.

    Forecasts rather than a dot plot of per-seed RMSE: the spread and the per-series table
    already say *how much* the activations differ; what a forecaster needs next is *why*:
    whether one activation flattens the series, misses a turn, or sits at another level,
    and whether the series is simply hard (every line far off). Each panel has its own y
    scale (the series differ in size); the title gives the spread (worst / best median
    RMSE − 1) and the best activation."""
    colors = activation_colors(activations)
    n = len(results)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(WIDTH, 0.9 + 2.05 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (sid, result) in zip(axes, results.items(), strict=False):
        x, xlabel = _time_axis(result)
        t0, size = result.test_start, result.values.size
        context = max(0, t0 - max(4, (size - t0) // 2))
        step = _step(x)
        ax.axvspan(x[t0] - step / 2, x[-1] + step / 2, color=REGION_COLORS["test"],
                   alpha=0.6, lw=0, zorder=0)
        ax.set_xlim(x[context] - step / 2, x[-1] + step / 2)
        ax.plot(x[context:], result.values[context:], color=ACTUAL_COLOR, lw=1.4,
                marker="o", ms=2.2, zorder=4)
        for i, act in enumerate(activations):
            rows = result.forecasts(act)
            good = rows[np.isfinite(rows).all(axis=1)] if rows.size else rows
            if good.shape[0]:
                # Earlier lines are drawn wider, so one lying under a later one still shows.
                ax.plot(x[t0:], _band(good)[0], color=colors[act],
                        lw=max(1.1, 2.4 - 0.4 * i), zorder=5)
        name = str(sid) if len(str(sid)) <= 24 else str(sid)[:23] + "…"
        ax.set_title(plain(name), loc="left", fontsize=9.5)
        note = f"{display.percent(spread.get(sid), 1)} apart"
        if best and best.get(sid):
            note += f"\nbest {plain(best[sid])}"
        ax.set_title(note, loc="right", fontsize=8, color="#555555", fontweight="normal")
        ax.tick_params(labelsize=7.5)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        # Dates: 2 to 4 ticks; time steps: at most 3 (MaxNLocator's nbins), unnamed.
        _format_time_axis(ax, xlabel, fewest=2, most=4 if xlabel == "date" else 3,
                          named=False)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=ACTUAL_COLOR, lw=1.4, marker="o", ms=3)]
    labels = ["actual"]
    handles += [Line2D([], [], color=colors[a], lw=2) for a in activations]
    labels += [plain(a) for a in activations]
    legend_below(fig, handles, labels, ncols=6)
    fig.suptitle(f"The {n} series where the activations' median test RMSEs lie furthest apart:"
                 "\nactual (black), median forecast over seeds (colour), test window shaded")
    return fig


@_styled
def step_ratio_figure(steps: Sequence[Any], *, series: int,
                      colors: Mapping[str, str] | None = None) -> Figure:
    """The error by steps ahead over a panel (:func:`relulab.pooled.by_step`'s
    ``StepPooled`` list): per step, each activation's (solid) and baseline's (dashed) RMSE
    relative to the naive path's, geometric mean over the series; 1 is the naive path."""
    acts = [s for s in steps if not s.baseline]
    colors = dict(colors or activation_colors([s.name for s in acts]))
    fig = Figure(figsize=(WIDTH, 3.4), layout="constrained")
    ax = fig.subplots()
    handles: dict[str, Any] = {"naive": ax.axhline(1.0, color=ACTUAL_COLOR, lw=1.0)}
    for s in acts:
        h = np.arange(1, len(s.ratio_to_naive) + 1)
        handles[s.name] = ax.plot(h, s.ratio_to_naive, color=colors.get(s.name), lw=2.0,
                                  marker="o", ms=3.5, label=s.name)[0]
    others = [s for s in steps if s.baseline and s.name != "naive"]
    for s, (color, ls) in zip(others, BASELINE_STYLES, strict=False):
        h = np.arange(1, len(s.ratio_to_naive) + 1)
        handles[s.name] = ax.plot(h, s.ratio_to_naive, color=color, ls=ls, lw=1.2,
                                  label=s.name)[0]
    ax.set_xlabel("steps ahead")
    ax.set_ylabel("RMSE / naive path's RMSE")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    legend_below(fig, list(handles.values()),
                 [plain(k) if k in colors else f"baseline: {plain(k)}" + (" (= 1)" if k == "naive"
                                                                           else "")
                  for k in handles], ncols=5)
    # Ratios: a log axis puts half and double the naive path's error equally far from it.
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    fig.suptitle(f"Error by steps ahead over {series} series, relative to the naive path\n"
                 "(geometric mean over series; below the black line beats it)")
    return fig


def panel_figures(panel: Any, top: int = PANEL_DETAIL) -> dict[str, Figure]:
    """Every panel figure by name, from a :class:`~relulab.study.pipeline.PanelResult`
    (``pooled``, ``detail``, ``spread()``, ``scores()``, ``by_step()``):
    ``critical_difference`` when there is a pooled answer, ``by_step`` over paths of several
    steps, ``spread_forecasts`` for the ``top`` series of largest spread."""
    out: dict[str, Figure] = {}
    activations = panel.activations
    colors = activation_colors(activations)
    pooled = panel.pooled
    if pooled is not None:
        out["critical_difference"] = critical_difference_figure(
            {a.activation: a.mean_rank for a in pooled.activations},
            pooled.critical_difference, pooled.groups(), series=pooled.series,
            reference=pooled.reference, colors=colors)
    steps = panel.by_step()
    if steps:
        out["by_step"] = step_ratio_figure(steps, series=len(panel.series), colors=colors)
    spread = panel.spread().dropna()
    chosen = [sid for sid in spread.index[:top] if sid in panel.detail]
    if chosen:
        best = panel.scores().loc[chosen].idxmin(axis=1)
        out["spread_forecasts"] = spread_forecasts_figure(
            {sid: panel.detail[sid] for sid in chosen}, spread.to_dict(), activations,
            best={sid: str(best[sid]) for sid in chosen})
    return out


def save_panel_figures(panel: Any, directory: str | Path, dpi: int = 144) -> list[Path]:
    """Write every panel figure as ``DIRECTORY/<name>.png`` and return the paths written."""
    from relulab.figures import write_pngs

    return write_pngs(panel_figures(panel), directory, dpi)
