"""The figure of a born-dead estimate (:class:`relulab.dying.born_dead.BornDead`): a pure
function returning a matplotlib ``Figure`` in the study figures' style (no pyplot)."""

from __future__ import annotations

import math

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from relulab.dying.born_dead import BornDead, single_input_born_dead, width_one_born_dead
from relulab.figures import PALETTE, STYLE, WIDTH, plain
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
                        lw=1.2, ls=(0, (4, 2)), label="exact, width 1: 1 − 2^(1−L)")
            elif symmetric:
                ax.plot(grid, [single_input_born_dead(width, d) for d in grid],
                        color=THEORY_COLOR, lw=1.0, ls=(0, (1, 1.5)),
                        label="one input point: 1 − (1 − 2^−N)^L")
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
        fig.legend(list(handles.values()), list(handles), loc="outside lower center",
                   ncols=min(5, len(handles)))
        fig.suptitle(f"ReLU networks born dead at initialisation ({spec.networks:,} per "
                     f"point, {spec.confidence:.0%} band)")
    return fig
