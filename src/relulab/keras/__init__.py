"""``relulab.keras``: relulab for your own Keras 3 models.

- :mod:`relulab.keras.callback`: :class:`DeadUnitCallback`, which finds dead and dormant
  units in a model while ``model.fit`` trains it, and the pieces it is made of
  (:func:`build_probe`, :func:`abs_sums`, :func:`unit_activity`, :func:`batches`).

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
    unit_activity,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_BATCH_SIZE",
    "DeadUnitCallback",
    "DeadUnitWarning",
    "KerasImportError",
    "UnitActivity",
    "abs_sums",
    "activation_name",
    "batches",
    "build_probe",
    "is_monitored",
    "unit_activity",
]
