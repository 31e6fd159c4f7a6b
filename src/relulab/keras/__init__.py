"""``relulab.keras``: relulab for your own Keras 3 models.

- :mod:`relulab.keras.callback`: :class:`DeadUnitCallback`, which finds dead and dormant
  units in a model while ``model.fit`` trains it, and the pieces it is made of
  (:func:`build_probe`, :func:`abs_sums`, :func:`unit_activity`, :func:`batches`).
- :mod:`relulab.keras.engine_keras`: :class:`KerasEngine`, which trains your model for
  every activation over paired seeds (a :class:`relulab.tasks.Engine`), recording losses,
  early stopping, divergence and dead units per layer.
- :mod:`relulab.keras.study_keras`: :func:`study`, the activations of your model compared
  over seeds on your data, stored and reported (``relulab.torch.study``'s twin).

Importing this package imports Keras (seconds), so ``import relulab`` does not; Keras picks
its backend (JAX, PyTorch, TensorFlow) from ``KERAS_BACKEND`` as usual. Without Keras, or
without its backend, the import fails with one line (:class:`KerasImportError`).
"""

from __future__ import annotations

from relulab.keras.callback import (
    COLUMNS,
    DEFAULT_BATCH_SIZE,
    DeadUnitCallback,
    DeadUnitWarning,
    KerasImportError,
    UnitActivity,
    abs_sums,
    activation_name,
    batches,
    build_probe,
    is_monitored,
    probe_of,
    unit_activity,
)
from relulab.keras.engine_keras import KerasEngine, batch_order, site_names
from relulab.keras.study_keras import study

__all__ = [
    "COLUMNS",
    "DEFAULT_BATCH_SIZE",
    "DeadUnitCallback",
    "DeadUnitWarning",
    "KerasEngine",
    "KerasImportError",
    "UnitActivity",
    "abs_sums",
    "activation_name",
    "batch_order",
    "batches",
    "build_probe",
    "is_monitored",
    "probe_of",
    "site_names",
    "study",
    "unit_activity",
]
