"""The study engine: many seeds × several activations, trained, scored, compared.

- :mod:`~relulab.study.plan`: the pure list of work units (series, activation, fold);
- :mod:`~relulab.study.work`: what a unit does (train, forecast, score; the baselines);
- :mod:`~relulab.study.executor`: where units run (:class:`InProcessExecutor`);
- :mod:`~relulab.study.analysis`: runs in, :class:`~relulab.result.StudyResult` out (pure);
- :mod:`~relulab.study.runner`: :class:`Study`, which ties them to the results store;
- :mod:`~relulab.study.outputs`: :func:`run_study`, a study with the files a user asked for.
"""

from relulab.config import StudyConfig
from relulab.study.executor import Executor, InProcessExecutor
from relulab.study.outputs import Outputs, run_study, write_outputs
from relulab.study.plan import GroupKey, Plan, WorkUnit, make_plan
from relulab.study.runner import Study, resolve_series

__all__ = [
    "Executor",
    "GroupKey",
    "InProcessExecutor",
    "Outputs",
    "Plan",
    "Study",
    "StudyConfig",
    "WorkUnit",
    "make_plan",
    "resolve_series",
    "run_study",
    "write_outputs",
]
