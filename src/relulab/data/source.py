"""Where a study's series comes from."""

from __future__ import annotations

from relulab.data.bundled import bundled
from relulab.data.datasets import load_dataset
from relulab.data.series import Series
from relulab.data.user import load_series


def load_source(source: str, *, column: str | None = None,
                date_column: str | None = None) -> Series:
    """A series from a source string, as :class:`relulab.config.StudyConfig.data` holds it.

    ``"bundled:NAME"`` (:func:`bundled`), ``"dataset:NAME"`` or ``"dataset:NAME:LOCAL_FILE"``
    (:func:`load_dataset`), anything else a CSV path (:func:`load_series`).
    """
    kind, _, rest = str(source).partition(":")
    if kind == "bundled" and rest:
        return bundled(rest)
    if kind == "dataset" and rest:
        name, _, local = rest.partition(":")
        return load_dataset(name, data=local or None)
    return load_series(source, column=column, date_column=date_column)
