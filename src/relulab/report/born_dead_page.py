"""The born-dead report: one self-contained HTML page of a
:class:`~relulab.dying.born_dead.BornDead` estimate.

Like the study report: the figure is embedded as a base64 PNG, the CSS is inline, nothing
outside the page is loaded, and every value passes through Jinja2's autoescaping.
:func:`born_dead_context` formats (no numbers are computed here beyond picking cells to
quote), :func:`render_born_dead` is pure, :func:`write_born_dead` writes the file.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

from relulab import __version__, display
from relulab.dying.born_dead import INTERVAL_METHOD, BornDead, Cell
from relulab.models import initializers

__all__ = ["born_dead_context", "command", "findings", "render_born_dead", "share",
           "write_born_dead"]

TEMPLATE = "born_dead.html.j2"

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("relulab.report", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)


def share(v: float) -> str:
    """A share as a percentage with one decimal, never rounded onto 0% or 100%: those mean
    none or every network, so a share between shows as <0.1% or >99.9%."""
    if 0 < v < 0.0005:
        return "<0.1%"
    if 0.9995 <= v < 1:
        return ">99.9%"
    return "0%" if v == 0 else "100%" if v == 1 else display.percent(v, 1)


def _share(cell: Cell) -> str:
    return share(cell.born_dead)


def _interval(cell: Cell) -> str:
    return display.interval(cell.low, cell.high, share)


def findings(result: BornDead) -> list[str]:
    """What the estimate shows, in sentences: each initialiser's share from the shallowest
    to the deepest depth at the narrowest and the widest width; whether the asymmetric
    initialisers flatten the symmetric ones' curve (and whether they die more at the
    shallowest depth); and why symmetric initialisers coincide."""
    spec = result.spec
    shallow, deep = min(spec.depths), max(spec.depths)
    out = []
    span = f"depth {shallow} → {deep}" if deep > shallow else f"depth {deep}"
    for width in sorted({min(spec.widths), max(spec.widths)}):
        parts = []
        for name in spec.inits:
            first, last = result.cell(width, shallow, name), result.cell(width, deep, name)
            start = f"{_share(first)} → " if deep > shallow else ""
            parts.append(f"{name} {start}{_share(last)} {_interval(last)}")
        out.append(f"Width {width}, {span}: " + "; ".join(parts) + ".")
    symmetric = [n for n in spec.inits if initializers.get(n).symmetric]
    asymmetric = [n for n in spec.inits if not initializers.get(n).symmetric]
    narrow = min(spec.widths)
    if symmetric and asymmetric and deep > shallow:
        worst = max(result.cell(narrow, deep, n).born_dead for n in symmetric)
        best = min(result.cell(narrow, deep, n).born_dead for n in asymmetric)
        verb = "flattens" if best < worst else "does not flatten"
        out.append(f"With symmetric initialisers the share rises towards 1 with depth, as "
                   f"Lu et al. prove it must; {', '.join(asymmetric)} {verb} the curve "
                   f"(width {narrow}, depth {deep}: {share(best)} against "
                   f"{share(worst)}).")
        shallow_sym = max(result.cell(narrow, shallow, n).born_dead for n in symmetric)
        for name in asymmetric:
            cell = result.cell(narrow, shallow, name)
            if cell.low > shallow_sym:
                out.append(f"At depth {shallow} {name} is born dead more often than the "
                           f"symmetric initialisers (width {narrow}: {_share(cell)} against "
                           f"{share(shallow_sym)}): its random biases can hold a layer below "
                           "zero on the whole bounded sample; a zero-bias first layer rarely "
                           "is (with one input feature, never).")
    if len(symmetric) > 1:
        out.append("With zero biases only the signs of the weights decide which units are "
                   "dead (ReLU is positively homogeneous), so symmetric initialisers that "
                   "differ only in scale give the same networks from the same random words; "
                   "their curves differ only through the shape of the distribution.")
    return out


def born_dead_context(result: BornDead) -> dict[str, Any]:
    """The page's values, formatted."""
    from relulab.dying_figures import born_dead_figure, init_colors
    from relulab.figures import png_bytes

    spec = result.spec
    widths = sorted(spec.widths)
    png = png_bytes(born_dead_figure(result))
    # One table per width, side by side as the page's width allows: a single table of
    # every width and initialiser is wider than the page.
    tables = [{"width": width, "rows": [
        {"depth": depth, "cells": [{"share": _share(c), "interval": _interval(c)}
                                   for c in (result.cell(width, depth, n) for n in spec.inits)]}
        for depth in sorted(spec.depths)]} for width in widths]
    colors = init_colors(spec.inits)
    return {
        "spec": spec,
        "version": __version__,
        "figure": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "findings": findings(result),
        "widths": widths,
        "inits": [{"name": n, "color": colors[n],
                   "symmetric": initializers.get(n).symmetric} for n in spec.inits],
        "tables": tables,
        "confidence": display.percent(spec.confidence),
        "interval_method": INTERVAL_METHOD.capitalize(),
        "wall": display.seconds(result.timing.get("wall_s")),
        "depth_range": f"{min(spec.depths)}–{max(spec.depths)}",
        "command": command(result),
    }


def ranges(values: tuple[int, ...]) -> str:
    """Integers as the CLI reads them: runs of consecutive values as ``a-b`` (1-5,8,10-12)."""
    values = sorted(values)
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def command(result: BornDead) -> str:
    """The command line that reproduces ``result``."""
    spec = result.spec
    return (f"relulab diagnose born-dead --widths {ranges(spec.widths)} --depths "
            f"{ranges(spec.depths)} --inits {','.join(spec.inits)} --networks {spec.networks} "
            f"--input-dim {spec.input_dim} --inputs {spec.inputs} --seed {spec.seed} "
            f"--confidence {spec.confidence:g}")


def render_born_dead(result: BornDead) -> str:
    """The born-dead page as a self-contained HTML document."""
    return _ENV.get_template(TEMPLATE).render(**born_dead_context(result))


def write_born_dead(result: BornDead, path: str | Path) -> Path:
    """Render the page and write it to ``path`` (parent folders are created)."""
    from relulab.report import write_page

    return write_page(render_born_dead(result), path, "--report")
