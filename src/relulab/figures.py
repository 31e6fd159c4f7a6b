"""Figures of a :class:`~relulab.result.StudyResult`: pure functions returning matplotlib
``Figure`` objects, and :func:`save_figures`, the one function here that writes files.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot), so nothing here
touches global figure state or needs a display; PNGs are rendered by the Agg backend.
Each activation keeps one colour in every figure (:func:`activation_colors`).

Text is set in matplotlib's sans-serif (DejaVu Sans), then in the first installed font of
:data:`FALLBACK_FONTS` that has a glyph it lacks (a series named "Zürich 🏨" or "東京"). A
glyph no installed font has is drawn as a box, quietly: :func:`quiet_glyphs` keeps
matplotlib's "Glyph missing" warnings off the terminal.

- :func:`series_figure`: the series with its train / validation / test regions.
- :func:`forecast_figure`: per activation, the test series against the forecasts (median
  over seeds with the 10-90% band across seeds), baselines as thin lines.
- :func:`metrics_figure`: the distribution over seeds of each test metric.
- :func:`loss_figure`: training and validation loss per epoch (median with band, log y).
- :func:`dead_units_figure`: the share of dead hidden units per epoch and at the kept
  epoch, when the runs carry it (``epoch_stats["dead_fraction"]``) and any unit died.
- :func:`activation_figure`: the activation functions used and their derivatives.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
)

from relulab import display
from relulab.diagnostics import dead_curves, site_curves
from relulab.diagnostics import of as diagnostics_of
from relulab.metrics import METRICS, path_steps
from relulab.result import StudyResult

# Okabe & Ito's colour-blind-safe palette (yellow dropped: unreadable on white), then a few
# more distinct colours for long activation lists.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
           "#7F3C8D", "#11A579", "#3969AC", "#E73F74", "#80BA5A", "#008695")
ACTUAL_COLOR = "#1a1a1a"
# One style per baseline: the protocol's three and the field's AutoETS and AutoARIMA.
BASELINE_STYLES = (("#6b6b6b", (0, (4, 2))), ("#6b6b6b", (0, (1, 1.5))),
                   ("#9a9a9a", (0, (6, 2, 1, 2))), ("#9a9a9a", "-"),
                   ("#4a4a4a", (0, (2, 1, 2, 3))), ("#4a4a4a", (0, (8, 2))))
REGION_COLORS = {"train": "#e8eef6", "validation": "#fbf0d9", "test": "#fbe3de"}
BAND = (10.0, 90.0)  # percentiles across seeds shown as bands

STYLE = {
    "font.size": 10.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.7,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "legend.frameon": False,
    "legend.fontsize": 9.5,
    "figure.titlesize": 12.5,
    "figure.titleweight": "bold",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "lines.solid_capstyle": "round",
}
WIDTH = 9.0  # inches; every figure has the same width so fonts match on the page

# Fonts with the glyphs DejaVu Sans lacks (CJK, Hangul, symbols, emoji in outline), tried
# in order behind it where installed. Colour bitmap emoji fonts (Noto Color Emoji, Apple
# Color Emoji) are left out: FreeType cannot scale their fixed-size strikes.
FALLBACK_FONTS = ("Noto Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC",
                  "Noto Sans CJK KR", "Source Han Sans", "Noto Sans JP", "Noto Sans SC",
                  "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
                  "Arial Unicode MS", "Microsoft YaHei", "Yu Gothic", "Malgun Gothic",
                  "PingFang SC", "Hiragino Sans", "Apple SD Gothic Neo", "Noto Sans Symbols",
                  "Noto Sans Symbols 2", "Noto Emoji", "Segoe UI Emoji", "Segoe UI Symbol",
                  "Symbola")


def font_family() -> list[str]:
    """matplotlib's sans-serif, then the installed :data:`FALLBACK_FONTS` (only those: a
    family that is not installed would make matplotlib log "font family not found")."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["sans-serif", *(name for name in FALLBACK_FONTS if name in installed)]


STYLE["font.family"] = font_family()


@contextlib.contextmanager
def quiet_glyphs() -> Iterator[None]:
    """Without matplotlib's "Glyph N missing from font(s)" warnings: user text (a series
    name) may hold characters no installed font has, which are drawn as boxes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font",
                                category=UserWarning)
        yield

# The metrics drawn as distributions, in registry order, with their panels' titles.
PANELS = {m: info for m, info in METRICS.items() if info.panel is not None}


# The training loss each task's models minimise, as the loss figure's axis names it.
_LOSS_LABEL = {"forecast": "MSE loss (scaled data, log)",
               "classification": "cross-entropy (log)", "regression": "MSE loss (log)"}


def _panels(result: StudyResult) -> dict[str, Any]:
    """The drawn metrics of the result's task, in registry order."""
    return {m: info for m, info in PANELS.items() if result.task in info.tasks}


def activation_colors(activations: Sequence[str]) -> dict[str, str]:
    """One colour per activation, by position in the study's list (stable across figures)."""
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(activations)}


def plain(text: str) -> str:
    """User text as matplotlib shows it literally: ``$`` would otherwise start mathtext."""
    return str(text).replace("$", r"\$")


def legend_below(fig: Figure, handles: Sequence[Any], labels: Sequence[str], *,
                 ncols: int, **options: Any) -> Any:
    """The figure's legend under its axes in at most ``ncols`` columns, fewer where that
    many would be wider than the figure (long baseline names cut off at both edges)."""
    for n in range(min(ncols, len(handles)), 1, -1):
        legend = fig.legend(handles, labels, loc="outside lower center", ncols=n, **options)
        if legend.get_window_extent().width <= 0.98 * fig.bbox.width:
            return legend
        legend.remove()
    return fig.legend(handles, labels, loc="outside lower center", ncols=1, **options)


def _styled(build: Callable[..., Figure]) -> Callable[..., Figure]:
    # rcParams are read when artists are created, so the style wraps the whole build.
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE), quiet_glyphs():
            return build(*args, **kwargs)

    wrapper.__name__ = build.__name__
    wrapper.__doc__ = build.__doc__
    return wrapper


def _activations(result: StudyResult) -> list[str]:
    return result.activations


def _colors(result: StudyResult) -> dict[str, str]:
    return activation_colors(_activations(result))


def _time_axis(result: StudyResult) -> tuple[np.ndarray, str]:
    """x values per point (dates when every point has one) and the axis label."""
    n = result.values.size
    if result.dates is not None and len(result.dates) == n:
        try:
            # Hours, not days, so that half a step (region edges) is exact for weekly data.
            days = np.array(result.dates, dtype="datetime64[D]")
            return days.astype("datetime64[h]"), "date"
        except (ValueError, TypeError):
            pass
    return np.arange(n), "time step"


def _format_time_axis(ax, label: str, *, fewest: int = 3, most: int = 8,
                      named: bool = True) -> None:
    """Ticks of a time axis from :func:`_time_axis`'s ``label``: concise dates, or whole
    time steps (``most`` ticks at most; a small multiple asks for fewer, unnamed)."""
    if label == "date":
        locator = AutoDateLocator(minticks=fewest, maxticks=most)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=most))
        if named:
            ax.set_xlabel(label)


def _band(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and the BAND percentiles over the first axis, ignoring NaN rows (diverged)."""
    rows = np.asarray(rows, dtype=float)
    rows = np.where(np.isfinite(rows), rows, np.nan)
    with warnings.catch_warnings():  # an all-NaN column is an all-diverged group: NaN is right
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(rows, axis=0)
        lo, hi = np.nanpercentile(rows, BAND, axis=0)
    return med, lo, hi


def _step(x: np.ndarray):
    """The typical spacing of the time axis: the median step, so that one irregular gap
    (a first week of 4 days) does not shift every region edge drawn half a step out."""
    if x.size < 2:
        return np.timedelta64(24, "h") if np.issubdtype(x.dtype, np.datetime64) else 1.0
    return np.median(np.diff(x))


def _series_label(result: StudyResult) -> str:
    """The y-axis label: the column part of ``file:column`` names, when short enough."""
    name = result.series_name.strip()
    if ":" in name:
        name = name.rsplit(":", 1)[1].strip() or name
    return plain(name) if name and len(name) <= 28 else "value"


@_styled
def series_figure(result: StudyResult) -> Figure | None:
    """The whole series, with the train, validation and test regions shaded and labelled
    (None for a supervised task: it has no series)."""
    if result.task != "forecast":
        return None
    x, xlabel = _time_axis(result)
    n = result.values.size
    fig = Figure(figsize=(WIDTH, 3.4), layout="constrained")
    ax = fig.add_subplot()
    regions = (("train", 0, result.train_end), ("validation", result.train_end,
                                                  result.test_start),
               ("test", result.test_start, n))
    step = _step(x)
    for name, start, end in regions:
        if end <= start:
            continue
        # Regions cover whole steps: each point sits in the middle of its own slot.
        left, right = x[start] - step / 2, x[end - 1] + step / 2
        ax.axvspan(left, right, color=REGION_COLORS[name], lw=0, zorder=0)
        ax.text(x[start] + (x[end - 1] - x[start]) / 2, 1.0, f"{name}\n{end - start} points",
                transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=9.5, color="#444444", linespacing=1.1)
    # Dots mark the points while they can be told apart; on long series they only blur.
    ax.plot(x, result.values, color=ACTUAL_COLOR, lw=1.4 if n <= 150 else 1.1,
            marker="o" if n <= 150 else None, ms=2.2)
    ax.set_xlim(x[0] - step / 2, x[-1] + step / 2)
    ax.set_ylabel(_series_label(result))
    _format_time_axis(ax, xlabel)
    fig.suptitle(
        f"The series ({n} points): models learn on train, are checked on validation,\n"
        f"and are scored on the last {n - result.test_start} points (test)"
    )
    return fig


@_styled
def _paths(result: StudyResult) -> list[slice]:
    """The test region's forecast paths as slices of its points: one slice for one-step
    forecasts (one line), else each path of ``config.horizon`` steps on its own."""
    n_test = result.values.size - result.test_start
    if result.config.horizon == 1:
        return [slice(0, n_test)]
    starts = np.flatnonzero(path_steps(n_test, result.config.horizon,
                                       result.config.test_size) == 0)
    return [slice(int(a), int(b)) for a, b in zip(starts, [*starts[1:], n_test], strict=True)]


def forecast_figure(result: StudyResult, baselines: bool = True) -> Figure | None:
    """One panel per activation: the actual test series against the forecasts.

    The line is the median forecast over seeds at each test point, the band spans the
    10th to 90th percentile across seeds; diverged runs are left out. Baselines (naive,
    ARIMA, ...) are drawn as thin grey lines when ``baselines`` is true. Panels share the
    y axis so flattened forecasts look flat. Forecast paths of several steps
    (``config.horizon``) are drawn each on its own, a dotted line at each origin.
    """
    if result.task != "forecast":
        return None  # a supervised task's predictions are no line over time
    acts = _activations(result)
    colors = _colors(result)
    x, xlabel = _time_axis(result)
    n = result.values.size
    t0 = result.test_start
    context = max(0, t0 - max(8, (n - t0) // 2))  # a few points before the test window
    ncols = min(3, max(1, len(acts)))
    nrows = -(-len(acts) // ncols)
    fig = Figure(figsize=(WIDTH, 0.6 + 2.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=True, sharex=True, squeeze=False).ravel()
    rmse = _median_metric(result, "rmse")
    baseline_lines: dict = {}
    step = _step(x)
    paths = _paths(result)
    xt = x[t0:]
    for ax, act in zip(axes, acts, strict=False):
        ax.axvspan(x[t0] - step / 2, x[-1] + step / 2,
                   color=REGION_COLORS["test"], alpha=0.6, lw=0, zorder=0)
        if len(paths) > 1:
            for p in paths[1:]:
                ax.axvline(xt[p.start] - step / 2, color="#999999", lw=0.7, ls=":", zorder=1)
        ax.set_xlim(x[context] - step / 2, x[-1] + step / 2)
        actual = ax.plot(x[context:], result.values[context:], color=ACTUAL_COLOR, lw=1.5,
                         marker="o", ms=2.8, zorder=4, label="actual")[0]
        if baselines:
            for (name, b), (color, ls) in zip(result.baselines.items(), BASELINE_STYLES,
                                              strict=False):
                fc = np.asarray(b.get("forecast", []), dtype=float)
                if fc.size == n - t0:
                    for p in paths:
                        line = ax.plot(xt[p], fc[p], color=color, ls=ls, lw=1.0, zorder=3)[0]
                    baseline_lines.setdefault(name, line)
        rows = result.forecasts(act)
        good = rows[np.isfinite(rows).all(axis=1)] if rows.size else rows
        c = colors[act]
        if good.shape[0]:
            med, lo, hi = _band(good)
            for p in paths:
                ax.fill_between(xt[p], lo[p], hi[p], color=c, alpha=0.25, lw=0, zorder=2)
                ax.plot(xt[p], med[p], color=c, lw=2.0, zorder=5,
                        marker="." if p.stop - p.start == 1 else None)
        else:
            ax.text(0.5, 0.5, "every run diverged", transform=ax.transAxes, ha="center",
                    color="#b00020")
        diverged = rows.shape[0] - good.shape[0]
        note = f", {diverged} diverged" if diverged else ""
        ax.set_title(plain(act), color=c, loc="left")
        # One line fits beside the name; a diverged count needs a second.
        ax.set_title(f"median RMSE {display.short_number(rmse.get(act))}"
                     + (f"\n{good.shape[0]} seeds{note}" if note else ""),
                     loc="right", fontsize=9, color="#b00020" if note else "#555555",
                     fontweight="normal")
        _format_time_axis(ax, xlabel)
    for ax in axes[len(acts):]:
        ax.set_visible(False)
    for ax in axes[len(acts) - ncols:len(acts)]:
        # The lowest panel of each column carries the dates, also above an empty slot.
        ax.xaxis.set_tick_params(labelbottom=True)
    for ax in axes[::ncols]:
        ax.set_ylabel(_series_label(result))
    forecast = (Patch(color="#888888", alpha=0.35, lw=0), Line2D([], [], color="#555555", lw=2))
    handles = [actual, forecast, *baseline_lines.values()]
    labels = ["actual", f"forecast: median over seeds, {BAND[0]:.0f}–{BAND[1]:.0f}% band",
              *[f"baseline: {plain(k)}" for k in baseline_lines]]
    legend_below(fig, handles, labels, ncols=4, handler_map={tuple: HandlerTuple(ndivide=1)})
    H = result.config.horizon
    fig.suptitle("Test forecasts against the actual series: does the coloured line\n"
                 "follow the black one's ups and downs, or flatten them?"
                 + (f" ({H}-step paths)" if H > 1 else ""))
    return fig


def horizon_figure(result: StudyResult) -> Figure | None:
    """The error ``h`` steps ahead along the forecast paths, ``h = 1 .. horizon``: each
    activation's median over seeds (``StudyResult.by_step``), the baselines dashed; RMSE
    and MASE side by side. None for one-step forecasts."""
    if not result.by_step:
        return None
    acts = [a for a in _activations(result) if a in result.by_step]
    others = [k for k in result.by_step if k not in acts]
    colors = _colors(result)
    fig = Figure(figsize=(WIDTH, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, squeeze=False).ravel()
    handles: dict[str, Any] = {}
    for ax, metric in zip(axes, ("rmse", "mase"), strict=True):
        for name in acts:
            vals = result.by_step[name].get(metric, [])
            h = np.arange(1, len(vals) + 1)
            handles[name] = ax.plot(h, vals, color=colors[name], lw=2.0, marker="o",
                                    ms=3.5)[0]
        for name, (color, ls) in zip(others, BASELINE_STYLES, strict=False):
            vals = result.by_step[name].get(metric, [])
            h = np.arange(1, len(vals) + 1)
            handles[name] = ax.plot(h, vals, color=color, ls=ls, lw=1.2)[0]
        info = METRICS[metric]
        ax.set_title(info.label, loc="left")
        ax.set_xlabel("steps ahead")
        ax.set_ylabel(info.unit)
        ax.xaxis.get_major_locator().set_params(integer=True)
    legend_below(fig, list(handles.values()),
                 [plain(k) if k in acts else f"baseline: {plain(k)}" for k in handles],
                 ncols=5)
    fig.suptitle("Error by steps ahead: how fast each forecast path loses the series\n"
                 "(activations: median over seeds)")
    return fig


def _median_metric(result: StudyResult, metric: str) -> dict[str, float]:
    """Median over seeds of ``metric`` per activation, as the study's summary has it."""
    summary = result.summary
    if summary is None or summary.empty:
        return {}
    rows = summary[summary["metric"] == metric]
    return dict(zip(rows["activation"], rows["median"].astype(float), strict=True))


def _axis_range(values: list[np.ndarray], fixed: Sequence[float],
                fence: float = 4.0) -> tuple[float, float]:
    """The shown range of a metric panel: every seed value within ``fence`` IQRs of the
    pooled quartiles, and the ``fixed`` levels (reference, baselines), padded by 6%.
    A collapsed run (MDA 0%, a flat forecast) would otherwise squash every box."""
    pooled = np.concatenate([v for v in values if v.size] or [np.empty(0)])
    inside = pooled
    if pooled.size >= 4:
        q1, q3 = np.percentile(pooled, [25, 75])
        iqr = max(q3 - q1, 1e-9 * max(1.0, abs(q3)))
        inside = pooled[(pooled >= q1 - fence * iqr) & (pooled <= q3 + fence * iqr)]
    keep = np.concatenate([inside, np.asarray([f for f in fixed if np.isfinite(f)], float)])
    if not keep.size:
        return 0.0, 1.0
    lo, hi = float(keep.min()), float(keep.max())
    # A seed just beyond is worth the room: only the far ones go to the edge.
    near = pooled[(pooled >= lo - 0.3 * (hi - lo)) & (pooled <= hi + 0.3 * (hi - lo))]
    if near.size:
        lo, hi = min(lo, float(near.min())), max(hi, float(near.max()))
    pad = 0.06 * (hi - lo) if hi > lo else max(0.05 * abs(hi), 0.05)
    return lo - pad, hi + pad


def _fmt_metric(v: float, percent: bool) -> str:
    return display.percent(v) if percent else display.short_number(v)


@_styled
def metrics_figure(result: StudyResult) -> Figure:
    """Each test metric's distribution over seeds, activations one per row (names read
    across, however many there are): a box and the seeds as dots. Solid grey lines mark the
    reference levels named in each panel's title (MFE 0, MDA 50%, MASE 1, ratio 1);
    baselines are vertical lines in the legend's styles. A seed far outside the others is
    drawn as an arrow at the panel's edge with its value, so it cannot squash the boxes."""
    acts = _activations(result)
    colors = _colors(result)
    frame = result.runs_frame
    k = len(acts)
    panels = _panels(result)
    rows = math.ceil(len(panels) / 3)
    fig = Figure(figsize=(WIDTH, 1.5 + rows * (0.75 + 0.3 * max(k, 2))), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, min(3, len(panels)), sharey=True)).ravel()
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    baseline_handles: dict = {}
    positions = np.arange(k)
    clipped_any = False
    for ax, (metric, info) in zip(axes, panels.items(), strict=True):
        panel = info.panel
        name, hint, xlabel, ref = panel.title, panel.hint, panel.axis, panel.reference
        percent = info.kind == "percent"
        data = []
        for act in acts:
            sel = frame[(frame["activation"] == act) & ~frame["diverged"]][metric]
            vals = sel.to_numpy(dtype=float)
            data.append(vals[np.isfinite(vals)])
        bases = []
        for (base, b), (color, ls) in zip(result.baselines.items(), BASELINE_STYLES,
                                          strict=False):
            v = b.get("metrics", {}).get(metric)
            if v is not None and np.isfinite(v):
                bases.append(float(v))
                line = ax.axvline(v, color=color, ls=ls, lw=1.0, zorder=1)
                baseline_handles.setdefault(base, line)
        lo, hi = _axis_range(data, [*bases, *([ref] if ref is not None else [])])
        nonempty = [i for i, d in enumerate(data) if d.size]
        if nonempty:
            box = ax.boxplot([data[i] for i in nonempty], positions=positions[nonempty],
                             orientation="horizontal", widths=0.55, showfliers=False,
                             patch_artist=True, medianprops={"color": "#1a1a1a", "lw": 1.6},
                             whiskerprops={"color": "#777777"}, capprops={"color": "#777777"})
            for i, patch in zip(nonempty, box["boxes"], strict=True):
                patch.set(facecolor=colors[acts[i]], alpha=0.28, edgecolor=colors[acts[i]])
        for i, vals in enumerate(data):
            shown = vals[(vals >= lo) & (vals <= hi)]
            jitter = rng.uniform(-0.14, 0.14, shown.size)
            ax.scatter(shown, i + jitter, s=16, color=colors[acts[i]], alpha=0.9, zorder=3,
                       edgecolor="white", linewidth=0.4)
            for left, out in ((True, vals[vals < lo]), (False, vals[vals > hi])):
                if not out.size:
                    continue
                clipped_any = True
                edge = 0.015 if left else 0.985  # axes fraction, inside the frame
                ax.plot([edge], [i], marker="<" if left else ">", ms=6, ls="none",
                        color=colors[acts[i]], transform=ax.get_yaxis_transform(), zorder=4)
                text = (", ".join(_fmt_metric(v, percent) for v in np.sort(out))
                        if out.size <= 2 else f"{out.size} seeds")
                ax.annotate(text, (edge, i), xycoords=ax.get_yaxis_transform(),
                            xytext=(6 if left else -6, 0), textcoords="offset points",
                            va="center", fontsize=8, ha="left" if left else "right",
                            color=colors[acts[i]], zorder=4,
                            bbox={"fc": "white", "ec": "none", "pad": 0.6, "alpha": 0.85})
        if ref is not None:
            ax.axvline(ref, color="#8a8a8a", lw=1.3, zorder=1)
        ax.set_xlim(lo, hi)
        ax.set_ylim(k - 0.5, -0.5)  # the first activation on top
        ax.set_yticks(positions, [plain(a) for a in acts])
        for tick, act in zip(ax.get_yticklabels(), acts, strict=False):
            tick.set_color(colors[act])
        ax.set_title(name, loc="left")
        ax.set_title(hint, loc="right", fontsize=9, color="#666666", fontweight="normal")
        ax.set_xlabel(xlabel, fontsize=9, color="#555555")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.grid(axis="y", visible=False)
        if percent:
            ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    handles = [Line2D([], [], color="#8a8a8a", lw=1.3)]
    labels = ["reference level (see each title)"]
    handles += list(baseline_handles.values())
    labels += [f"baseline: {plain(k)}" for k in baseline_handles]
    if clipped_any:
        handles.append(Line2D([], [], color="#555555", marker=">", ls="none", ms=6))
        labels.append("seed off the scale (its value)")
    legend_below(fig, handles, labels, ncols=4)
    n_seeds = frame.groupby("activation").size().max() if not frame.empty else 0
    fig.suptitle(f"Test metrics over {n_seeds} seeds, one dot per trained model:\n"
                 "boxes that overlap mean the activations are hard to tell apart")
    return fig


@_styled
def loss_figure(result: StudyResult) -> Figure:
    """Training (solid) and validation (dashed) loss per epoch, one panel per activation:
    median over seeds with the 10-90% band, log scale; diverged runs are left out."""
    acts = _activations(result)
    colors = _colors(result)
    ncols = min(3, max(1, len(acts)))
    nrows = -(-len(acts) // ncols)
    fig = Figure(figsize=(WIDTH, 0.7 + 2.7 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    for ax, act in zip(axes, acts, strict=False):
        runs = [r for r in result.runs if r.activation == act and not r.diverged]
        c = colors[act]
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        for attr, ls, label in (("loss", "-", "training"), ("val_loss", "--", "validation")):
            curves = [np.asarray(getattr(r, attr), dtype=float) for r in runs]
            curves = [cv for cv in curves if cv.size and np.isfinite(cv).any()]
            if not curves:
                continue
            width = max(cv.size for cv in curves)
            rows = np.full((len(curves), width), np.nan)
            for i, cv in enumerate(curves):
                rows[i, : cv.size] = cv
            rows[rows <= 0] = np.nan  # a log axis cannot show zero loss
            med, lo, hi = _band(rows)
            epochs = np.arange(1, width + 1)
            ax.fill_between(epochs, lo, hi, color=c, alpha=0.18 if ls == "-" else 0.1, lw=0)
            ax.plot(epochs, med, color=c, ls=ls, lw=1.6, label=label)
        n_div = sum(r.diverged for r in result.runs if r.activation == act)
        note = f" ({n_div} diverged, not shown)" if n_div else ""
        ax.set_title(plain(act), color=c, loc="left")
        if note:
            ax.set_title(note.strip(" ()"), loc="right", fontsize=9, color="#b00020",
                         fontweight="normal")
        ax.set_xlabel("epoch")
        if not runs:
            ax.text(0.5, 0.5, "every run diverged", transform=ax.transAxes, ha="center",
                    color="#b00020")
    for ax in axes[len(acts):]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(_LOSS_LABEL.get(result.task, "loss (log)"))
    fig.legend(handles=[Line2D([], [], color="#555555", ls="-", label="training loss"),
                        Line2D([], [], color="#555555", ls="--", label="validation loss"),
                        Patch(color="#888888", alpha=0.3, label="10–90% of seeds")],
               loc="outside lower center", ncols=3)
    fig.suptitle("Loss per epoch, median over seeds: a validation curve that rises\n"
                 "while the training curve keeps falling means overfitting")
    return fig


@_styled
def dead_units_figure(result: StudyResult) -> Figure | None:
    """The share of dead hidden units (output exactly 0 on every training sample): per
    epoch, median over seeds with the 10-90% band, for each activation that had any; and
    per seed at the epoch whose weights were kept. ``None`` when the runs do not carry
    ``epoch_stats["dead_fraction"]`` or no unit ever died (the report says so in words)."""
    diagnostics = diagnostics_of(result)
    if not diagnostics.any_dead:
        return None
    acts = _activations(result)
    colors = _colors(result)
    fig = Figure(figsize=(WIDTH, 1.6 + max(2.2, 0.3 * len(acts))), layout="constrained")
    ax_t, ax_k = fig.subplots(1, 2, width_ratios=(1.6, 1))
    never, kept = [], {}
    for act in acts:
        rows = dead_curves(result.runs, act)
        if rows is None or act not in diagnostics.dead_units:
            continue
        shares = np.array(list(diagnostics.dead_share.get(act, {}).values()), dtype=float)
        kept[act] = shares[np.isfinite(shares)]
        if not diagnostics.dead_units[act].ever_dead:
            never.append(act)
            continue
        med, lo, hi = _band(rows)
        epochs = np.arange(1, rows.shape[1] + 1)
        ax_t.fill_between(epochs, lo, hi, color=colors[act], alpha=0.15, lw=0,
                          step="mid")
        ax_t.plot(epochs, med, color=colors[act], lw=1.8, drawstyle="steps-mid",
                  label=plain(act))
    ax_t.set_ylim(-0.03, 1.03)
    ax_t.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax_t.set_xlabel("epoch")
    ax_t.set_ylabel("dead hidden units")
    ax_t.set_title("per epoch: median over seeds, 10–90% band", loc="left", fontsize=10)
    ax_t.legend(loc="upper left")
    if never:
        ax_t.text(0.99, 0.97, "never a dead unit:\n" + ", ".join(plain(a) for a in never),
                  transform=ax_t.transAxes, ha="right", va="top", fontsize=8.5,
                  color="#555555")
    rng = np.random.default_rng(0)
    names = list(kept)
    for i, act in enumerate(names):
        vals = kept[act]
        ax_k.scatter(vals, i + rng.uniform(-0.15, 0.15, vals.size), s=22,
                     color=colors[act], alpha=0.85, edgecolor="white", linewidth=0.4,
                     zorder=3)
    ax_k.set_yticks(range(len(names)), [plain(a) for a in names])
    for tick, act in zip(ax_k.get_yticklabels(), names, strict=True):
        tick.set_color(colors[act])
    ax_k.set_ylim(len(names) - 0.5, -0.5)
    ax_k.set_xlim(-0.05, 1.05)
    ax_k.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax_k.grid(axis="y", visible=False)
    ax_k.set_xlabel("dead hidden units")
    ax_k.set_title("per seed, at the kept epoch", loc="left", fontsize=10)
    units = result.config.units * max(1, result.config.layers)
    if result.task == "forecast":
        fig.suptitle(f"Dead hidden units (of {units}): a unit whose output is 0 on every "
                     "training\nsample gets no gradient and stays dead; with all dead the "
                     "forecast is flat")
    else:  # a user's model: its units are counted per site in the table beside
        fig.suptitle("Dead units: a unit whose output is 0 on every training sample\n"
                     "gets no gradient and stays dead")
    return fig


def _curves(names: Sequence[str], x: np.ndarray) -> tuple[dict, list[str]]:
    """(name -> (value, derivative, legend label)) for the activations that resolve, and
    those that don't."""
    try:
        from relulab import activations as registry
    except Exception:  # the family is optional for a report: show what can be shown
        return {}, list(names)
    found, missing = {}, []
    for name in names:
        try:
            act = registry.get(name)
            y, dy = np.asarray(act(x), dtype=float), np.asarray(act.grad(x), dtype=float)
        except Exception:
            missing.append(name)
            continue
        if y.shape != x.shape or dy.shape != x.shape:
            missing.append(name)
            continue
        # A learnable parameter (PReLU's slope) is drawn at its starting value.
        label = f"{name} (at init)" if getattr(act, "learnable", ()) else name
        found[name] = (y, dy, label)
    return found, missing


@_styled
def activation_figure(result: StudyResult, lim: float = 4.0) -> Figure | None:
    """The activation functions of the study and their derivatives on ``[-lim, lim]``.

    Activations whose name :func:`relulab.activations.get` cannot resolve are skipped and
    listed under the figure; returns ``None`` when none can be drawn.
    """
    acts = _activations(result)
    colors = _colors(result)
    x = np.linspace(-lim, lim, 801)
    found, missing = _curves(acts, x)
    if not found:
        return None
    fig = Figure(figsize=(WIDTH, 3.6), layout="constrained")
    ax_f, ax_d = fig.subplots(1, 2)
    for i, (name, (y, dy, label)) in enumerate(found.items()):
        # Earlier curves are drawn wider so that a later one lying on top (relu under
        # leaky_relu for x > 0) still shows at its edges.
        lw = max(1.4, 3.4 - 0.6 * i)
        ax_f.plot(x, y, color=colors[name], lw=lw, label=plain(label))
        ax_d.plot(x, dy, color=colors[name], lw=lw)
    for ax, title in ((ax_f, "value A(x)"), (ax_d, "derivative A′(x)")):
        ax.axhline(0, color="#888888", lw=0.8, zorder=0)
        ax.axvline(0, color="#888888", lw=0.8, zorder=0)
        ax.set_title(title)
        ax.set_xlabel("x (pre-activation)")
        ax.set_xlim(-lim, lim)
    y_all = np.concatenate([y for y, _, _ in found.values()])
    ax_f.set_ylim(max(-lim, np.nanmin(y_all)) - 0.3, min(lim, np.nanmax(y_all)) + 0.3)
    ax_f.legend(loc="upper left")
    if missing:
        fig.text(0.5, 0.0, "not drawn (name not in relulab.activations): "
                 + ", ".join(plain(m) for m in missing), ha="center", va="bottom",
                 fontsize=9, color="#777777")
    fig.suptitle("The activations compared: where the derivative is 0 a unit stops\n"
                 "learning; where the value saturates its output flattens")
    return fig


SITE_STYLES = ("-", "--", ":", "-.")  # one line style per activation site, in model order


@_styled
def unit_health_figure(result: StudyResult) -> Figure | None:
    """Dead and dormant units at every activation site, and when units died.

    One row per activation whose runs track units (``epoch_stats["dead_share:SITE"]``):
    left, the share of each site's units dead (thick) and dormant (thin), per epoch, median
    over the converged seeds; right, a raster of death epochs: one dot per unit and seed
    that died, at the first epoch it was found dead, hollow when it came back later.
    ``None`` when no run tracks units."""
    diagnostics = diagnostics_of(result)
    acts = [a for a in _activations(result) if diagnostics.sites.get(a)]
    if not acts:
        return None
    colors = _colors(result)
    fig = Figure(figsize=(WIDTH, 0.9 + 2.0 * len(acts)), layout="constrained")
    axes = fig.subplots(len(acts), 2, squeeze=False, width_ratios=(1.5, 1), sharex=True)
    epochs_seen = 1
    for (ax_s, ax_r), act in zip(axes, acts, strict=True):
        color = colors[act]
        sites = [h.site for h in diagnostics.sites[act]]
        for site, style in zip(sites, SITE_STYLES * 4, strict=False):
            for kind, lw, alpha in (("dead", 2.0, 1.0), ("dormant", 1.0, 0.6)):
                rows = site_curves(result.runs, act, site, kind)
                if rows is None:
                    continue
                med, _, _ = _band(rows)
                epochs_seen = max(epochs_seen, med.size)
                ax_s.plot(np.arange(1, med.size + 1), med, color=color, ls=style, lw=lw,
                          alpha=alpha, drawstyle="steps-mid")
        ax_s.set_ylim(-0.03, 1.03)
        ax_s.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        ax_s.set_ylabel("units", fontsize=9)
        ax_s.set_title(plain(act), loc="left", color=color)
        runs = [r for r in result.runs if r.activation == act and not r.diverged]
        row = 0
        ticks = []
        deaths = 0
        for site in sites:
            start = row
            for r in runs:
                death = np.asarray(r.unit_stats.get(f"death_epoch:{site}", []), dtype=int)
                back = np.asarray(r.unit_stats.get(f"came_back:{site}", []), dtype=bool)
                for unit, (e, b) in enumerate(zip(death, back, strict=False)):
                    if e >= 0:
                        deaths += 1
                        ax_r.scatter(e + 1, row + unit, s=14, color=color if not b else "white",
                                     edgecolor=color, linewidth=0.8, zorder=3)
                row += max(death.size, 1)
            ticks.append(((start + row - 1) / 2, site))
            ax_r.axhline(row - 0.5, color="#cccccc", lw=0.6)
        if not deaths:
            ax_r.text(0.5, 0.5, "no unit died", transform=ax_r.transAxes, ha="center",
                      va="center", color="#777777", fontsize=9)
        ax_r.set_yticks([t for t, _ in ticks], [plain(n) for _, n in ticks], fontsize=8)
        ax_r.set_ylim(row - 0.5, -0.5)
        ax_r.grid(axis="y", visible=False)
        ax_r.set_title("death epochs (unit × seed)", loc="left", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    axes[-1][1].set_xlim(0, epochs_seen + 1)
    handles = [Line2D([], [], color="#555555", lw=2.0, label="dead"),
               Line2D([], [], color="#555555", lw=1.0, alpha=0.6, label="dormant"),
               *[Line2D([], [], color="#555555", ls=st, label=plain(h.site))
                 for h, st in zip(diagnostics.sites[acts[0]], SITE_STYLES, strict=False)],
               Line2D([], [], ls="", marker="o", color="#555555", label="died"),
               Line2D([], [], ls="", marker="o", markerfacecolor="white",
                      color="#555555", label="died, came back")]
    legend_below(fig, handles, [h.get_label() for h in handles], ncols=6, fontsize=8.5)
    fig.suptitle("Dead and dormant units at each place the activation is applied: median\n"
                 "over seeds per epoch (left), and the epoch each unit died (right)")
    return fig


FIGURES: dict[str, Callable[[StudyResult], Figure | None]] = {
    "series": series_figure,
    "forecasts": forecast_figure,
    "horizon": horizon_figure,
    "metrics": metrics_figure,
    "losses": loss_figure,
    "dead_units": dead_units_figure,
    "unit_health": unit_health_figure,
    "activations": activation_figure,
}


def all_figures(result: StudyResult) -> dict[str, Figure]:
    """Every figure by name (the keys of :data:`FIGURES`), leaving out those that are empty."""
    out = {}
    for name, build in FIGURES.items():
        fig = build(result)
        if fig is not None:
            out[name] = fig
    return out


def png_bytes(fig: Figure, dpi: int = 144) -> bytes:
    """The figure as PNG bytes (no metadata: the file should not name a web address)."""
    import io

    buf = io.BytesIO()
    with quiet_glyphs():
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def save_figures(result: StudyResult, directory: str | Path, dpi: int = 144) -> list[Path]:
    """Write every figure as ``DIRECTORY/<name>.png`` and return the paths written."""
    return write_pngs(all_figures(result), directory, dpi)


def write_pngs(figures: dict[str, Figure], directory: str | Path, dpi: int = 144
               ) -> list[Path]:
    """Write each of ``figures`` as ``DIRECTORY/<name>.png``; the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        path.write_bytes(png_bytes(fig, dpi=dpi))
        paths.append(path)
    return paths
