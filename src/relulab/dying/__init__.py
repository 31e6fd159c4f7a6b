"""Dying ReLU: networks whose ReLU units output 0 on every input, and how initialisation
makes them so.

- :mod:`relulab.dying.born_dead`: the probability that a ReLU network is dead before
  training starts, by width, depth and initialiser (pure numbers, one compiled program per
  width);
- :mod:`relulab.dying.experiment`: the cause-and-cure experiment (``relulab diagnose``):
  dead and dormant units and test error over a grid of depth, width, learning rate,
  initialiser and activation;
- :mod:`relulab.dying_figures`: their figures.

Units that die *during* training are a study's diagnostic (:mod:`relulab.diagnostics`).
The CLI's ``relulab diagnose born-dead`` and :mod:`relulab.report.born_dead_page` format these.
"""

from relulab.dying.born_dead import (
    DEFAULT_DEPTHS,
    DEFAULT_INITS,
    DEFAULT_WIDTHS,
    BornDead,
    BornDeadSpec,
    Cell,
    estimate_born_dead,
    interval,
    single_input_born_dead,
    width_one_born_dead,
)

__all__ = [
    "DEFAULT_DEPTHS",
    "DEFAULT_INITS",
    "DEFAULT_WIDTHS",
    "BornDead",
    "BornDeadSpec",
    "Cell",
    "estimate_born_dead",
    "interval",
    "single_input_born_dead",
    "width_one_born_dead",
]
