"""The study engine: many seeds × several activations, trained, scored, compared.

- :mod:`~relulab.study.plan`: the pure list of work units (series, activation, fold);
- :mod:`~relulab.study.trainer`: the seam between where work runs and how models train;
  :mod:`~relulab.study.jax_trainer`: relulab's own JAX forecasters behind it;
- :mod:`~relulab.study.executor`: where units run (:class:`InProcessExecutor`; Ray in
  :mod:`~relulab.study.ray_executor`);
- :mod:`~relulab.study.recorder`: the one writer of studies to a results store;
- :mod:`~relulab.study.pipeline`: the one pipeline, a plan of one series or many, run,
  stored, analysed and pooled;
- :mod:`~relulab.study.runner`: :class:`Study`, one series;
- :mod:`~relulab.study.adaptive`: ``--seeds auto``, batches of seeds until precise;
- :mod:`~relulab.study.outputs`: :func:`run_study` and :func:`run_panel_study`, a study
  with the files its user asked for;
- :mod:`~relulab.study.events`: what a running study tells a progress display.
"""

from relulab.config import StudyConfig
from relulab.study.executor import Executor, InProcessExecutor, get_executor
from relulab.study.outputs import (
    Outputs,
    run_panel,
    run_panel_comparison,
    run_panel_study,
    run_study,
    write_outputs,
)
from relulab.study.pipeline import PanelResult, SeriesSummary
from relulab.study.plan import GroupKey, Plan, WorkUnit, make_plan
from relulab.study.runner import Study, resolve_series

__all__ = [
    "Executor",
    "GroupKey",
    "InProcessExecutor",
    "Outputs",
    "PanelResult",
    "Plan",
    "SeriesSummary",
    "Study",
    "StudyConfig",
    "WorkUnit",
    "get_executor",
    "make_plan",
    "resolve_series",
    "run_panel",
    "run_panel_comparison",
    "run_panel_study",
    "run_study",
    "write_outputs",
]
