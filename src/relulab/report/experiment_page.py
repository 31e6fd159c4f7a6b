"""The cause-and-cure page: one self-contained HTML page of a
:class:`~relulab.dying.experiment.Experiment` (``relulab diagnose --report``).

Formatting only: the cells and the findings come from :mod:`relulab.dying.experiment`; the
heatmap from :mod:`relulab.dying_figures`. Embedded PNG, inline CSS, autoescaped values.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

from relulab import __version__, display
from relulab.diagnostics import DORMANT_THRESHOLD
from relulab.dying.experiment import Experiment, verdicts

__all__ = ["command", "experiment_context", "render_experiment", "write_experiment"]

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("relulab.report", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)


def command(experiment: Experiment) -> str:
    """The command line that reproduces ``experiment`` (on the default series)."""
    s = experiment.spec

    def joined(values: Any) -> str:
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)

    return (f"relulab diagnose --depths {joined(s.depths)} --widths {joined(s.widths)} "
            f"--learning-rates {joined(s.learning_rates)} --inits {joined(s.inits)} "
            f"--activations {joined(s.activations)} --seeds {s.seeds} --epochs {s.epochs}")


def experiment_context(experiment: Experiment) -> dict[str, Any]:
    from relulab.dying_figures import experiment_figure
    from relulab.figures import png_bytes

    png = png_bytes(experiment_figure(experiment))
    rows = []
    for c in sorted(experiment.cells, key=lambda c: -c.dead_share if c.seeds else 1.0):
        rows.append({
            "activation": c.activation, "depth": c.depth, "width": c.width,
            "learning_rate": f"{c.learning_rate:g}", "init": c.init,
            "seeds": f"{c.seeds}" + (f" ({c.diverged} diverged)" if c.diverged else ""),
            "dead": display.percent(c.dead_share), "hot": c.dead_share >= 0.5,
            "dead_ci": display.interval(c.dead_low, c.dead_high, display.percent),
            "dormant": display.percent(c.dormant_share),
            "dormant_ci": display.interval(c.dormant_low, c.dormant_high, display.percent),
            "rmse": display.number(c.rmse),
            "rmse_ci": display.interval(c.rmse_low, c.rmse_high),
        })
    spec = experiment.spec
    return {
        "spec": spec, "series": experiment.series_name, "version": __version__,
        "figure": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "findings": verdicts(experiment), "rows": rows,
        "learning_rates": ", ".join(f"{v:g}" for v in spec.learning_rates),
        "threshold": f"{DORMANT_THRESHOLD:g}",
        "confidence": display.percent(spec.confidence),
        "wall": display.seconds(experiment.seconds), "command": command(experiment),
    }


def render_experiment(experiment: Experiment) -> str:
    """The page as a self-contained HTML document."""
    return _ENV.get_template("experiment.html.j2").render(**experiment_context(experiment))


def write_experiment(experiment: Experiment, path: str | Path) -> Path:
    """Render the page and write it to ``path`` (parent folders are created)."""
    from relulab.report import write_page

    return write_page(render_experiment(experiment), path, "--report")
