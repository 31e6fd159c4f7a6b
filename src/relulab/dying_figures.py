"""The figure of a born-dead estimate (:class:`relulab.dying.born_dead.BornDead`): a pure
function returning a matplotlib ``Figure`` in the study figures' style (no pyplot)."""

from __future__ import annotations

import math

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from relulab.dying.born_dead import BornDead, single_input_born_dead, width_one_born_dead
from relulab.figures import PALETTE, STYLE, WIDTH, legend_below, plain
from relulab.models import initializers

THEORY_COLOR = "#6b6b6b"
# Initialisers that differ only in scale give the same curve (the module of
# relulab.dying.born_dead says why): a dash pattern each keeps coinciding lines apart.
LINESTYLES = ("-", (0, (5, 2.5)), (0, (1.2, 1.8)), (0, (6, 2, 1.2, 2)))


def init_colors(inits: tuple[str, ...]) -> dict[str, str]:
    """One colour per initialiser, in the order given (the report's swatches use them)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(inits)}


def born_dead_figure(result: BornDead) -> Figure:
    """Born-dead share against depth, one panel per width, one line per initialiser with its
    confidence band; in grey the closed form where there is one (width 1 with one input
    feature: :math:`1 - 2^{1-L}`) or else the one-input-point upper bound
    :math:`1 - (1 - 2^{-N})^L` of the symmetric initialisers."""
    spec = result.spec
    widths = sorted(spec.widths)
    depths = np.array(sorted(spec.depths))
    colors = init_colors(spec.inits)
    styles = {n: LINESTYLES[i % len(LINESTYLES)] for i, n in enumerate(spec.inits)}
    symmetric = any(initializers.get(name).symmetric for name in spec.inits)
    cols = min(len(widths), 4)
    rows = math.ceil(len(widths) / cols)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 0.9 + 2.6 * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True,
                                          squeeze=False)).ravel()
        for ax, width in zip(axes, widths, strict=False):
            for name in spec.inits:
                curve = result.curve(width, name)
                x = np.array([c.depth for c in curve])
                ax.fill_between(x, [c.low for c in curve], [c.high for c in curve],
                                color=colors[name], alpha=0.18, lw=0)
                ax.plot(x, [c.born_dead for c in curve], color=colors[name], lw=1.8,
                        ls=styles[name], marker="o" if len(x) <= 12 else None, ms=3.5,
                        label=plain(name))
            grid = np.arange(1, depths.max() + 1)
            if symmetric and width == 1 and spec.input_dim == 1:
                ax.plot(grid, [width_one_born_dead(d) for d in grid], color=THEORY_COLOR,
                        lw=1.2, ls=(0, (4, 2)), label=r"exact, width 1: $1 - 2^{1-L}$")
            elif symmetric:
                ax.plot(grid, [single_input_born_dead(width, d) for d in grid],
                        color=THEORY_COLOR, lw=1.0, ls=(0, (1, 1.5)),
                        label=r"one input point: $1 - (1 - 2^{-N})^{L}$")
            ax.set_title(f"width {width}", loc="left", fontsize=10)
            ax.set_ylim(-0.02, 1.02)
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        for ax in axes[len(widths):]:
            ax.set_visible(False)
        for ax in axes[::cols]:
            ax.set_ylabel("born dead")
        for ax in axes[(rows - 1) * cols:]:
            ax.set_xlabel("depth (hidden layers)")
        handles: dict = {}
        for ax in axes[:len(widths)]:  # each label once (the grey line may vary by panel)
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        legend_below(fig, list(handles.values()), list(handles), ncols=5)
        fig.suptitle(f"ReLU networks born dead at initialisation ({spec.networks:,} per "
                     f"point, {spec.confidence:.0%} band)")
    return fig


def experiment_figure(experiment) -> Figure:
    """Heatmaps of the cause-and-cure experiment
    (:class:`relulab.dying.experiment.Experiment`): per width and initialiser, the median
    share of hidden units dead at the kept epoch, activations as rows, depth × learning
    rate as columns, each cell labelled; the dormant share (never exactly 0, nearly silent)
    in small type below it."""
    spec = experiment.spec
    panels = [(w, i) for w in spec.widths for i in spec.inits]
    columns = [(d, lr) for d in spec.depths for lr in spec.learning_rates]
    acts = list(spec.activations)
    # Wide grids stack their panels, so every cell keeps room for its label.
    ncols = 1 if len(columns) > 6 else min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 1.2 + nrows * (0.42 * len(acts) + 1.3)),
                     layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
        image = None
        for ax, (width, init) in zip(axes, panels, strict=False):
            dead = np.full((len(acts), len(columns)), np.nan)
            dormant = np.full_like(dead, np.nan)
            for c in experiment.cells:
                if c.width != width or c.init != init or c.activation not in acts:
                    continue
                col = next(k for k, (d, lr) in enumerate(columns)
                           if d == c.depth and math.isclose(lr, c.learning_rate))
                dead[acts.index(c.activation), col] = c.dead_share
                dormant[acts.index(c.activation), col] = c.dormant_share
            image = ax.imshow(dead, vmin=0, vmax=1, cmap="Reds", aspect="auto")
            for (r, k), v in np.ndenumerate(dead):
                if not np.isfinite(v):
                    continue
                ink = "white" if v > 0.55 else "#1a1a1a"
                ax.text(k, r - 0.08, f"{100 * v:.0f}", ha="center", va="center", fontsize=8,
                        color=ink, fontweight="bold")
                if np.isfinite(dormant[r, k]):
                    ax.text(k, r + 0.3, f"{100 * dormant[r, k]:.0f}", ha="center",
                            va="center", fontsize=6, color=ink)
            ax.set_yticks(range(len(acts)), [plain(a) for a in acts])
            ax.set_xticks(range(len(columns)),
                          [f"{lr:g}" for _, lr in columns], fontsize=7.5, rotation=90)
            for k in range(len(spec.learning_rates), len(columns), len(spec.learning_rates)):
                ax.axvline(k - 0.5, color="white", lw=2.5)
            secondary = ax.secondary_xaxis("top")
            n = len(spec.learning_rates)
            secondary.set_xticks([n * j + (n - 1) / 2 for j in range(len(spec.depths))],
                                 [f"depth {d}" for d in spec.depths], fontsize=8)
            secondary.tick_params(length=0)
            ax.set_xlabel("learning rate", fontsize=8.5)
            ax.grid(False)
            ax.set_title(f"{plain(init)}, width {width}", loc="left", fontsize=10)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        if image is not None:
            bar = fig.colorbar(image, ax=axes[: len(panels)].tolist(), shrink=0.8,
                               format=PercentFormatter(xmax=1.0, decimals=0))
            bar.set_label("hidden units dead at the kept epoch (median over seeds)")
        fig.suptitle("Dead units by activation, depth, learning rate and initialiser (% dead;"
                     "\nsmall: % dormant, nearly silent but not exactly 0)")
    return fig
